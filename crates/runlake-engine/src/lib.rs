//! The runlake query engine: the one place that assembles a DataFusion session for
//! runlake. [`sql::Session`] is that session: runlake's configuration and options
//! ([`options`]), every function of `runlake-functions` (`register_all`), the physical
//! optimizer rules of this crate, the lake's tables and views, and the statements that
//! write through the lake's commit path.
//!
//! The two optimizer rules, each in its own module and each fenced by an option:
//! - [`ListScan`] (`listscan`, with the Parquet level decoder in `levels`): scans of
//!   list columns decoded page by page, `SET runlake.execution.list_scan = false` to use
//!   arrow-rs's reader instead;
//! - [`IntKeyAggregate`] (`groupby`): grouping by one integer key with runlake's
//!   accumulators, `SET runlake.execution.int_key_aggregate = false` to use DataFusion's;
//!   with many groups its input is repartitioned by the key first
//!   (`runlake.execution.int_key_split_groups`).

pub mod catalog;
pub mod cluster;
mod groupby;
mod levels;
mod listscan;
pub mod options;
pub mod snapshot;
pub mod sql;
pub mod types;

pub use crate::groupby::{IntKeyAggregate, IntKeyAggregateExec};
pub use crate::listscan::ListScan;
pub use crate::options::RunlakeOptions;
pub use crate::snapshot::SnapshotTable;
pub use crate::sql::{Session, SessionOptions};

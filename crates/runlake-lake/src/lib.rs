//! The runlake lake: one Delta Lake table per directory under a root on object storage
//! (a local folder by default, `memory://` for tests), with commits that are atomic per
//! table and idempotent per ingest key.
//!
//! Every append carries its ingest key as a Delta application transaction (`txn`) in the
//! same commit as its data: a reader sees all of an append's rows or none, and an append
//! whose key the table has already committed is skipped. Two writers racing with the same
//! key cannot both commit: Delta's conflict check rejects the second, which then finds the
//! key committed.

mod error;
mod files;
mod ingest;
mod layout;
mod location;
mod maintain;
mod runs;
mod stream;
mod views;
mod write;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, BooleanArray, Int64Array, RecordBatch, StringArray, new_null_array,
};
use datafusion::arrow::compute::{
    SortColumn, cast, filter_record_batch, interleave, lexsort_to_indices,
};
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::catalog::TableProvider;
use datafusion::parquet::basic::{Compression, Encoding, ZstdLevel};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;
use datafusion::prelude::SessionContext;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

pub use crate::error::{Error, Result, TypeConflict};
pub use crate::files::{ColumnBounds, FileStatistics, TableFiles};
pub use crate::ingest::{INGESTS, IngestOptions, IngestReport, REJECTS, TableReport};
pub use crate::layout::SORT_ORDER;
pub use crate::location::Location;
pub use crate::maintain::{CompactReport, TableInfo};
pub use crate::runs::{
    ALERTS, AlertRecord, REPORT_RUNS, REPORTS_DIR, ReportRun, empty_system_table,
};
pub use crate::views::VIEWS;

/// The SQL catalog and schema lake tables appear under.
pub const CATALOG: &str = "runlake";
pub const SCHEMA: &str = "public";

/// The key of one append: what makes re-running the same ingest a no-op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitKey {
    /// Identifies the source and target, e.g. `ingest:<sha256 of the content>`.
    pub app_id: String,
    /// Monotone per `app_id`; an append is skipped when the table has committed this
    /// version (or a later one) for the key.
    pub version: i64,
}

impl CommitKey {
    pub fn new(app_id: impl Into<String>) -> Self {
        Self {
            app_id: app_id.into(),
            version: 1,
        }
    }
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOutcome {
    /// The rows were committed as table version `version`.
    Committed { version: u64, rows: usize },
    /// The key was already committed; nothing was written.
    AlreadyCommitted,
}

/// A lake: the root under which every table is a Delta table directory.
#[derive(Clone)]
pub struct Lake {
    location: Location,
    storage_options: HashMap<String, String>,
    store: Arc<dyn ObjectStore>,
    /// Loaded table snapshots, shared by the clones of this lake, so a long-running
    /// process (the server) reads only what was committed since (see
    /// [`Lake::provider_at`]).
    snapshots: Arc<std::sync::Mutex<HashMap<String, Cached>>>,
    /// The live views as of a version of `_views` (see [`Lake::views`]).
    views_cache: Arc<std::sync::Mutex<Option<ViewsAt>>>,
    /// The per-file statistics of each table's files as last read (see
    /// [`Lake::files_at`]).
    file_stats: Arc<std::sync::Mutex<HashMap<String, FilesAndStats>>>,
}

type FilesAndStats = (Arc<Vec<(String, u64)>>, Arc<FileStatistics>);

type ViewsAt = (u64, Vec<(String, String)>);

/// A loaded table and the identity of its newest commit file, which tells whether the
/// table was dropped and re-created by another process since.
#[derive(Clone)]
struct Cached {
    table: DeltaTable,
    commit_etag: Option<String>,
}

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lake")
            .field("location", &self.location.to_string())
            .finish()
    }
}

impl Lake {
    /// Opens the lake at `location` (a path, `file://`, or `memory://`), creating a local
    /// root folder if needed.
    pub fn open(location: &str, storage_options: HashMap<String, String>) -> Result<Self> {
        let location = Location::parse(location)?;
        let store = location.object_store(&storage_options)?;
        Ok(Self {
            location,
            storage_options,
            store,
            snapshots: Arc::default(),
            views_cache: Arc::default(),
            file_stats: Arc::default(),
        })
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    fn table_url(&self, name: &str) -> Result<url::Url> {
        validate_table_name(name)?;
        self.location.child_url(name)
    }

    /// Removes and returns a secret an earlier version kept in the lake at
    /// `_runlake/NAME` (the key that signed the server's tokens): whoever can read the
    /// lake could read it, so it is moved out, never read in place.
    pub async fn take_secret(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let path = self.location.prefix().join("_runlake").join(name);
        let bytes = match self.store.get(&path).await {
            Ok(found) => found.bytes().await?.to_vec(),
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        self.store.delete(&path).await?;
        Ok(Some(bytes))
    }

    /// The lake's root folder, when the lake is a local folder.
    pub fn local_root(&self) -> Option<std::path::PathBuf> {
        match self.location.url().scheme() {
            "file" => self.location.url().to_file_path().ok(),
            _ => None,
        }
    }

    /// Table `name` at `version` (default: the latest), from the snapshot cache when it
    /// still describes the table: only commits newer than the cached one are read, and
    /// none at all when the commit after the cached one does not exist.
    pub(crate) async fn snapshot(&self, name: &str, version: Option<u64>) -> Result<DeltaTable> {
        let cached = self
            .snapshots
            .lock()
            .ok()
            .and_then(|c| c.get(name).cloned());
        let cached = match cached {
            Some(c)
                if c.commit_etag.is_some() && self.commit_etag(&c.table).await == c.commit_etag =>
            {
                Some(c.table)
            }
            _ => None,
        };
        let (table, changed) = match (cached, version) {
            (Some(mut table), None) => {
                let next = table.version().map_or(0, |v| v + 1);
                let newer = self.commit_exists(&table, next).await;
                if newer {
                    table.update_incremental(None).await?;
                }
                (table, newer)
            }
            (Some(mut table), Some(v)) => {
                let current = table.version().unwrap_or_default();
                if v > current {
                    table.update_incremental(Some(v)).await?;
                } else if v < current {
                    table.load_version(v).await?;
                }
                (table, false)
            }
            (None, None) => {
                let mut table = self.handle(name)?;
                table.load().await?;
                (table, true)
            }
            (None, Some(v)) => {
                let mut table = self.handle(name)?;
                table.load_version(v).await?;
                (table, false)
            }
        };
        if changed {
            let commit_etag = self.commit_etag(&table).await;
            if let Ok(mut cache) = self.snapshots.lock() {
                cache.insert(
                    name.to_string(),
                    Cached {
                        table: table.clone(),
                        commit_etag,
                    },
                );
            }
        }
        Ok(table)
    }

    /// The commit file of `version` of `table`.
    fn commit_path(&self, table: &DeltaTable, version: u64) -> Option<object_store::path::Path> {
        let name = table
            .table_url()
            .path()
            .trim_end_matches('/')
            .rsplit('/')
            .next()?
            .to_string();
        Some(
            self.location
                .prefix()
                .join(name.as_str())
                .join("_delta_log")
                .join(format!("{version:020}.json").as_str()),
        )
    }

    /// Whether `table` has a commit `version` (true when the store cannot tell, so the
    /// caller reads the log and meets the store's error there).
    async fn commit_exists(&self, table: &DeltaTable, version: u64) -> bool {
        let Some(path) = self.commit_path(table, version) else {
            return true;
        };
        !matches!(
            self.store.head(&path).await,
            Err(object_store::Error::NotFound { .. })
        )
    }

    /// The e-tag (or modification time) of the commit file of `table`'s loaded version.
    async fn commit_etag(&self, table: &DeltaTable) -> Option<String> {
        let path = self.commit_path(table, table.version()?)?;
        let meta = self.store.head(&path).await.ok()?;
        Some(meta.e_tag.unwrap_or_else(|| {
            format!(
                "{}:{}",
                meta.last_modified.timestamp_nanos_opt().unwrap_or(0),
                meta.size
            )
        }))
    }

    /// Table `name`'s folder when the lake is a local folder.
    fn local_dir(&self, name: &str) -> Result<Option<std::path::PathBuf>> {
        let url = self.table_url(name)?;
        Ok(match url.scheme() {
            "file" => url.to_file_path().ok(),
            _ => None,
        })
    }

    /// The names of the tables in the lake, sorted.
    pub async fn table_names(&self) -> Result<Vec<String>> {
        let listing = self
            .store
            .list_with_delimiter(Some(&self.location.prefix()))
            .await?;
        let mut names = Vec::new();
        for dir in listing.common_prefixes {
            let Some(name) = dir.filename().map(str::to_string) else {
                continue;
            };
            let log = dir.clone().join("_delta_log");
            let has_log = self.store.list(Some(&log)).try_next().await?.is_some();
            if has_log && validate_table_name(&name).is_ok() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Loads a table, or `None` when it does not exist.
    pub async fn table(&self, name: &str) -> Result<Option<DeltaTable>> {
        if !self.has_log(name).await? {
            return Ok(None);
        }
        let mut table = self.handle(name)?;
        match table.load().await {
            Ok(()) => Ok(Some(table)),
            Err(DeltaTableError::NotATable(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether table `name` has anything in its `_delta_log/` folder: one listing, which
    /// tells a missing table without asking Delta to load it (and log its failure).
    pub(crate) async fn has_log(&self, name: &str) -> Result<bool> {
        validate_table_name(name)?;
        let log = self.location.prefix().join(name).join("_delta_log");
        match self.store.list(Some(&log)).next().await {
            None => Ok(false),
            Some(Ok(_)) => Ok(true),
            Some(Err(object_store::Error::NotFound { .. })) => Ok(false),
            Some(Err(e)) => Err(e.into()),
        }
    }

    /// An unloaded handle on table `name`, sharing the lake's root store.
    fn handle(&self, name: &str) -> Result<DeltaTable> {
        let url = self.table_url(name)?;
        Ok(DeltaTableBuilder::from_url(url.clone())?
            .with_storage_options(self.storage_options.clone())
            .with_storage_backend(self.store.clone(), url)
            .build()?)
    }

    /// Table `name`, loaded if it exists, else a handle a first write creates.
    async fn table_or_empty(&self, name: &str) -> Result<DeltaTable> {
        if let Some(dir) = self.local_dir(name)? {
            std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
                what: format!("creating the table folder {}", dir.display()),
                source: e,
            })?;
        }
        let mut table = self.handle(name)?;
        match table.load().await {
            Ok(()) | Err(DeltaTableError::NotATable(_)) => Ok(table),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether `key` is already committed to table `name`.
    pub async fn is_committed(&self, name: &str, key: &CommitKey) -> Result<bool> {
        match self.table(name).await? {
            None => Ok(false),
            Some(table) => committed(&table, key).await,
        }
    }

    /// Appends `batches` to table `name` (created with their schema if missing) in one
    /// commit carrying `key`; a key already committed makes this a no-op. Rows are sorted
    /// by the table's sort order ([`Lake::set_sort_order`]), by default `keys` (the
    /// table's natural keys); with `dedupe`, rows whose keys the table
    /// already holds are left out, and concurrent writers to the table are serialised by
    /// Delta's conflict check so none can slip a duplicate in between. New columns are
    /// added to the table's schema (NULL for earlier rows); a column whose type differs
    /// from the table's is an error naming the column and the first line holding it, and
    /// nothing is committed.
    pub async fn append(
        &self,
        name: &str,
        batches: Vec<RecordBatch>,
        key: &CommitKey,
        keys: &[&str],
        dedupe: bool,
    ) -> Result<AppendOutcome> {
        let mut last_error = None;
        for _attempt in 0..MAX_COMMIT_ATTEMPTS {
            let table = self.table_or_empty(name).await?;
            let version = table.version();
            if version.is_some() && committed(&table, key).await? {
                return Ok(AppendOutcome::AlreadyCommitted);
            }
            let existing = match version {
                Some(_) => Some(table.snapshot()?.snapshot().arrow_schema()),
                None => None,
            };
            let mut parts = aligned(name, &batches)?;
            if let Some(schema) = &existing {
                parts = parts
                    .into_iter()
                    .map(|b| conform(name, b, schema))
                    .collect::<Result<_>>()?;
            }
            // Rows are written in the table's sort order: the one set on it, or else its
            // natural keys.
            let order = layout::sort_order_of(&table);
            let sort_by: Vec<&str> = match &order {
                Some(columns) => columns.iter().map(String::as_str).collect(),
                None => keys.to_vec(),
            };
            if dedupe && version.is_some() && !keys.is_empty() {
                parts = self.drop_present(name, &table, parts, keys).await?;
            }
            if !sort_by.is_empty() {
                parts = sort(name, parts, &sort_by)?;
            }
            let rows = parts.iter().map(RecordBatch::num_rows).sum();
            let mut txns = vec![Transaction::new(&key.app_id, key.version)];
            if dedupe {
                // Every deduplicating commit carries this app id: two of them racing always
                // conflict, so the loser re-reads the table and drops what the winner wrote.
                txns.push(Transaction::new(
                    SERIAL_APP_ID,
                    version.map_or(0, |v| v as i64 + 1),
                ));
            }
            let commit = CommitProperties::default()
                .with_application_transactions(txns)
                .with_create_checkpoint(true);
            // runlake's writers keep the rows in the order given (one contiguous run per
            // writer); deltalake's write does not, so it only takes what they cannot:
            // nothing to write, or new columns to merge into the schema.
            let writers = write::writers_for(rows);
            let written = if rows > 0 && write::fits(existing.as_deref(), &parts) {
                let properties = writer_properties(&parts[0].schema());
                write::write_parallel(&table, parts, writers, commit, properties).await
            } else {
                let properties = match parts.first() {
                    Some(batch) => writer_properties(&batch.schema()),
                    None => writer_properties(&datafusion::arrow::datatypes::Schema::empty()),
                };
                table
                    // An empty batch still commits, so the key is recorded even when every
                    // record was already present.
                    .write(parts)
                    .with_save_mode(SaveMode::Append)
                    .with_schema_mode(deltalake::operations::write::SchemaMode::Merge)
                    .with_writer_properties(properties)
                    .with_configuration(table_configuration())
                    .with_commit_properties(commit)
                    .await
                    .map(|t| t.version().unwrap_or_default())
            };
            match written {
                Ok(version) => {
                    return Ok(AppendOutcome::Committed { version, rows });
                }
                Err(e) if is_conflict(&e) => {
                    last_error = Some(e);
                    continue;
                }
                Err(e) => return Err(Error::from_write(name, e)),
            }
        }
        Err(Error::from_write(
            name,
            last_error.expect("the loop ran and failed"),
        ))
    }

    /// Leaves out the rows of `parts` whose natural keys `table` already holds.
    async fn drop_present(
        &self,
        name: &str,
        table: &DeltaTable,
        parts: Vec<RecordBatch>,
        keys: &[&str],
    ) -> Result<Vec<RecordBatch>> {
        let rows: usize = parts.iter().map(RecordBatch::num_rows).sum();
        let Some(schema) = parts.first().map(RecordBatch::schema) else {
            return Ok(parts);
        };
        if rows == 0 || keys.iter().any(|k| schema.index_of(k).is_err()) {
            return Ok(parts);
        }
        let ctx = SessionContext::new();
        table.update_datafusion_session(&ctx.state())?;
        ctx.register_table("t", table.table_provider().await?)?;
        let first = keys[0];
        // Only the keys under the parts' first-key values are read (usually one run).
        let mut distinct = HashSet::new();
        for part in &parts {
            distinct.extend(row_keys(part, &[first])?);
        }
        let list = distinct
            .iter()
            .map(|v| format!("'{}'", v.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(", ");
        let columns = keys
            .iter()
            .map(|k| format!("\"{k}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let filter = if schema
            .field_with_name(first)
            .is_ok_and(|f| f.data_type() == &DataType::Utf8)
        {
            format!(" WHERE \"{first}\" IN ({list})")
        } else {
            String::new()
        };
        let present = ctx
            .sql(&format!("SELECT {columns} FROM t{filter}"))
            .await?
            .collect()
            .await?;
        let mut seen = HashSet::new();
        for b in &present {
            seen.extend(row_keys(b, keys)?);
        }
        if seen.is_empty() {
            return Ok(parts);
        }
        parts
            .iter()
            .map(|part| {
                let mine = row_keys(part, keys)?;
                let mask: BooleanArray = mine.iter().map(|k| Some(!seen.contains(k))).collect();
                filter_record_batch(part, &mask).map_err(|e| Error::Write {
                    table: name.to_string(),
                    message: e.to_string(),
                })
            })
            .collect()
    }

    /// Deletes table `name` and every file under it.
    pub async fn drop_table(&self, name: &str) -> Result<()> {
        validate_table_name(name)?;
        if let Ok(mut cache) = self.snapshots.lock() {
            cache.remove(name);
        }
        if self.table(name).await?.is_none() {
            return Err(Error::TableNotFound(name.to_string()));
        }
        let prefix = self.location.prefix().join(name);
        let paths = self
            .store
            .list(Some(&prefix))
            .map_ok(|meta| meta.location)
            .boxed();
        self.store
            .delete_stream(paths)
            .try_collect::<Vec<Path>>()
            .await?;
        // A local folder keeps its (now empty) directories: remove them too.
        if let Some(dir) = self.local_dir(name)? {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::Io {
                        what: format!("removing {}", dir.display()),
                        source: e,
                    });
                }
            }
        }
        Ok(())
    }

    /// A DataFusion table provider for table `name` at its latest version.
    pub async fn provider(&self, name: &str) -> Result<Arc<dyn TableProvider>> {
        let table = self
            .table(name)
            .await?
            .ok_or_else(|| Error::TableNotFound(name.to_string()))?;
        Ok(table.table_provider().await?)
    }

    /// A provider for table `name` at `version` (its latest when `None`), from the
    /// snapshot cache, with the table's object store registered in `runtime`; and the
    /// version it reads.
    pub async fn provider_at(
        &self,
        name: &str,
        version: Option<u64>,
        runtime: &Arc<datafusion::execution::runtime_env::RuntimeEnv>,
    ) -> Result<(Arc<dyn TableProvider>, u64)> {
        let table = self.snapshot(name, version).await?;
        // A state that shares only the runtime: the store lands in the caller's registry.
        let state = datafusion::execution::SessionStateBuilder::new()
            .with_runtime_env(Arc::clone(runtime))
            .build();
        table.update_datafusion_session(&state)?;
        let provider = table.table_provider().await?;
        Ok((provider, table.version().unwrap_or_default()))
    }
}

impl Lake {
    /// The latest version of table `name` (`None` when there is no such table), from the
    /// snapshot cache.
    pub async fn latest_version(&self, name: &str) -> Result<Option<u64>> {
        if !self.has_log(name).await? {
            return Ok(None);
        }
        match self.snapshot(name, None).await {
            Ok(table) => Ok(table.version()),
            Err(Error::TableNotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Where the lake's files are addressed from, as DataFusion names an object store:
    /// `file:///` for a local folder, `s3://bucket` (`gs://`, `az://`) for a cloud one.
    pub fn store_url(&self) -> String {
        let url = self.location.url();
        match url.host_str() {
            Some(host) if !host.is_empty() => format!("{}://{host}", url.scheme()),
            _ => format!("{}:///", url.scheme()),
        }
    }

    /// Registers the lake's object store in `runtime` under [`Lake::store_url`], so a
    /// Parquet scan of [`TableFiles`] reads through the lake's settings (storage options
    /// and environment credentials of this process).
    pub fn register_store(
        &self,
        runtime: &datafusion::execution::runtime_env::RuntimeEnv,
    ) -> Result<()> {
        let url = url::Url::parse(&self.store_url()).map_err(|e| Error::InvalidLocation {
            location: self.location.to_string(),
            reason: e.to_string(),
        })?;
        runtime.register_object_store(&url, Arc::clone(&self.store));
        Ok(())
    }
}

/// The Delta table properties every table runlake creates carries.
///
/// `delta.checkpointInterval` 10 (Spark's default; delta-rs's is 100): a checkpoint (the
/// table's state as one Parquet file) after every tenth commit, so opening a table reads
/// one checkpoint and at most nine JSON commits instead of replaying up to a hundred.
/// A cold `runlake sql` over the W8 lake (30 daily appends) opened it in 25-31 instead of
/// 41-62 ms with a checkpoint at its last version, and ran the W8 query in 60 instead of
/// 73-78 ms (`BENCHMARKS.md`, "A checkpoint every ten commits").
pub(crate) fn table_configuration() -> [(&'static str, Option<&'static str>); 1] {
    [("delta.checkpointInterval", Some("10"))]
}

/// Parquet files of `schema`: zstd, page-level statistics (so the page index is
/// written). `_line` (source line numbers: distinct, and ascending within a file) is
/// delta-encoded: a few bits a row before compression, where a dictionary would fill up
/// and fall back to eight plain bytes a row for zstd to work through.
///
/// Float columns (latencies to the microsecond: nearly every value distinct) get no
/// dictionary either. Theirs filled its 1 MiB page and fell back to plain pages anyway,
/// and every read of the column chunk decompressed that page first: a dashboard query
/// selecting one page of one row group spent a tenth of its time there.
///
/// Time columns (timestamps, dates, times, durations) are nearly all distinct too, and
/// a file's rows come in time order within a run: they get no dictionary and are
/// delta-encoded. Integer columns keep their dictionary (token counts, batch sizes and
/// queue depths have few values) and fall back to delta encoding, not to plain pages,
/// when it fills. On a day of the W8 requests (1.65M rows) the delta-encoded `ts` is
/// 22% smaller than zstd over its plain pages, and a scan decodes it 2.7 times as fast
/// (`BENCHMARKS.md`, "Time columns delta-encoded").
pub(crate) fn writer_properties(schema: &datafusion::arrow::datatypes::Schema) -> WriterProperties {
    let line = ColumnPath::from(runlake_ingest::table::LINE);
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("a valid level"),
        ))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_column_dictionary_enabled(line.clone(), false)
        .set_column_encoding(line, Encoding::DELTA_BINARY_PACKED);
    for field in schema.fields() {
        let column = || ColumnPath::from(field.name().as_str());
        match field.data_type() {
            DataType::Float32 | DataType::Float64 => {
                builder = builder.set_column_dictionary_enabled(column(), false);
            }
            DataType::Timestamp(..)
            | DataType::Date32
            | DataType::Date64
            | DataType::Time32(_)
            | DataType::Time64(_)
            | DataType::Duration(_) => {
                builder = builder
                    .set_column_dictionary_enabled(column(), false)
                    .set_column_encoding(column(), Encoding::DELTA_BINARY_PACKED);
            }
            data_type if data_type.is_integer() => {
                builder = builder.set_column_encoding(column(), Encoding::DELTA_BINARY_PACKED);
            }
            _ => {}
        }
    }
    builder.build()
}

/// How often a conflicting commit is retried before giving up.
const MAX_COMMIT_ATTEMPTS: usize = 50;

/// The app id every deduplicating commit carries (see [`Lake::append`]).
const SERIAL_APP_ID: &str = "runlake:serial";

/// The batches with one schema: batches of one source may differ in columns (JSON
/// records), so each gets the union of the columns (missing ones NULL).
fn aligned(name: &str, batches: &[RecordBatch]) -> Result<Vec<RecordBatch>> {
    let write_err = |e: ArrowError| Error::Write {
        table: name.to_string(),
        message: e.to_string(),
    };
    if batches.is_empty() {
        return Err(Error::Write {
            table: name.to_string(),
            message: "nothing to write".into(),
        });
    }
    let schemas: Vec<Schema> = batches
        .iter()
        .map(|b| b.schema().as_ref().clone())
        .collect();
    let merged = Arc::new(Schema::try_merge(schemas).map_err(write_err)?);
    batches
        .iter()
        .map(|b| {
            if b.schema() == merged {
                Ok(b.clone())
            } else {
                align(b, &merged)
            }
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(write_err)
}

/// `batch` with `schema`'s columns: missing ones NULL.
fn align(batch: &RecordBatch, schema: &SchemaRef) -> std::result::Result<RecordBatch, ArrowError> {
    let columns = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
            Some(c) => cast(c, f.data_type()),
            None => Ok(new_null_array(f.data_type(), batch.num_rows())),
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), columns)
}

/// Fits `batch` to the table's existing column types: NULL-only columns and lossless
/// widenings are cast; any other difference is a type conflict naming the column and
/// the first line that holds a value of the new type.
fn conform(name: &str, batch: RecordBatch, table: &Schema) -> Result<RecordBatch> {
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let Ok(target) = table.field_with_name(field.name()) else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
            continue;
        };
        let want = target.data_type();
        if want == field.data_type() || same_kind(want, field.data_type()) {
            let c = if want == field.data_type() {
                column.clone()
            } else {
                cast(column, want).map_err(|e| Error::Write {
                    table: name.to_string(),
                    message: e.to_string(),
                })?
            };
            fields.push(field.as_ref().clone().with_data_type(want.clone()));
            columns.push(c);
            continue;
        }
        let first = (0..column.len()).find(|&i| column.is_valid(i));
        let Some(first) = first else {
            fields.push(field.as_ref().clone().with_data_type(want.clone()));
            columns.push(new_null_array(want, column.len()));
            continue;
        };
        let line = batch
            .column_by_name("_line")
            .and_then(|l| {
                l.as_any()
                    .downcast_ref::<Int64Array>()
                    .map(|l| l.value(first))
            })
            .unwrap_or(first as i64 + 1);
        let source = batch
            .column_by_name("_source")
            .and_then(|l| {
                l.as_any()
                    .downcast_ref::<StringArray>()
                    .map(|s| s.value(first).to_string())
            })
            .unwrap_or_default();
        return Err(Error::TypeConflict(Box::new(crate::error::TypeConflict {
            table: name.to_string(),
            column: field.name().clone(),
            source_name: source,
            line,
            found: field.data_type().to_string(),
            expected: want.to_string(),
        })));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| Error::Write {
        table: name.to_string(),
        message: e.to_string(),
    })
}

/// Whether values of `from` fit a column of `to` without loss (integers into wider
/// integers or doubles, floats into doubles, timestamps of any unit or zone).
fn same_kind(to: &DataType, from: &DataType) -> bool {
    use DataType as D;
    if to == from {
        return true;
    }
    match (to, from) {
        (D::Int64, D::Int8 | D::Int16 | D::Int32 | D::UInt8 | D::UInt16 | D::UInt32) => true,
        (D::Float64, D::Float16 | D::Float32 | D::Int8 | D::Int16 | D::Int32 | D::Int64) => true,
        (D::Timestamp(_, _), D::Timestamp(_, _)) => true,
        (D::Utf8, D::LargeUtf8 | D::Utf8View) => true,
        (D::List(a), D::List(b)) => same_kind(a.data_type(), b.data_type()),
        _ => false,
    }
}

/// Rows per batch of a sorted append.
const SORTED_BATCH_ROWS: usize = 65_536;

/// `parts` (batches of one schema) as batches sorted by `keys` (those the batches have).
///
/// Only the key columns are concatenated to find the order; the rows are then gathered
/// from the parts batch by batch (`interleave`), so the append is held twice at most:
/// as read and as sorted. (Concatenating the parts and then taking the sorted rows held
/// it three times: a 3.3M-row Parquet file peaked at 2.2 GB.) The order is the one
/// `lexsort_to_indices` gives over the concatenated rows.
fn sort(name: &str, parts: Vec<RecordBatch>, keys: &[&str]) -> Result<Vec<RecordBatch>> {
    let err = |e: ArrowError| Error::Write {
        table: name.to_string(),
        message: e.to_string(),
    };
    let Some(schema) = parts.first().map(RecordBatch::schema) else {
        return Ok(parts);
    };
    let rows: usize = parts.iter().map(RecordBatch::num_rows).sum();
    let positions: Vec<usize> = keys
        .iter()
        .filter_map(|k| schema.index_of(k).ok())
        .collect();
    if positions.is_empty() || rows < 2 {
        return Ok(parts);
    }
    let columns = positions
        .iter()
        .map(|&i| {
            let pieces: Vec<&dyn Array> = parts.iter().map(|p| p.column(i).as_ref()).collect();
            Ok(SortColumn {
                values: datafusion::arrow::compute::concat(&pieces).map_err(err)?,
                options: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let order = lexsort_to_indices(&columns, None).map_err(err)?;
    drop(columns);
    // Where each part's rows start in the concatenated order.
    let starts: Vec<usize> = parts
        .iter()
        .scan(0, |next, p| {
            let start = *next;
            *next += p.num_rows();
            Some(start)
        })
        .collect();
    let locate = |row: usize| {
        let part = starts.partition_point(|&s| s <= row) - 1;
        (part, row - starts[part])
    };
    let mut sorted = Vec::with_capacity(rows.div_ceil(SORTED_BATCH_ROWS));
    for chunk in order.values().chunks(SORTED_BATCH_ROWS) {
        let at: Vec<(usize, usize)> = chunk.iter().map(|&r| locate(r as usize)).collect();
        let columns = (0..schema.fields().len())
            .map(|c| {
                let pieces: Vec<&dyn Array> = parts.iter().map(|p| p.column(c).as_ref()).collect();
                interleave(&pieces, &at)
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(err)?;
        sorted.push(RecordBatch::try_new(Arc::clone(&schema), columns).map_err(err)?);
    }
    Ok(sorted)
}

/// Each row's key values as one string.
fn row_keys(batch: &RecordBatch, keys: &[&str]) -> Result<Vec<String>> {
    let formatters = keys
        .iter()
        .map(|k| {
            let column = batch.column_by_name(k).ok_or_else(|| Error::Write {
                table: String::new(),
                message: format!("no key column {k}"),
            })?;
            ArrayFormatter::try_new(
                column.as_ref(),
                &FormatOptions::default().with_null("\u{0}"),
            )
            .map_err(|e| Error::Write {
                table: String::new(),
                message: e.to_string(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((0..batch.num_rows())
        .map(|i| {
            formatters
                .iter()
                .map(|f| f.value(i).to_string())
                .collect::<Vec<_>>()
                .join("\u{1}")
        })
        .collect())
}

async fn committed(table: &DeltaTable, key: &CommitKey) -> Result<bool> {
    let state = table.snapshot()?;
    let version = state
        .transaction_version(table.log_store().as_ref(), &key.app_id)
        .await?;
    Ok(version.is_some_and(|v| v >= key.version))
}

/// Whether a commit lost a race to another writer: the conflict checker's verdict, the
/// version written first by someone else, or the store refusing the conditional put.
fn is_conflict(e: &DeltaTableError) -> bool {
    matches!(
        e,
        DeltaTableError::Transaction { .. }
            | DeltaTableError::VersionAlreadyExists(_)
            | DeltaTableError::ObjectStore {
                source: object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. }
            }
    )
}

/// Table names are SQL-friendly: lowercase letters, digits and `_`, not starting with a
/// digit (a leading `_` marks lake-internal tables such as `_rejects`).
pub fn validate_table_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidTableName(name.to_string()))
    }
}

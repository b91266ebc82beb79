//! runlake's session options, beside DataFusion's: `SET runlake.execution.list_scan =
//! false` (in `runlake sql`, a report or a Flight SQL session) and `SHOW ALL` /
//! `information_schema.df_settings` list them.

use std::any::Any;

use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::common::{Result, config_err};
use datafusion::config::ConfigOptions;

/// The `runlake.*` options of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunlakeOptions {
    /// `runlake.execution.list_scan`: decode list columns of Parquet scans with
    /// runlake's page decoder ([`crate::ListScan`]); `false` uses arrow-rs's reader.
    pub list_scan: bool,
    /// `runlake.execution.int_key_aggregate`: group by one integer key with
    /// [`crate::IntKeyAggregate`]; `false` keeps DataFusion's hash aggregate.
    pub int_key_aggregate: bool,
    /// `runlake.execution.int_key_split_groups`: a partial aggregation of
    /// [`crate::IntKeyAggregate`] whose input's statistics promise at least this many
    /// groups (and enough rows for each) gets its input repartitioned by the key first,
    /// so each partition aggregates its own share of the groups; `0` never does.
    pub int_key_split_groups: u64,
}

impl Default for RunlakeOptions {
    fn default() -> Self {
        RunlakeOptions {
            list_scan: true,
            int_key_aggregate: true,
            int_key_split_groups: crate::groupby::SPLIT_GROUPS,
        }
    }
}

const LIST_SCAN: &str = "execution.list_scan";
const INT_KEY_AGGREGATE: &str = "execution.int_key_aggregate";
const INT_KEY_SPLIT_GROUPS: &str = "execution.int_key_split_groups";

impl RunlakeOptions {
    /// The options of a session's configuration (the defaults when it has none).
    pub fn of(config: &ConfigOptions) -> RunlakeOptions {
        config
            .extensions
            .get::<RunlakeOptions>()
            .cloned()
            .unwrap_or_default()
    }
}

impl ConfigExtension for RunlakeOptions {
    const PREFIX: &'static str = "runlake";
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "1" => Ok(true),
        "false" | "off" | "0" => Ok(false),
        _ => config_err!("runlake.{key}: '{value}' is not a boolean (true or false)"),
    }
}

fn parse_count(key: &str, value: &str) -> Result<u64> {
    match value.trim().parse() {
        Ok(n) => Ok(n),
        Err(_) => config_err!("runlake.{key}: '{value}' is not a whole number of 0 or more"),
    }
}

impl ExtensionOptions for RunlakeOptions {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            LIST_SCAN => self.list_scan = parse_bool(key, value)?,
            INT_KEY_AGGREGATE => self.int_key_aggregate = parse_bool(key, value)?,
            INT_KEY_SPLIT_GROUPS => self.int_key_split_groups = parse_count(key, value)?,
            _ => {
                return config_err!(
                    "runlake.{key} is not an option (there are runlake.{LIST_SCAN}, \
                     runlake.{INT_KEY_AGGREGATE} and runlake.{INT_KEY_SPLIT_GROUPS})"
                );
            }
        }
        Ok(())
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        vec![
            ConfigEntry {
                key: format!("{}.{LIST_SCAN}", Self::PREFIX),
                value: Some(self.list_scan.to_string()),
                description: "Decode list columns of Parquet scans with runlake's page decoder \
                              (false: arrow-rs's reader)",
            },
            ConfigEntry {
                key: format!("{}.{INT_KEY_AGGREGATE}", Self::PREFIX),
                value: Some(self.int_key_aggregate.to_string()),
                description: "Group by one integer key with runlake's aggregate operator \
                              (false: DataFusion's hash aggregate)",
            },
            ConfigEntry {
                key: format!("{}.{INT_KEY_SPLIT_GROUPS}", Self::PREFIX),
                value: Some(self.int_key_split_groups.to_string()),
                description: "Repartition the input of an integer-key aggregation by its key \
                              when the statistics promise at least this many groups (0: never)",
            },
        ]
    }
}

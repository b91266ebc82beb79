//! One source into the lake: parse, type against the lake's tables, check the bad rows,
//! then commit table by table (`_rejects`, child tables, `runs` last), each commit
//! carrying the ingest's key, and record the ingest in `_ingests`.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{Field, Schema};
use runlake_ingest::{Format, Options, Reject, Source, TableOut, natural_keys};

use crate::{AppendOutcome, CommitKey, Error, Lake, Result};

/// The table that records every ingest (and every `forget`).
pub const INGESTS: &str = "_ingests";
/// The table bad rows go to.
pub const REJECTS: &str = "_rejects";

/// How to ingest.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    pub read: Options,
    /// `--set COL=VALUE` tags, added to every row.
    pub tags: Vec<(String, String)>,
    /// Bad rows allowed before the file fails (default 0).
    pub max_bad_rows: usize,
    /// Append even when this content was ingested before.
    pub force: bool,
    /// Parse and type, commit nothing.
    pub dry_run: bool,
    /// CSV and TSV files larger than this many bytes are read, typed and written one
    /// window of this size at a time ([`Lake::ingest_path`]); 0 reads every file whole.
    pub window: usize,
}

/// What happened to one table of a source.
#[derive(Debug, Clone)]
pub struct TableReport {
    pub table: String,
    /// Rows in the file for this table.
    pub rows: usize,
    /// Rows committed (fewer when records were already present), `None` when this
    /// table had already committed this ingest.
    pub written: Option<usize>,
}

/// What happened to one source.
#[derive(Debug, Clone)]
pub struct IngestReport {
    pub source: String,
    pub sha256: String,
    pub format: Format,
    pub records: usize,
    pub tables: Vec<TableReport>,
    pub rejects: Vec<Reject>,
    pub renamed: Vec<(String, String)>,
    /// The content had been ingested into these tables before: nothing was written.
    pub already_ingested: bool,
    /// With `dry_run`: each table's schema and first rows.
    pub preview: Vec<(String, RecordBatch)>,
    /// The windows a large file was read in; 0 when it was read whole.
    pub windows: usize,
}

impl Lake {
    /// Ingests one source. Fails, committing nothing, when the source cannot be read,
    /// has more bad rows than allowed, or conflicts with a table's column types.
    pub async fn ingest(&self, source: &Source, options: &IngestOptions) -> Result<IngestReport> {
        let progress = |phase: &str| {
            if let Some(p) = &options.read.progress {
                p.set_phase(phase);
            }
        };
        let mut parsed = runlake_ingest::parse(source, &options.read)?;
        progress("typing");
        if !options.tags.is_empty() {
            parsed.set(&options.tags);
        }
        let format = parsed.format;
        let records = parsed.records;
        let renamed = parsed.renamed.clone();
        let mut known = HashMap::new();
        for t in &parsed.tables {
            if let Some(table) = self.table(t.table()).await? {
                known.insert(
                    t.table().to_string(),
                    table.snapshot()?.snapshot().arrow_schema().as_ref().clone(),
                );
            }
        }
        let now = now_us();
        let (outs, rejects) = parsed.finish(&known, now, source)?;
        if rejects.len() > options.max_bad_rows {
            let first = &rejects[0];
            return Err(runlake_ingest::Error::TooManyBadRows {
                source_name: source.name.clone(),
                count: rejects.len(),
                allowed: options.max_bad_rows,
                line: first.line,
                column: first
                    .column
                    .as_ref()
                    .map(|c| format!(", column '{c}'"))
                    .unwrap_or_default(),
                reason: first.reason.clone(),
            }
            .into());
        }
        let mut report = IngestReport {
            source: source.name.clone(),
            sha256: source.sha256.clone(),
            format,
            records,
            tables: outs
                .iter()
                .map(|t| TableReport {
                    table: t.table.clone(),
                    rows: t.rows,
                    written: None,
                })
                .collect(),
            rejects: rejects.clone(),
            renamed,
            already_ingested: false,
            preview: Vec::new(),
            windows: 0,
        };
        if options.dry_run {
            report.preview = outs
                .iter()
                .filter_map(|t| {
                    t.batches
                        .first()
                        .map(|b| (t.table.clone(), b.slice(0, b.num_rows().min(5))))
                })
                .collect();
            return Ok(report);
        }
        let key = self.ingest_key(&source.sha256, options.force, now).await?;
        let names: Vec<&str> = outs.iter().map(|t| t.table.as_str()).collect();
        let log_key = log_key(&key, &names);
        let mut all_done = !outs.is_empty();
        for t in &outs {
            all_done &= self.is_committed(&t.table, &key).await?;
        }
        if all_done {
            self.record_if_missing(&report, &key, &log_key, now).await?;
            report.already_ingested = true;
            return Ok(report);
        }
        let target = outs
            .first()
            .map_or_else(|| "".to_string(), |t| t.table.clone());
        if !rejects.is_empty() {
            let batch = rejects_batch(&target, &source.name, &rejects, now);
            self.append(REJECTS, vec![batch], &key, &[], false).await?;
        }
        let generic = format.is_generic();
        for (i, t) in outs.into_iter().enumerate() {
            let TableOut { table, batches, .. } = t;
            progress(&format!("writing {table}"));
            let keys = natural_keys(&table);
            let outcome = self.append(&table, batches, &key, keys, !generic).await?;
            report.tables[i].written = match outcome {
                AppendOutcome::Committed { rows, .. } => Some(rows),
                AppendOutcome::AlreadyCommitted => None,
            };
        }
        failpoint("ingest:before-log");
        progress("recording the ingest");
        let log = ingests_batch(&report, "ingest", now);
        self.append(INGESTS, vec![log], &log_key, &[], false)
            .await?;
        Ok(report)
    }

    /// The key of an ingest of content with this hash.
    pub(crate) async fn ingest_key(
        &self,
        sha256: &str,
        force: bool,
        now: i64,
    ) -> Result<CommitKey> {
        Ok(if force {
            CommitKey::new(format!("ingest:{sha256}:force:{now}"))
        } else {
            let generation = self.forgotten_count(sha256).await?;
            CommitKey::new(format!("ingest:{sha256}:{generation}"))
        })
    }

    /// Records an ingest whose tables had all committed it before in `_ingests`, when
    /// the log lacks it: a process stopped between the tables' commits and the log's
    /// (rows NULL: this run wrote none). Ingests recorded under the table-independent
    /// key of earlier versions count.
    pub(crate) async fn record_if_missing(
        &self,
        report: &IngestReport,
        key: &CommitKey,
        log_key: &CommitKey,
        now: i64,
    ) -> Result<()> {
        if !self.is_committed(INGESTS, log_key).await? && !self.is_committed(INGESTS, key).await? {
            let log = ingests_batch(report, "ingest", now);
            self.append(INGESTS, vec![log], log_key, &[], false).await?;
        }
        Ok(())
    }

    /// How often content with this hash was forgotten: each `forget` starts a new
    /// generation of ingest keys, so the content can be ingested again.
    async fn forgotten_count(&self, sha256: &str) -> Result<i64> {
        if self.table(INGESTS).await?.is_none() {
            return Ok(0);
        }
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.register_table("i", self.provider(INGESTS).await?)?;
        let batches = ctx
            .sql(&format!(
                "SELECT count(*) FROM i WHERE action = 'forget' AND sha256 = '{}'",
                sha256.replace('\'', "")
            ))
            .await?
            .collect()
            .await?;
        Ok(batches
            .first()
            .and_then(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .map(|a| a.value(0))
            })
            .unwrap_or(0))
    }
}

/// The log's own key of an ingest: it names the tables as well, so the same content into
/// another table is another ingest, with rows of its own in the log.
pub(crate) fn log_key(key: &CommitKey, tables: &[&str]) -> CommitKey {
    let mut names = tables.to_vec();
    names.sort_unstable();
    CommitKey::new(format!("{}:log:{}", key.app_id, names.join(",")))
}

/// Stops the process at once, as a kill would, when `RUNLAKE_FAILPOINT` names this
/// point: how the crash tests stop an ingest at an exact moment (between the data's
/// commits and the log's) instead of racing a signal against it.
pub(crate) fn failpoint(name: &str) {
    if std::env::var_os("RUNLAKE_FAILPOINT").is_some_and(|v| v == name) {
        std::process::abort();
    }
}

pub(crate) fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn rejects_batch(target: &str, source: &str, rejects: &[Reject], now: i64) -> RecordBatch {
    let n = rejects.len();
    let lines = || Int64Array::from_iter_values(rejects.iter().map(|r| r.line as i64));
    batch(vec![
        ("target_table", Arc::new(StringArray::from(vec![target; n]))),
        ("source", Arc::new(StringArray::from(vec![source; n]))),
        ("line", Arc::new(lines())),
        (
            "column_name",
            Arc::new(StringArray::from_iter(
                rejects.iter().map(|r| r.column.clone()),
            )),
        ),
        (
            "reason",
            Arc::new(StringArray::from_iter_values(
                rejects.iter().map(|r| r.reason.clone()),
            )),
        ),
        (
            "raw",
            Arc::new(StringArray::from_iter_values(
                rejects.iter().map(|r| r.raw.clone()),
            )),
        ),
        ("_source", Arc::new(StringArray::from(vec![source; n]))),
        ("_line", Arc::new(lines())),
        ("_ingested_at", timestamps(now, n)),
    ])
}

/// The `_ingests` rows of one ingest (one per table) or one forget.
pub(crate) fn ingests_rows(
    sha256: &str,
    source: &str,
    format: &str,
    tables: &[(String, Option<i64>)],
    rejects: i64,
    action: &str,
    now: i64,
) -> RecordBatch {
    let n = tables.len();
    batch(vec![
        ("sha256", Arc::new(StringArray::from(vec![sha256; n]))),
        ("source", Arc::new(StringArray::from(vec![source; n]))),
        (
            "table_name",
            Arc::new(StringArray::from_iter_values(
                tables.iter().map(|t| t.0.clone()),
            )),
        ),
        ("format", Arc::new(StringArray::from(vec![format; n]))),
        (
            "rows",
            Arc::new(Int64Array::from_iter(tables.iter().map(|t| t.1))),
        ),
        ("rejects", Arc::new(Int64Array::from(vec![rejects; n]))),
        ("action", Arc::new(StringArray::from(vec![action; n]))),
        ("ingested_at", timestamps(now, n)),
    ])
}

fn timestamps(us: i64, n: usize) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(vec![us; n]).with_timezone("UTC"))
}

/// A batch of nullable columns, typed by their arrays.
pub(crate) fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .expect("columns of one length")
}

pub(crate) fn ingests_batch(report: &IngestReport, action: &str, now: i64) -> RecordBatch {
    let tables: Vec<(String, Option<i64>)> = report
        .tables
        .iter()
        .map(|t| (t.table.clone(), t.written.map(|w| w as i64)))
        .collect();
    ingests_rows(
        &report.sha256,
        &report.source,
        report.format.name(),
        &tables,
        report.rejects.len() as i64,
        action,
        now,
    )
}

impl From<runlake_ingest::Error> for Error {
    fn from(e: runlake_ingest::Error) -> Self {
        Error::Ingest(Box::new(e))
    }
}

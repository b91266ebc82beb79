//! Large appends written by one Parquet writer per core, committed as one Delta commit.
//!
//! deltalake's write operation encodes and compresses an unpartitioned write on a single
//! writer task, so a 10M-row ingest spends seconds on one core. Here the rows are cut
//! into contiguous runs (sorted input stays sorted within each file), each run is
//! written by its own [`DeltaWriter`] on the runtime's threads, and the files' add
//! actions (with their statistics) go into one commit together with the append's
//! application transactions. A table that does not exist yet is created by that same
//! commit. Nothing is visible until the commit lands; a failed or conflicting commit
//! leaves only unreferenced files, as deltalake's own write does.

use deltalake::datafile::writer::{DeltaWriter, WriterConfig};
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, StructType, normalize_for_delta};
use deltalake::operations::create::CreateBuilder;
use deltalake::operations::write::WriterStatsConfig;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableError};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;

/// Below this many rows per writer, one writer is as fast and makes fewer files.
const MIN_ROWS_PER_WRITER: usize = 256 * 1024;

/// How many writers `rows` rows get.
pub(crate) fn writers_for(rows: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (rows / MIN_ROWS_PER_WRITER).clamp(1, cores)
}

/// Whether `parts` can take the parallel path: the batches' columns are exactly the
/// table's (same names, order and types), or the table does not exist yet. Anything
/// else (new columns to merge into the schema) goes through deltalake's write.
pub(crate) fn fits(existing: Option<&Schema>, parts: &[RecordBatch]) -> bool {
    let Some(first) = parts.first() else {
        return false;
    };
    let Some(table) = existing else {
        return true;
    };
    let batch = first.schema();
    table.fields().len() == batch.fields().len()
        && table
            .fields()
            .iter()
            .zip(batch.fields())
            .all(|(t, b)| t.name() == b.name() && t.data_type() == b.data_type())
}

/// Writes `parts` with `writers` writers and commits them to `table` with `commit`
/// (creating the table when it has no version yet). Returns the committed version.
pub(crate) async fn write_parallel(
    table: &DeltaTable,
    parts: Vec<RecordBatch>,
    writers: usize,
    commit: CommitProperties,
    properties: datafusion::parquet::file::properties::WriterProperties,
) -> Result<u64, DeltaTableError> {
    let schema = parts[0].schema();
    let store = table.log_store().object_store(None);
    let stats = match table.version() {
        Some(_) => {
            WriterStatsConfig::from_config(table.snapshot()?.snapshot().table_configuration())
        }
        None => WriterStatsConfig::new(Default::default(), None),
    };
    let config = WriterConfig::new(
        schema.clone(),
        Vec::new(),
        Some(properties),
        None,
        None,
        stats.num_indexed_cols,
        stats.stats_columns,
    );
    let mut tasks = tokio::task::JoinSet::new();
    for run in runs(parts, writers) {
        let (store, config) = (store.clone(), config.clone());
        tasks.spawn(async move {
            let mut writer = DeltaWriter::new(store, config);
            for batch in &run {
                if let Err(e) = writer.write(batch).await {
                    let _ = writer.abort().await;
                    return Err(e);
                }
            }
            writer.close().await
        });
    }
    let mut actions = Vec::new();
    let mut failed = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(adds)) => actions.extend(adds.into_iter().map(Action::Add)),
            Ok(Err(e)) => {
                failed.get_or_insert(e);
            }
            Err(e) => {
                failed.get_or_insert(DeltaTableError::Generic(format!(
                    "a Parquet writer task failed: {e}"
                )));
            }
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    match table.version() {
        Some(_) => {
            let operation = DeltaOperation::Write {
                mode: SaveMode::Append,
                partition_by: None,
                predicate: None,
            };
            let committed = CommitBuilder::from(commit)
                .with_actions(actions)
                .build(Some(table.snapshot()?), table.log_store(), operation)
                .await?;
            Ok(committed.version() as u64)
        }
        None => {
            let delta: StructType = normalize_for_delta(&schema).as_ref().try_into_kernel()?;
            let created = CreateBuilder::new()
                .with_log_store(table.log_store())
                .with_columns(delta.fields().cloned())
                .with_actions(actions)
                .with_commit_properties(commit)
                .await;
            match created {
                Ok(created) => Ok(created.version().unwrap_or_default()),
                // Another writer created the table first (told by the table's log now
                // being there, not by the error's text): retried like any conflict.
                Err(e) => match table.log_store().is_delta_table_location().await {
                    Ok(true) => Err(DeltaTableError::VersionAlreadyExists(0)),
                    _ => Err(e),
                },
            }
        }
    }
}

/// `parts` cut into `n` contiguous runs of about equal rows (batches are sliced, not
/// copied).
fn runs(parts: Vec<RecordBatch>, n: usize) -> Vec<Vec<RecordBatch>> {
    let total: usize = parts.iter().map(RecordBatch::num_rows).sum();
    let per = total.div_ceil(n.max(1)).max(1);
    let mut out = vec![Vec::new()];
    let mut filled = 0;
    for batch in parts {
        let mut offset = 0;
        while offset < batch.num_rows() {
            if filled == per {
                out.push(Vec::new());
                filled = 0;
            }
            let take = (per - filled).min(batch.num_rows() - offset);
            out.last_mut()
                .expect("there is always a run")
                .push(batch.slice(offset, take));
            offset += take;
            filled += take;
        }
    }
    out
}

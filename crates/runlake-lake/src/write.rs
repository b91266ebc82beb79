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
use deltalake::kernel::{Action, Add, StructType, normalize_for_delta};
use deltalake::logstore::ObjectStoreRef;
use deltalake::operations::create::CreateBuilder;
use deltalake::operations::write::WriterStatsConfig;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableError};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::parquet::file::properties::WriterProperties;
use object_store::ObjectStoreExt as _;

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
    same_columns(table, &first.schema())
}

/// Whether a table and a batch have the same columns: names, order and types.
pub(crate) fn same_columns(table: &Schema, batch: &Schema) -> bool {
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
    properties: WriterProperties,
) -> Result<u64, DeltaTableError> {
    let schema = parts[0].schema();
    let store = table.log_store().object_store(None);
    let config = writer_config(table, schema.clone(), properties)?;
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
    let (adds, failed) = join_writers(tasks).await;
    if let Some(e) = failed {
        return Err(e);
    }
    commit_files(table, &schema, adds, commit).await
}

/// How files of `schema` are written for `table`: its statistics columns if it exists.
fn writer_config(
    table: &DeltaTable,
    schema: SchemaRef,
    properties: WriterProperties,
) -> Result<WriterConfig, DeltaTableError> {
    let stats = match table.version() {
        Some(_) => {
            WriterStatsConfig::from_config(table.snapshot()?.snapshot().table_configuration())
        }
        None => WriterStatsConfig::new(Default::default(), None),
    };
    Ok(WriterConfig::new(
        schema,
        Vec::new(),
        Some(properties),
        None,
        None,
        stats.num_indexed_cols,
        stats.stats_columns,
    ))
}

/// The files every writer task wrote, and the first error of any.
async fn join_writers(
    mut tasks: tokio::task::JoinSet<Result<Vec<Add>, DeltaTableError>>,
) -> (Vec<Add>, Option<DeltaTableError>) {
    let mut adds = Vec::new();
    let mut failed = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(files)) => adds.extend(files),
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
    (adds, failed)
}

/// Commits `adds` (files of `schema` written for `table`) with `commit`, creating the
/// table when it has no version yet. Returns the committed version.
pub(crate) async fn commit_files(
    table: &DeltaTable,
    schema: &SchemaRef,
    adds: Vec<Add>,
    commit: CommitProperties,
) -> Result<u64, DeltaTableError> {
    let actions: Vec<Action> = adds.into_iter().map(Action::Add).collect();
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
            let delta: StructType = normalize_for_delta(schema).as_ref().try_into_kernel()?;
            let created = CreateBuilder::new()
                .with_log_store(table.log_store())
                .with_columns(delta.fields().cloned())
                .with_configuration(crate::table_configuration())
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

/// Parquet files written while the rows still arrive, before anything is committed:
/// one writer task per index, each writing the batches it is handed in order. Each
/// writer holds at most one handful of batches waiting besides the one it writes, so
/// a reader faster than the writers waits instead of piling up rows.
pub(crate) struct StreamWriters {
    store: ObjectStoreRef,
    config: WriterConfig,
    senders: Vec<Option<tokio::sync::mpsc::Sender<Vec<RecordBatch>>>>,
    tasks: tokio::task::JoinSet<Result<Vec<Add>, DeltaTableError>>,
}

impl StreamWriters {
    pub(crate) fn new(
        table: &DeltaTable,
        schema: SchemaRef,
        properties: WriterProperties,
    ) -> Result<Self, DeltaTableError> {
        Ok(Self {
            store: table.log_store().object_store(None),
            config: writer_config(table, schema, properties)?,
            senders: Vec::new(),
            tasks: tokio::task::JoinSet::new(),
        })
    }

    /// Hands `batches` to writer `index`, starting it the first time.
    pub(crate) async fn send(
        &mut self,
        index: usize,
        batches: Vec<RecordBatch>,
    ) -> Result<(), DeltaTableError> {
        if self.senders.len() <= index {
            self.senders.resize_with(index + 1, || None);
        }
        if self.senders[index].is_none() {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<RecordBatch>>(1);
            let (store, config) = (self.store.clone(), self.config.clone());
            self.tasks.spawn(async move {
                let mut writer = DeltaWriter::new(store, config);
                while let Some(batches) = rx.recv().await {
                    for batch in batches {
                        if let Err(e) = writer.write(&batch).await {
                            let _ = writer.abort().await;
                            return Err(e);
                        }
                    }
                }
                writer.close().await
            });
            self.senders[index] = Some(tx);
        }
        let tx = self.senders[index].as_ref().expect("set above");
        if tx.send(batches).await.is_err() {
            // The writer stopped on an error, which `close` returns.
            return Err(DeltaTableError::Generic(
                "a Parquet writer stopped before its rows were written".into(),
            ));
        }
        Ok(())
    }

    /// Closes every writer: the files written, and the first error of any writer.
    pub(crate) async fn close(mut self) -> (Vec<Add>, Option<DeltaTableError>) {
        self.senders.clear();
        join_writers(self.tasks).await
    }

    /// Closes every writer and deletes what they wrote (nothing of it is committed).
    pub(crate) async fn discard(self) {
        let store = self.store.clone();
        let (adds, _) = self.close().await;
        delete_files(&store, &adds).await;
    }
}

/// Deletes written files no commit references (best effort: `vacuum` also removes them).
pub(crate) async fn delete_files(store: &ObjectStoreRef, adds: &[Add]) {
    for add in adds {
        if let Ok(path) = object_store::path::Path::from_url_path(&add.path) {
            let _ = store.delete(&path).await;
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

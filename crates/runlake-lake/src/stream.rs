//! A large CSV or TSV file ingested window by window: each window of the text is read,
//! typed and handed to the Parquet writers before the next one is read, so memory
//! follows the window, not the file, and writing overlaps reading. The files are
//! committed in one commit at the end, as a whole read commits them; until then nothing
//! is visible.
//!
//! The result is the one a whole read gives, or the file is read whole instead: the
//! window path gives up (deleting what it wrote) when a window has a bad row, when a
//! window's columns type differently from the first window's (types are inferred per
//! window, a whole read infers them over the file), when the rows would change the
//! table's schema, or when the table is kept sorted or deduplicated (natural keys, a
//! sort order), which needs every row at once.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, new_null_array};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use runlake_ingest::{DelimitedStream, InputLimits, Source, TableOut, natural_keys};

use crate::ingest::{
    IngestOptions, IngestReport, TableReport, failpoint, ingests_batch, log_key, now_us,
};
use crate::write::StreamWriters;
use crate::{INGESTS, Lake, Result, committed, is_conflict, layout, write};

/// How often a commit that lost a race is tried again before the file is read whole.
const COMMIT_ATTEMPTS: usize = 10;

/// What the window path did with a file.
enum Windowed {
    Done(IngestReport),
    /// Nothing committed: the file is to be read whole, for this reason.
    ReadWhole(&'static str),
}

/// Why the window path stopped without committing.
enum Stop {
    /// Read the file whole instead, for this reason.
    ReadWhole(&'static str),
    /// The content was already ingested.
    AlreadyIngested(String),
}

/// One window, typed: its table's batches, with what it read.
struct Typed {
    out: Option<TableOut>,
    bad_rows: usize,
    records: usize,
    /// The window's number, from 0.
    window: usize,
}

impl Lake {
    /// Ingests the file at `path`. A CSV or TSV file larger than `options.window` bytes
    /// is read, typed and written one window at a time (see the module's notes); any
    /// other file, or one the window path gives back, is read whole by [`Lake::ingest`].
    pub async fn ingest_path(
        &self,
        path: &Path,
        limits: &InputLimits,
        options: &IngestOptions,
    ) -> Result<IngestReport> {
        if !options.dry_run && options.window > 0 {
            let opened = DelimitedStream::open(path, limits, &options.read, options.window)?;
            if let Some(stream) = opened {
                let len = stream.len();
                let reason = match self.ingest_windows(stream, options).await? {
                    Windowed::Done(report) => return Ok(report),
                    Windowed::ReadWhole(reason) => reason,
                };
                // Windows hold a window of the file, whatever its size; a whole read holds
                // all of it, which the input limit bounds.
                if len > limits.max_bytes {
                    return Err(runlake_ingest::Error::Read {
                        source_name: path.display().to_string(),
                        message: format!(
                            "the file must be read whole ({reason}), and it holds more than \
                             {} bytes (raise the limit with --max-input-size)",
                            limits.max_bytes
                        ),
                    }
                    .into());
                }
                if let Some(p) = &options.read.progress {
                    p.start();
                }
            }
        }
        let source = Source::from_path(path, limits)?;
        self.ingest(&source, options).await
    }

    /// The window path.
    async fn ingest_windows(
        &self,
        stream: DelimitedStream,
        options: &IngestOptions,
    ) -> Result<Windowed> {
        let name = stream.table().to_string();
        if !natural_keys(&name).is_empty() {
            return Ok(Windowed::ReadWhole(
                "the table is deduplicated by its natural keys",
            ));
        }
        if crate::validate_table_name(&name).is_err() {
            // The whole read says what is wrong with it.
            return Ok(Windowed::ReadWhole("the table name is not valid"));
        }
        // Loaded once for the checks and the writers' statistics columns; the commit
        // loads it again, as other writers may have committed meanwhile.
        let table = self.table_or_empty(&name).await?;
        let existing_schema: Option<SchemaRef> = match table.version() {
            Some(_) if layout::sort_order_of(&table).is_some() => {
                return Ok(Windowed::ReadWhole("the table keeps a sort order"));
            }
            Some(_) => Some(table.snapshot()?.snapshot().arrow_schema()),
            None => None,
        };
        let now = now_us();
        if let Some(p) = &options.read.progress {
            p.set_phase(format!("reading and writing {name}"));
        }
        let mut run = Run {
            stream: Some(stream),
            writers: None,
            schema: None,
            rows: 0,
            records: 0,
            checked_hash: false,
        };
        let stopped = self
            .write_windows(&mut run, &name, &table, existing_schema, options, now)
            .await;
        let stream = run
            .stream
            .take()
            .expect("the stream comes back from each window");
        let writers = run.writers.take();
        let stop = match stopped {
            Ok(None) => None,
            Ok(Some(stop)) => Some(stop),
            Err(e) => {
                if let Some(writers) = writers {
                    writers.discard().await;
                }
                return Err(e);
            }
        };
        if let Some(stop) = stop {
            if let Some(writers) = writers {
                writers.discard().await;
            }
            return match stop {
                Stop::ReadWhole(reason) => Ok(Windowed::ReadWhole(reason)),
                Stop::AlreadyIngested(sha) => {
                    let report = already(&stream, &name, sha);
                    let key = self.ingest_key(&report.sha256, false, now).await?;
                    self.record_if_missing(&report, &key, &log_key(&key, &[&name]), now)
                        .await?;
                    Ok(Windowed::Done(report))
                }
            };
        }
        let Some(writers) = writers else {
            // The whole read says what the file holds.
            return Ok(Windowed::ReadWhole("it has no rows"));
        };
        let schema = run.schema.clone().expect("set with the writers");
        self.commit_windows(stream, writers, &run, &name, schema, options, now)
            .await
    }

    /// Reads, types and writes every window; `Some` when the window path stops early.
    async fn write_windows(
        &self,
        run: &mut Run,
        name: &str,
        table: &deltalake::DeltaTable,
        existing_schema: Option<SchemaRef>,
        options: &IngestOptions,
        now: i64,
    ) -> Result<Option<Stop>> {
        let mut known = HashMap::new();
        if let Some(schema) = &existing_schema {
            known.insert(name.to_string(), schema.as_ref().clone());
        }
        let known: Arc<HashMap<String, Schema>> = Arc::new(known);
        let tags = Arc::new(options.tags.clone());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        loop {
            let mut stream = run
                .stream
                .take()
                .expect("the stream is here between windows");
            let (known, tags) = (known.clone(), tags.clone());
            let (stream, typed) = tokio::task::spawn_blocking(move || {
                let typed = next_typed(&mut stream, &known, &tags, now);
                (stream, typed)
            })
            .await
            .map_err(|e| crate::Error::Write {
                table: name.to_string(),
                message: format!("reading a window of the file failed: {e}"),
            })?;
            run.stream = Some(stream);
            let Some(typed) = typed? else {
                return Ok(None);
            };
            if typed.bad_rows > 0 {
                // The whole read reports them, with their lines.
                return Ok(Some(Stop::ReadWhole("it has bad rows")));
            }
            run.records += typed.records;
            if let Some(mut out) = typed.out.filter(|o| o.rows > 0) {
                if let Some(first) = &run.schema {
                    out.batches = out
                        .batches
                        .into_iter()
                        .map(|b| nulls_as(b, first))
                        .collect();
                }
                let schema = out.batches[0].schema();
                match &run.schema {
                    None if !write::fits(existing_schema.as_deref(), &out.batches) => {
                        return Ok(Some(Stop::ReadWhole("its columns differ from the table's")));
                    }
                    None => {
                        let properties = crate::writer_properties(&schema);
                        let writers = StreamWriters::new(table, schema.clone(), properties)
                            .map_err(|e| crate::Error::from_write(name, e))?;
                        run.writers = Some(writers);
                        run.schema = Some(schema.clone());
                    }
                    Some(first) if *first != schema => {
                        return Ok(Some(Stop::ReadWhole(
                            "a column's type differs from one window to another",
                        )));
                    }
                    Some(_) => {}
                }
                run.rows += out.rows;
                // Windows are taken by the writers in turn, so every core can write.
                let index = typed.window % cores;
                let writers = run.writers.as_mut().expect("created with the schema");
                if let Err(e) = writers.send(index, out.batches).await {
                    let writers = run.writers.take().expect("just used");
                    let (adds, failed) = writers.close().await;
                    write::delete_files(&table.log_store().object_store(None), &adds).await;
                    return Err(crate::Error::from_write(name, failed.unwrap_or(e)));
                }
            }
            // Content already in the table is found as soon as its hash is known.
            if !run.checked_hash && !options.force {
                let stream = run.stream.as_mut().expect("put back above");
                if let Some(sha) = stream.sha256_if_ready()? {
                    run.checked_hash = true;
                    let key = self.ingest_key(&sha, false, now).await?;
                    if self.is_committed(name, &key).await? {
                        return Ok(Some(Stop::AlreadyIngested(sha)));
                    }
                }
            }
        }
    }

    /// Commits what the writers wrote in one commit carrying the ingest's key, then
    /// records the ingest in `_ingests`.
    #[allow(clippy::too_many_arguments)]
    async fn commit_windows(
        &self,
        mut stream: DelimitedStream,
        writers: StreamWriters,
        run: &Run,
        name: &str,
        schema: SchemaRef,
        options: &IngestOptions,
        now: i64,
    ) -> Result<Windowed> {
        let (adds, failed) = writers.close().await;
        let table = self.table_or_empty(name).await?;
        let store = table.log_store().object_store(None);
        if let Some(e) = failed {
            write::delete_files(&store, &adds).await;
            return Err(crate::Error::from_write(name, e));
        }
        let sha = match stream.finish() {
            Ok(sha) => sha,
            Err(e) => {
                write::delete_files(&store, &adds).await;
                return Err(e.into());
            }
        };
        let mut report = IngestReport {
            source: stream.name().to_string(),
            sha256: sha.clone(),
            format: stream.format(),
            records: run.records,
            tables: vec![TableReport {
                table: name.to_string(),
                rows: run.rows,
                written: None,
            }],
            rejects: Vec::new(),
            renamed: stream.renamed().to_vec(),
            already_ingested: false,
            preview: Vec::new(),
            windows: stream.windows(),
        };
        let key = self.ingest_key(&sha, options.force, now).await?;
        let log_key = log_key(&key, &[name]);
        let mut table = table;
        let mut attempts = 0;
        loop {
            attempts += 1;
            if table.version().is_some() && committed(&table, &key).await? {
                write::delete_files(&store, &adds).await;
                self.record_if_missing(&report, &key, &log_key, now).await?;
                report.already_ingested = true;
                return Ok(Windowed::Done(report));
            }
            let existing = match table.version() {
                Some(_) => Some(table.snapshot()?.snapshot().arrow_schema()),
                None => None,
            };
            if let Some(existing) = &existing
                && !write::same_columns(existing, &schema)
            {
                write::delete_files(&store, &adds).await;
                return Ok(Windowed::ReadWhole(
                    "another writer changed the table's columns meanwhile",
                ));
            }
            let commit = CommitProperties::default()
                .with_application_transactions(vec![Transaction::new(&key.app_id, key.version)])
                .with_create_checkpoint(true);
            match write::commit_files(&table, &schema, adds.clone(), commit).await {
                Ok(_) => break,
                Err(e) if is_conflict(&e) && attempts < COMMIT_ATTEMPTS => {
                    table = self.table_or_empty(name).await?;
                }
                Err(e) if is_conflict(&e) => {
                    write::delete_files(&store, &adds).await;
                    return Ok(Windowed::ReadWhole(
                        "its commit kept losing to other writers",
                    ));
                }
                Err(e) => {
                    write::delete_files(&store, &adds).await;
                    return Err(crate::Error::from_write(name, e));
                }
            }
        }
        report.tables[0].written = Some(run.rows);
        failpoint("ingest:before-log");
        if let Some(p) = &options.read.progress {
            p.set_phase("recording the ingest");
        }
        let log = ingests_batch(&report, "ingest", now);
        self.append(INGESTS, vec![log], &log_key, &[], false)
            .await?;
        Ok(Windowed::Done(report))
    }
}

/// The report of content found already ingested while it was being read.
fn already(stream: &DelimitedStream, name: &str, sha: String) -> IngestReport {
    IngestReport {
        source: stream.name().to_string(),
        sha256: sha,
        format: stream.format(),
        records: 0,
        tables: vec![TableReport {
            table: name.to_string(),
            rows: 0,
            written: None,
        }],
        rejects: Vec::new(),
        renamed: stream.renamed().to_vec(),
        already_ingested: true,
        preview: Vec::new(),
        windows: stream.windows(),
    }
}

/// The state of one window-by-window ingest.
struct Run {
    /// Out while a window is read on a blocking thread, back between windows.
    stream: Option<DelimitedStream>,
    writers: Option<StreamWriters>,
    /// The columns of the first window's rows, which every window must have.
    schema: Option<SchemaRef>,
    rows: usize,
    records: usize,
    checked_hash: bool,
}

/// `batch` with each column that is NULL on every row and typed otherwise than in
/// `first` (a window where a sparse column has no value infers text for it) given
/// `first`'s type: a whole read infers the column's type from the rows that have values.
fn nulls_as(batch: RecordBatch, first: &SchemaRef) -> RecordBatch {
    let schema = batch.schema();
    if schema == *first || schema.fields().len() != first.fields().len() {
        return batch;
    }
    let mut changed = false;
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .zip(schema.fields().iter().zip(first.fields()))
        .map(|(column, (mine, theirs))| {
            if mine.name() == theirs.name()
                && mine.data_type() != theirs.data_type()
                && column.null_count() == column.len()
            {
                changed = true;
                new_null_array(theirs.data_type(), column.len())
            } else {
                column.clone()
            }
        })
        .collect();
    if !changed {
        return batch;
    }
    RecordBatch::try_new(first.clone(), columns).unwrap_or(batch)
}

/// Reads the next window and types it as a whole read types a source.
fn next_typed(
    stream: &mut DelimitedStream,
    known: &HashMap<String, Schema>,
    tags: &[(String, String)],
    now: i64,
) -> runlake_ingest::Result<Option<Typed>> {
    let Some(window) = stream.next_window()? else {
        return Ok(None);
    };
    let mut parsed = window.parsed;
    if !tags.is_empty() {
        parsed.set(tags);
    }
    let records = parsed.records;
    let (outs, rejects) = parsed.build(known, now, stream.name())?;
    Ok(Some(Typed {
        out: outs.into_iter().next(),
        bad_rows: rejects.len(),
        records,
        window: stream.windows() - 1,
    }))
}

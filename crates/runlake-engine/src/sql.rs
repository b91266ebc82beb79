//! The SQL session: a DataFusion context with every runlake function, the lake's tables
//! and views, and files queried by path. Statements that write (`CREATE TABLE [AS]`,
//! `INSERT INTO`, `CREATE VIEW`, `DROP TABLE`, `DROP VIEW`) act on the lake and persist;
//! the rest that would only change an in-memory catalog are refused (never a silently
//! lost table). `CREATE TEMPORARY VIEW` is the one explicit exception: it lasts for the
//! session.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, TableReference, plan_err};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::options::{ArrowReadOptions, JsonReadOptions};
use datafusion::execution::context::SessionContext;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::{DdlStatement, LogicalPlan, WriteOp};
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionConfig};
use datafusion::sql::parser::{DFParserBuilder, Statement};

use runlake_lake::Lake;

/// What a statement did: wrote to the lake (a one-line summary, and the rows written when
/// it wrote rows), or a query to stream.
#[derive(Debug)]
pub enum Outcome {
    Written { summary: String, rows: Option<u64> },
    Query(DataFrame),
}

/// How a session is opened (see [`Session::open_on`]).
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// Tables read at these versions; the rest at their latest.
    pub pins: HashMap<String, u64>,
    /// Let queries read files by path (never for a server).
    pub allow_files: bool,
    /// The runtime whose memory pool bounds the session's queries.
    pub runtime: Option<Arc<datafusion::execution::runtime_env::RuntimeEnv>>,
    /// A cluster (`df://HOST:PORT`) to run queries on instead of this process.
    pub cluster: Option<String>,
}

/// A SQL session over the lake.
pub struct Session {
    ctx: SessionContext,
    lake: Lake,
    warnings: Vec<String>,
    schema: Arc<crate::catalog::LakeSchema>,
    allow_files: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("lake", &self.lake.location().to_string())
            .field("versions", &self.schema.versions())
            .finish()
    }
}

impl Session {
    /// Opens a session on `lake`, with every lake table and view registered, and files
    /// readable by path (`FROM 'runs.csv'`).
    pub async fn open(lake: Lake) -> Result<Self> {
        Self::open_pinned(lake, &HashMap::new(), true).await
    }

    /// Opens a session with the tables named in `pins` at those versions (the rest at
    /// their latest); `allow_files` lets queries read files by path (never for a server).
    pub async fn open_pinned(
        lake: Lake,
        pins: &HashMap<String, u64>,
        allow_files: bool,
    ) -> Result<Self> {
        Self::open_with(lake, pins, allow_files, None).await
    }

    /// Like [`Session::open_pinned`], running on `runtime` (its memory pool bounds the
    /// session's queries) when given.
    pub async fn open_with(
        lake: Lake,
        pins: &HashMap<String, u64>,
        allow_files: bool,
        runtime: Option<Arc<datafusion::execution::runtime_env::RuntimeEnv>>,
    ) -> Result<Self> {
        let options = SessionOptions {
            pins: pins.clone(),
            allow_files,
            runtime,
            cluster: None,
        };
        Self::open_on(lake, options).await
    }

    /// Opens a session as `options` say: pinned table versions, files by path, a runtime
    /// of its own, and a cluster to run queries on.
    pub async fn open_on(lake: Lake, options: SessionOptions) -> Result<Self> {
        let SessionOptions {
            pins,
            allow_files,
            runtime,
            cluster,
        } = options;
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema(runlake_lake::CATALOG, runlake_lake::SCHEMA)
            .with_option_extension(crate::RunlakeOptions::default());
        let mut state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(crate::ListScan))
            .with_physical_optimizer_rule(Arc::new(crate::IntKeyAggregate));
        if let Some(runtime) = runtime {
            state = state.with_runtime_env(runtime);
        }
        let mut state = state.build();
        if let Some(cluster) = &cluster {
            crate::cluster::reach(cluster).await?;
            state = crate::cluster::upgrade(state, cluster)?;
        }
        let ctx = SessionContext::new_with_state(state);
        let ctx = if allow_files {
            ctx.enable_url_table()
        } else {
            ctx
        };
        runlake_functions::register_all(&ctx)?;
        // The lake's tables, each loaded when a statement first names it.
        let schema = Arc::new(
            crate::catalog::LakeSchema::open(
                lake.clone(),
                ctx.runtime_env(),
                &pins,
                cluster.is_some(),
            )
            .await
            .map_err(lake_error)?,
        );
        let catalog = MemoryCatalogProvider::new();
        catalog.register_schema(runlake_lake::SCHEMA, Arc::clone(&schema) as _)?;
        ctx.register_catalog(runlake_lake::CATALOG, Arc::new(catalog));
        let warnings = crate::catalog::register_views(&lake, &ctx)
            .await
            .map_err(lake_error)?;
        Ok(Self {
            ctx,
            lake,
            warnings,
            schema,
            allow_files,
        })
    }

    /// The DataFusion context: every lake table, view and runlake function.
    pub fn ctx(&self) -> &SessionContext {
        &self.ctx
    }

    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    /// The version of each lake table this session has read so far (every table its
    /// planned statements name).
    pub fn versions(&self) -> HashMap<String, u64> {
        self.schema.versions()
    }

    /// What went wrong opening the session without stopping it (views that no longer
    /// plan).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Parses `text` into statements.
    pub fn parse(text: &str) -> Result<Vec<Statement>> {
        Ok(DFParserBuilder::new(text)
            .build()?
            .parse_statements()?
            .into())
    }

    /// Plans one statement (files named in it registered first when allowed).
    pub async fn plan(&self, statement: Statement) -> Result<LogicalPlan> {
        let state = self.ctx.state();
        if self.allow_files {
            for reference in state.resolve_table_references(&statement)? {
                self.register_file_reference(&reference).await?;
            }
        }
        state.statement_to_plan(statement).await
    }

    /// The first table `statement` reads or writes that this session does not have (a
    /// server answers NOT_FOUND from it, without reading DataFusion's message).
    pub fn missing_table(&self, statement: &Statement) -> Result<Option<String>> {
        for reference in self.ctx.state().resolve_table_references(statement)? {
            if !self.ctx.table_exist(reference.clone())? {
                return Ok(Some(reference.to_string()));
            }
        }
        Ok(None)
    }

    /// Runs a planned statement: writes act on the lake and persist; queries (and, for
    /// the local user, `SET` and `COPY ... TO`) come back as a DataFrame to stream;
    /// what the lake does not support is refused. Callers that serve other users check
    /// [`Effect::of`] first.
    pub async fn execute(&self, plan: LogicalPlan) -> Result<Outcome> {
        match Effect::of(&plan) {
            Effect::Unsupported(why) => Err(DataFusionError::Plan(why)),
            Effect::Write(_) | Effect::Drop(_) => {
                let (summary, rows) = self.write(plan).await?;
                Ok(Outcome::Written { summary, rows })
            }
            Effect::Read | Effect::Set(_) | Effect::Export => {
                Ok(Outcome::Query(self.ctx.execute_logical_plan(plan).await?))
            }
        }
    }

    /// Plans and runs one statement.
    pub async fn run(&self, statement: Statement) -> Result<Outcome> {
        let plan = self.plan(statement).await?;
        self.execute(plan).await
    }

    /// Runs a statement that writes to the lake: `CREATE TABLE [AS]`, `INSERT INTO` a lake
    /// table, `DROP TABLE`, `CREATE [OR REPLACE] VIEW`, `DROP VIEW`. Returns what it did
    /// and the rows it wrote.
    async fn write(&self, plan: LogicalPlan) -> Result<(String, Option<u64>)> {
        match plan {
            LogicalPlan::Ddl(DdlStatement::CreateView(ref create)) if !create.temporary => {
                let name = user_table_name(&create.name)?;
                if self.lake.table(&name).await.map_err(lake_error)?.is_some() {
                    return plan_err!("'{name}' is a table in the lake; a view needs another name");
                }
                let Some(statement) = create.definition.clone() else {
                    return plan_err!("CREATE VIEW {name}: the statement's text is not available");
                };
                // Creating it in this session first checks the name and the query.
                self.ctx.execute_logical_plan(plan.clone()).await?;
                self.lake
                    .save_view(&name, Some(&statement))
                    .await
                    .map_err(lake_error)?;
                Ok((format!("created view {name}"), None))
            }
            LogicalPlan::Ddl(DdlStatement::DropView(ref drop)) => {
                let name = lake_table_name(&drop.name)?;
                let persisted = self
                    .lake
                    .views()
                    .await
                    .map_err(lake_error)?
                    .iter()
                    .any(|(n, _)| *n == name);
                let live = self.ctx.table_exist(TableReference::full(
                    runlake_lake::CATALOG,
                    runlake_lake::SCHEMA,
                    name.clone(),
                ))?;
                if !persisted && !live {
                    return if drop.if_exists {
                        Ok((format!("no view {name}"), None))
                    } else {
                        plan_err!("DROP VIEW {name}: no such view")
                    };
                }
                if live {
                    self.ctx.execute_logical_plan(plan.clone()).await?;
                }
                if persisted {
                    self.lake.save_view(&name, None).await.map_err(lake_error)?;
                }
                Ok((format!("dropped view {name}"), None))
            }
            LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create)) => {
                let name = user_table_name(&create.name)?;
                if self.lake.table(&name).await.map_err(lake_error)?.is_some() {
                    if create.if_not_exists {
                        return Ok((format!("table {name} exists"), Some(0)));
                    }
                    if !create.or_replace {
                        return plan_err!(
                            "table '{name}' already exists in the lake (DROP TABLE {name} first, or use CREATE OR REPLACE TABLE)"
                        );
                    }
                    self.lake.drop_table(&name).await.map_err(lake_error)?;
                }
                let input = LogicalPlan::clone(&create.input);
                let rows = self.append(&name, input, "create").await?;
                Ok((
                    format!("created table {name} with {rows} rows"),
                    Some(rows as u64),
                ))
            }
            LogicalPlan::Dml(dml) if matches!(dml.op, WriteOp::Insert(_)) => {
                let name = user_table_name(&dml.table_name)?;
                if self.lake.table(&name).await.map_err(lake_error)?.is_none() {
                    return plan_err!("INSERT INTO {name}: no such table in the lake");
                }
                let rows = self
                    .append(&name, LogicalPlan::clone(&dml.input), "insert")
                    .await?;
                Ok((
                    format!("inserted {rows} rows into {name}"),
                    Some(rows as u64),
                ))
            }
            LogicalPlan::Ddl(DdlStatement::DropTable(drop)) => {
                let name = lake_table_name(&drop.name)?;
                match self.lake.drop_table(&name).await {
                    Ok(()) => {
                        let _ = self.ctx.deregister_table(TableReference::full(
                            runlake_lake::CATALOG,
                            runlake_lake::SCHEMA,
                            name.clone(),
                        ));
                        Ok((format!("dropped table {name}"), None))
                    }
                    Err(runlake_lake::Error::TableNotFound(_)) if drop.if_exists => {
                        Ok((format!("no table {name}"), None))
                    }
                    Err(e) => Err(lake_error(e)),
                }
            }
            other => Err(DataFusionError::Internal(format!(
                "not a statement the lake writes: {}",
                other.display()
            ))),
        }
    }

    /// Runs `input` and appends its rows to lake table `name` in one commit. The rows
    /// are held until the commit, and count against the session's memory pool (a
    /// server's per-query limit) while they are.
    async fn append(&self, name: &str, input: LogicalPlan, what: &str) -> Result<usize> {
        use datafusion::execution::memory_pool::MemoryConsumer;
        use futures::StreamExt;
        let df = self.ctx.execute_logical_plan(input).await?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let reservation = MemoryConsumer::new(format!("{what} into {name}"))
            .register(&self.ctx.runtime_env().memory_pool);
        let mut stream = df.execute_stream().await?;
        let mut batches = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            reservation.try_grow(batch.get_array_memory_size())?;
            batches.push(batch);
        }
        drop(stream);
        let rows = batches.iter().map(|b| b.num_rows()).sum();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let key = runlake_lake::CommitKey::new(format!("sql:{what}:{nanos}"));
        let batches = if batches.is_empty() {
            vec![datafusion::arrow::array::RecordBatch::new_empty(schema)]
        } else {
            batches
        };
        self.lake
            .append(name, batches, &key, &[], false)
            .await
            .map_err(lake_error)?;
        // Re-register so later statements see the new version.
        let _ = self.ctx.deregister_table(TableReference::full(
            runlake_lake::CATALOG,
            runlake_lake::SCHEMA,
            name.to_string(),
        ));
        let provider = if self.schema.is_cluster() {
            let files = self.lake.files_at(name, None).await.map_err(lake_error)?;
            Arc::new(crate::snapshot::SnapshotTable::new(name, files)) as _
        } else {
            self.lake.provider(name).await.map_err(lake_error)?
        };
        self.ctx.register_table(
            TableReference::full(
                runlake_lake::CATALOG,
                runlake_lake::SCHEMA,
                name.to_string(),
            ),
            provider,
        )?;
        Ok(rows)
    }

    /// A table reference that names an existing file (`FROM 'predictions.parquet'`) is
    /// registered as a table of that name, read with the format its name and content
    /// tell: Parquet, CSV, TSV, JSON lines or a JSON array, Arrow IPC; `.gz`, `.zst`,
    /// `.bz2` and `.xz` compressed text is read transparently.
    async fn register_file_reference(&self, reference: &TableReference) -> Result<()> {
        let TableReference::Bare { table } = reference else {
            return Ok(());
        };
        let path = table.as_ref();
        if !Path::new(path).is_file() || self.ctx.table_exist(reference.clone())? {
            return Ok(());
        }
        // DataFusion's readers do not name the file (a truncated Parquet file is only
        // "Corrupt footer"); the context keeps the error's kind for the server's codes.
        let df = read_file(&self.ctx, path)
            .await
            .map_err(|e| e.context(format!("reading '{path}'")))?;
        self.ctx
            .register_table(TableReference::bare(path), df.into_view())?;
        Ok(())
    }
}

/// The lake table a statement names (`t`, `public.t`, `runlake.public.t`).
fn lake_table_name(reference: &TableReference) -> Result<String> {
    if let Some(schema) = reference.schema()
        && schema != runlake_lake::SCHEMA
    {
        return plan_err!(
            "tables can only be created in schema '{}' of the lake, not '{schema}'",
            runlake_lake::SCHEMA
        );
    }
    let name = reference.table().to_string();
    runlake_lake::validate_table_name(&name).map_err(lake_error)?;
    Ok(name)
}

/// The lake table a statement creates or inserts into: not one of the lake's own
/// (`_ingests`, `_rejects`, ...), which only the lake writes, so their records stay true.
fn user_table_name(reference: &TableReference) -> Result<String> {
    let name = lake_table_name(reference)?;
    if name.starts_with('_') {
        return plan_err!(
            "'{name}' is one of the lake's own tables (names starting with '_'): only the lake writes them"
        );
    }
    Ok(name)
}

pub fn lake_error(e: runlake_lake::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

async fn read_file(ctx: &SessionContext, path: &str) -> Result<datafusion::dataframe::DataFrame> {
    let lower = path.to_ascii_lowercase();
    let (stem, compression) = [
        (".gz", FileCompressionType::GZIP),
        (".zst", FileCompressionType::ZSTD),
        (".bz2", FileCompressionType::BZIP2),
        (".xz", FileCompressionType::XZ),
    ]
    .into_iter()
    .find_map(|(ext, c)| lower.strip_suffix(ext).map(|s| (s.to_string(), c)))
    .unwrap_or((lower.clone(), FileCompressionType::UNCOMPRESSED));
    let extension = &lower[stem.rfind('.').unwrap_or(stem.len())..];
    // The full suffix, so the listing accepts the file.
    let suffix = &lower[stem.rfind('.').unwrap_or(stem.len())..];
    match Path::new(&stem)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
    {
        "parquet" => {
            ctx.read_parquet(path, ParquetReadOptions::default().file_extension(suffix))
                .await
        }
        "arrow" | "ipc" | "feather" => {
            ctx.read_arrow(
                path,
                ArrowReadOptions {
                    file_extension: suffix,
                    ..Default::default()
                },
            )
            .await
        }
        "csv" => {
            ctx.read_csv(
                path,
                CsvReadOptions::new()
                    .file_extension(suffix)
                    .file_compression_type(compression),
            )
            .await
        }
        "tsv" | "tab" => {
            ctx.read_csv(
                path,
                CsvReadOptions::new()
                    .delimiter(b'\t')
                    .file_extension(suffix)
                    .file_compression_type(compression),
            )
            .await
        }
        "json" | "jsonl" | "ndjson" => {
            let is_array =
                compression == FileCompressionType::UNCOMPRESSED && starts_with_bracket(path)?;
            let mut options = JsonReadOptions::default()
                .file_extension(suffix)
                .file_compression_type(compression);
            options.newline_delimited = !is_array;
            ctx.read_json(path, options).await
        }
        _ => plan_err!(
            "cannot tell the format of '{path}' from its name (expected .parquet, .csv, .tsv, .json, .jsonl, .ndjson or .arrow, optionally compressed with .gz, .zst, .bz2 or .xz); extension '{extension}'"
        ),
    }
}

/// Whether a JSON file holds an array (`[{...}, ...]`) rather than JSON lines.
fn starts_with_bracket(path: &str) -> Result<bool> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut buf = [0u8; 4096];
    let n = file.read(&mut buf)?;
    Ok(buf[..n]
        .iter()
        .find(|b| !b.is_ascii_whitespace() && **b != 0xEF && **b != 0xBB && **b != 0xBF)
        .is_some_and(|&b| b == b'['))
}

/// What a planned statement does, read from its logical plan (never from its text).
/// Every entry point (the shell, reports, each Flight SQL call) asks this before it runs
/// a statement, and the server's role check is a function of it alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Reads only: a query, `EXPLAIN` without `ANALYZE`, `DESCRIBE`, a temporary view
    /// (it lasts for the session).
    Read,
    /// Adds to the lake: `CREATE TABLE [AS]`, `INSERT INTO`, `CREATE VIEW`.
    Write(&'static str),
    /// Removes from the lake: `DROP TABLE`, `DROP VIEW`, and the `CREATE OR REPLACE`
    /// forms, which drop what they replace.
    Drop(&'static str),
    /// Sets (or resets) a session option.
    Set(String),
    /// Writes files outside the lake: `COPY ... TO`.
    Export,
    /// Not something the lake does; the reason says why and what to do instead.
    Unsupported(String),
}

impl Effect {
    /// What `plan` does. A plan that hides a write anywhere below its root (`EXPLAIN
    /// ANALYZE INSERT`, which would run the insert outside the lake's commit path, a
    /// `PREPARE` of a write) is `Unsupported`.
    pub fn of(plan: &LogicalPlan) -> Effect {
        use datafusion::logical_expr::dml::InsertOp;
        use datafusion::logical_expr::{Statement as Stmt, WriteOp::*};
        let unsupported = |what: &str| {
            Effect::Unsupported(format!(
                "{what} is not supported on the lake. The lake persists CREATE TABLE [AS], \
                 INSERT INTO, CREATE VIEW and DROP TABLE / VIEW"
            ))
        };
        match plan {
            LogicalPlan::Ddl(ddl) => match ddl {
                DdlStatement::CreateMemoryTable(c) if c.or_replace => {
                    Effect::Drop("CREATE OR REPLACE TABLE")
                }
                DdlStatement::CreateMemoryTable(_) => Effect::Write("CREATE TABLE"),
                DdlStatement::CreateView(v) if v.temporary => Effect::Read,
                DdlStatement::CreateView(v) if v.or_replace => {
                    Effect::Drop("CREATE OR REPLACE VIEW")
                }
                DdlStatement::CreateView(_) => Effect::Write("CREATE VIEW"),
                DdlStatement::DropTable(_) => Effect::Drop("DROP TABLE"),
                DdlStatement::DropView(_) => Effect::Drop("DROP VIEW"),
                DdlStatement::CreateExternalTable(_) => Effect::Unsupported(
                    "CREATE EXTERNAL TABLE is not supported: the lake reads only its own \
                     tables (ingest a file with `runlake ingest`, or name it in a query \
                     in `runlake sql`)"
                        .into(),
                ),
                DdlStatement::CreateCatalog(_) | DdlStatement::CreateCatalogSchema(_) => {
                    unsupported("CREATE SCHEMA")
                }
                DdlStatement::DropCatalogSchema(_) => unsupported("DROP SCHEMA"),
                DdlStatement::CreateFunction(_) => unsupported("CREATE FUNCTION"),
                DdlStatement::DropFunction(_) => unsupported("DROP FUNCTION"),
                DdlStatement::CreateIndex(_) => unsupported("CREATE INDEX"),
            },
            LogicalPlan::Dml(dml) => match &dml.op {
                Insert(InsertOp::Append) => Effect::Write("INSERT"),
                Insert(InsertOp::Overwrite) => unsupported("INSERT OVERWRITE"),
                Insert(InsertOp::Replace) => unsupported("REPLACE INTO"),
                Delete => unsupported("DELETE (use `runlake forget SOURCE`)"),
                Update => unsupported("UPDATE"),
                Ctas => unsupported("a DataFrame's CREATE TABLE AS"),
                Truncate => unsupported("TRUNCATE"),
                other => unsupported(other.name()),
            },
            LogicalPlan::Copy(_) => Effect::Export,
            LogicalPlan::Statement(statement) => match statement {
                Stmt::SetVariable(set) => Effect::Set(set.variable.to_ascii_lowercase()),
                Stmt::ResetVariable(reset) => Effect::Set(reset.variable.to_ascii_lowercase()),
                Stmt::Prepare(prepare) => match Effect::of(&prepare.input) {
                    Effect::Read => Effect::Read,
                    _ => unsupported("PREPARE of a statement that is not a query"),
                },
                // Only queries can be prepared (above), so executing one reads.
                Stmt::Execute(_) | Stmt::Deallocate(_) => Effect::Read,
                Stmt::TransactionStart(_) | Stmt::TransactionEnd(_) => Effect::Unsupported(
                    "transactions are not supported: each statement is one atomic commit".into(),
                ),
            },
            // EXPLAIN only plans its statement; EXPLAIN ANALYZE runs it.
            LogicalPlan::Explain(_) => Effect::Read,
            LogicalPlan::Analyze(analyze) => match Effect::of(&analyze.input) {
                Effect::Read => Effect::Read,
                _ => Effect::Unsupported(
                    "EXPLAIN ANALYZE of a statement that writes is not supported: it would \
                     run the write outside the lake's commit path. Run the statement itself"
                        .into(),
                ),
            },
            query => {
                // A query's nodes, subqueries included, only read.
                let mut nested = None;
                let _ = query.apply_with_subqueries(|node| {
                    if matches!(
                        node,
                        LogicalPlan::Dml(_)
                            | LogicalPlan::Ddl(_)
                            | LogicalPlan::Copy(_)
                            | LogicalPlan::Statement(_)
                            | LogicalPlan::Analyze(_)
                    ) {
                        nested = Some(Effect::of(node));
                        return Ok(TreeNodeRecursion::Stop);
                    }
                    Ok(TreeNodeRecursion::Continue)
                });
                match nested {
                    None | Some(Effect::Read) => Effect::Read,
                    Some(_) => unsupported("a statement that writes inside a query"),
                }
            }
        }
    }
}

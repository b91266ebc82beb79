//! The SQL session: a DataFusion context with every runlake function, the lake's tables
//! and views, and files queried by path. Statements that write (`CREATE TABLE [AS]`,
//! `INSERT INTO`, `CREATE VIEW`, `DROP TABLE`, `DROP VIEW`) act on the lake and persist;
//! the rest that would only change an in-memory catalog are refused (never a silently
//! lost table). `CREATE TEMPORARY VIEW` is the one explicit exception: it lasts for the
//! session.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::common::{DataFusionError, Result, TableReference, plan_err};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::options::{ArrowReadOptions, JsonReadOptions};
use datafusion::execution::context::SessionContext;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::{DdlStatement, LogicalPlan, WriteOp};
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionConfig};
use datafusion::sql::parser::{DFParserBuilder, Statement};

use crate::Lake;

/// What a statement did: wrote to the lake (a one-line summary, and the rows written when
/// it wrote rows), or a query to stream.
#[derive(Debug)]
pub enum Outcome {
    Written { summary: String, rows: Option<u64> },
    Query(DataFrame),
}

/// A SQL session over the lake.
pub struct Session {
    ctx: SessionContext,
    lake: Lake,
    warnings: Vec<String>,
    versions: HashMap<String, u64>,
    allow_files: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("lake", &self.lake.location().to_string())
            .field("versions", &self.versions)
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
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema(crate::CATALOG, crate::SCHEMA);
        let mut state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(crate::ListScan))
            .with_physical_optimizer_rule(Arc::new(runlake_functions::IntKeyAggregate));
        if let Some(runtime) = runtime {
            state = state.with_runtime_env(runtime);
        }
        let ctx = SessionContext::new_with_state(state.build());
        let ctx = if allow_files {
            ctx.enable_url_table()
        } else {
            ctx
        };
        runlake_functions::register_all(&ctx)?;
        let versions = lake.register_pinned(&ctx, pins).await.map_err(lake_error)?;
        let warnings = lake.register_views(&ctx).await.map_err(lake_error)?;
        Ok(Self {
            ctx,
            lake,
            warnings,
            versions,
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

    /// The version of each lake table this session reads.
    pub fn versions(&self) -> &HashMap<String, u64> {
        &self.versions
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

    /// What a plan would write, if anything: `None` for a query, else the statement kind
    /// (`"CREATE TABLE"`, `"INSERT"`, `"DROP TABLE"`, ...).
    pub fn write_kind(plan: &LogicalPlan) -> Option<&'static str> {
        write_kind(plan)
    }

    /// Runs a planned statement: writes act on the lake and persist; queries come back
    /// as a DataFrame to stream; other catalog changes are refused.
    pub async fn execute(&self, plan: LogicalPlan) -> Result<Outcome> {
        if let Some((summary, rows)) = self.write(plan.clone()).await? {
            return Ok(Outcome::Written { summary, rows });
        }
        refuse_writes(&plan)?;
        Ok(Outcome::Query(self.ctx.execute_logical_plan(plan).await?))
    }

    /// Plans and runs one statement.
    pub async fn run(&self, statement: Statement) -> Result<Outcome> {
        let plan = self.plan(statement).await?;
        self.execute(plan).await
    }

    /// Runs a statement that writes to the lake: `CREATE TABLE [AS]`, `INSERT INTO` a lake
    /// table, `DROP TABLE`, `CREATE [OR REPLACE] VIEW`, `DROP VIEW`. Returns what it did,
    /// or `None` for any other statement.
    async fn write(&self, plan: LogicalPlan) -> Result<Option<(String, Option<u64>)>> {
        match plan {
            LogicalPlan::Ddl(DdlStatement::CreateView(ref create)) if !create.temporary => {
                let name = lake_table_name(&create.name)?;
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
                Ok(Some((format!("created view {name}"), None)))
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
                    crate::CATALOG,
                    crate::SCHEMA,
                    name.clone(),
                ))?;
                if !persisted && !live {
                    return if drop.if_exists {
                        Ok(Some((format!("no view {name}"), None)))
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
                Ok(Some((format!("dropped view {name}"), None)))
            }
            LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create)) => {
                let name = lake_table_name(&create.name)?;
                if self.lake.table(&name).await.map_err(lake_error)?.is_some() {
                    if create.if_not_exists {
                        return Ok(Some((format!("table {name} exists"), Some(0))));
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
                Ok(Some((
                    format!("created table {name} with {rows} rows"),
                    Some(rows as u64),
                )))
            }
            LogicalPlan::Dml(dml) if matches!(dml.op, WriteOp::Insert(_)) => {
                let name = lake_table_name(&dml.table_name)?;
                if self.lake.table(&name).await.map_err(lake_error)?.is_none() {
                    return plan_err!("INSERT INTO {name}: no such table in the lake");
                }
                let rows = self
                    .append(&name, LogicalPlan::clone(&dml.input), "insert")
                    .await?;
                Ok(Some((
                    format!("inserted {rows} rows into {name}"),
                    Some(rows as u64),
                )))
            }
            LogicalPlan::Ddl(DdlStatement::DropTable(drop)) => {
                let name = lake_table_name(&drop.name)?;
                match self.lake.drop_table(&name).await {
                    Ok(()) => {
                        let _ = self.ctx.deregister_table(TableReference::full(
                            crate::CATALOG,
                            crate::SCHEMA,
                            name.clone(),
                        ));
                        Ok(Some((format!("dropped table {name}"), None)))
                    }
                    Err(crate::Error::TableNotFound(_)) if drop.if_exists => {
                        Ok(Some((format!("no table {name}"), None)))
                    }
                    Err(e) => Err(lake_error(e)),
                }
            }
            _ => Ok(None),
        }
    }

    /// Runs `input` and appends its rows to lake table `name` in one commit.
    async fn append(&self, name: &str, input: LogicalPlan, what: &str) -> Result<usize> {
        let df = self.ctx.execute_logical_plan(input).await?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        let rows = batches.iter().map(|b| b.num_rows()).sum();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let key = crate::CommitKey::new(format!("sql:{what}:{nanos}"));
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
            crate::CATALOG,
            crate::SCHEMA,
            name.to_string(),
        ));
        let provider = self.lake.provider(name).await.map_err(lake_error)?;
        self.ctx.register_table(
            TableReference::full(crate::CATALOG, crate::SCHEMA, name.to_string()),
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
        let df = read_file(&self.ctx, path).await?;
        self.ctx
            .register_table(TableReference::bare(path), df.into_view())?;
        Ok(())
    }
}

/// The lake table a statement names (`t`, `public.t`, `runlake.public.t`).
fn lake_table_name(reference: &TableReference) -> Result<String> {
    if let Some(schema) = reference.schema()
        && schema != crate::SCHEMA
    {
        return plan_err!(
            "tables can only be created in schema '{}' of the lake, not '{schema}'",
            crate::SCHEMA
        );
    }
    let name = reference.table().to_string();
    crate::validate_table_name(&name).map_err(lake_error)?;
    Ok(name)
}

pub fn lake_error(e: crate::Error) -> DataFusionError {
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

/// The kind of change a plan makes to the catalog or the data, if any.
fn write_kind(plan: &LogicalPlan) -> Option<&'static str> {
    match plan {
        LogicalPlan::Ddl(ddl) => match ddl {
            DdlStatement::CreateMemoryTable(_) => Some("CREATE TABLE"),
            DdlStatement::CreateExternalTable(_) => Some("CREATE EXTERNAL TABLE"),
            DdlStatement::CreateView(v) if !v.temporary => Some("CREATE VIEW"),
            DdlStatement::CreateView(_) => Some("CREATE TEMPORARY VIEW"),
            DdlStatement::CreateCatalog(_) | DdlStatement::CreateCatalogSchema(_) => {
                Some("CREATE SCHEMA")
            }
            DdlStatement::DropTable(_) => Some("DROP TABLE"),
            DdlStatement::DropView(_) => Some("DROP VIEW"),
            DdlStatement::DropCatalogSchema(_) => Some("DROP SCHEMA"),
            DdlStatement::CreateFunction(_) => Some("CREATE FUNCTION"),
            DdlStatement::DropFunction(_) => Some("DROP FUNCTION"),
            DdlStatement::CreateIndex(_) => Some("CREATE INDEX"),
        },
        LogicalPlan::Dml(dml) => match dml.op {
            WriteOp::Insert(_) => Some("INSERT"),
            WriteOp::Delete => Some("DELETE"),
            WriteOp::Update => Some("UPDATE"),
            WriteOp::Ctas => Some("CREATE TABLE AS"),
            WriteOp::Truncate => Some("TRUNCATE"),
            WriteOp::MergeInto(_) => Some("MERGE"),
            _ => Some("this statement"),
        },
        _ => None,
    }
}

/// Refuses statements that would create, change or drop tables: they need the lake to
/// persist, and a table that silently vanishes when the command exits is worse than a
/// clear error. (The writes the lake persists never reach this check.)
fn refuse_writes(plan: &LogicalPlan) -> Result<()> {
    match write_kind(plan) {
        None | Some("CREATE TEMPORARY VIEW") => Ok(()),
        Some(what) => Err(DataFusionError::Plan(format!(
            "{what} is not supported on the lake yet: it would change only this session's \
             in-memory catalog and be silently lost when the command exits. The lake \
             persists CREATE TABLE [AS], INSERT INTO, CREATE VIEW and DROP TABLE / VIEW"
        ))),
    }
}

//! The Flight SQL service over the lake.
//!
//! Statements are planned at `GetFlightInfo` against a session of the lake's current
//! table versions; the ticket carries the SQL, the bound parameters and those versions
//! (`runlake.v1.StatementHandle`), so `DoGet` on any server re-plans exactly the same
//! query and streams it. A statement that writes runs once, at `GetFlightInfo` (or at
//! `DoPut` for the update commands), and its ticket carries its one-row result.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::metadata::SqlInfoData;
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, CommandGetCatalogs, CommandGetCrossReference,
    CommandGetDbSchemas, CommandGetExportedKeys, CommandGetImportedKeys, CommandGetPrimaryKeys,
    CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandGetXdbcTypeInfo,
    CommandPreparedStatementQuery, CommandPreparedStatementUpdate, CommandStatementIngest,
    CommandStatementQuery, CommandStatementUpdate, DoPutPreparedStatementResult, ProstMessageExt,
    SqlInfo, TableExistsOption, TableNotExistOption, TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse,
    IpcMessage, SchemaAsIpc, Ticket,
};
use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::{FileWriter, IpcWriteOptions, StreamWriter};
use datafusion::catalog::information_schema::INFORMATION_SCHEMA_TABLES;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::common::ParamValues;
use datafusion::common::TableReference;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::MemTable;
use datafusion::datasource::TableType;
use datafusion::logical_expr::dml::DmlStatement;
use datafusion::logical_expr::{LogicalPlan, Union, WriteOp};
use futures::{Stream, StreamExt, TryStreamExt, stream};
use prost::Message;
use runlake_lake::sql::{Outcome, Session};
use runlake_lake::{CATALOG, IngestOptions, Lake, SCHEMA};
use runlake_proto::v1 as proto;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::{Principal, Role, Tokens, Users, parse_basic};
use crate::convert::{number_placeholders, parameter_schema, row_parameters, to_wire, wire_schema};
use crate::error::{Error, Result};
use crate::limits::{Governor, Limits, with_deadline};
use crate::log::QueryLog;
use crate::metadata::{XDBC_TYPES, sql_info};

macro_rules! status {
    ($e:expr) => {
        $e.map_err(|e: Error| Status::from(e))
    };
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = std::result::Result<T, Status>> + Send + 'static>>;

/// The server's shared state.
struct Inner {
    lake: Lake,
    users: Option<Users>,
    tokens: Tokens,
    sql_info: SqlInfoData,
    governor: Governor,
    queries: Arc<QueryLog>,
}

/// runlake's Flight SQL service. Cheap to clone.
#[derive(Clone)]
pub struct RunlakeFlightSql {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RunlakeFlightSql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunlakeFlightSql")
            .field("lake", &self.inner.lake.location().to_string())
            .field("users", &self.inner.users.as_ref().map(|u| u.list().len()))
            .finish()
    }
}

/// The name of the lake's tables as a client sees their type.
const BASE_TABLE: &str = "BASE TABLE";
const VIEW: &str = "VIEW";

impl RunlakeFlightSql {
    /// A service over `lake`. Without `users`, every caller is the local user with every
    /// right (the server then listens on loopback only).
    pub async fn new(
        lake: Lake,
        users: Option<Users>,
        tokens: Tokens,
        limits: Limits,
    ) -> Result<Self> {
        let session = Session::open_pinned(lake.clone(), &HashMap::new(), false).await?;
        let mut functions: Vec<String> = session
            .ctx()
            .state()
            .aggregate_functions()
            .keys()
            .cloned()
            .collect();
        functions.sort();
        Ok(Self {
            inner: Arc::new(Inner {
                lake,
                users,
                tokens,
                sql_info: sql_info(&functions),
                governor: Governor::new(limits),
                queries: Arc::new(QueryLog::new(10_000)),
            }),
        })
    }

    /// Who is calling: the bearer token (or basic credentials) of the request.
    fn principal(&self, metadata: &MetadataMap) -> Result<Principal> {
        let Some(users) = &self.inner.users else {
            return Ok(Principal {
                user: "local".into(),
                role: Role::Admin,
            });
        };
        let value = metadata
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Error::Unauthenticated("sign in first: no authorization header".into())
            })?;
        if let Some(token) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        {
            return self.inner.tokens.verify(token.trim());
        }
        let (name, password) = parse_basic(value)?;
        users
            .verify(&name, &password)
            .map(|u| Principal {
                user: u.name.clone(),
                role: u.role,
            })
            .ok_or_else(|| Error::Unauthenticated("wrong user name or password".into()))
    }

    /// A session on the lake (tables pinned to `pins`), with its own share of the
    /// server's memory and the `system` tables.
    async fn session(&self, pins: &HashMap<String, u64>) -> Result<Session> {
        let runtime = self.inner.governor.runtime()?;
        let session =
            Session::open_with(self.inner.lake.clone(), pins, false, Some(runtime)).await?;
        let ctx = session.ctx();
        let system = Arc::new(MemorySchemaProvider::new());
        let queries = self.inner.queries.batch();
        system.register_table(
            "queries".into(),
            Arc::new(MemTable::try_new(queries.schema(), vec![vec![queries]])?),
        )?;
        // Lake tables shown under `system` (once the lake has them).
        for (name, table) in [
            ("ingests", runlake_lake::INGESTS),
            ("report_runs", runlake_lake::REPORT_RUNS),
            ("alerts", runlake_lake::ALERTS),
        ] {
            let reference = TableReference::full(CATALOG, SCHEMA, table);
            if let Ok(provider) = ctx.table_provider(reference).await {
                system.register_table(name.into(), provider)?;
            } else if let Some(empty) = runlake_lake::empty_system_table(table) {
                let provider = MemTable::try_new(empty.schema(), vec![vec![empty]])?;
                system.register_table(name.into(), Arc::new(provider))?;
            }
        }
        if let Some(catalog) = ctx.catalog(CATALOG) {
            catalog.register_schema("system", system)?;
        }
        Ok(session)
    }

    /// Plans one SQL statement (placeholders numbered) in `session`.
    async fn plan(&self, session: &Session, sql: &str) -> Result<LogicalPlan> {
        let mut statements = Session::parse(sql)?;
        if statements.len() != 1 {
            return Err(Error::InvalidArgument(format!(
                "expected one SQL statement, got {}",
                statements.len()
            )));
        }
        Ok(session.plan(statements.remove(0)).await?)
    }

    /// Plans `handle`'s statement: a query gets its wire schema and the table versions
    /// it reads; a statement that writes runs now (once per parameter row) and the handle
    /// keeps its result.
    async fn prepare_ticket(
        &self,
        principal: &Principal,
        mut handle: proto::StatementHandle,
    ) -> Result<(SchemaRef, proto::StatementHandle)> {
        let session = self.session(&HashMap::new()).await?;
        let plan = self.plan(&session, &handle.sql).await?;
        if let Some(kind) = Session::write_kind(&plan) {
            let tracker = self.inner.queries.start(&principal.user, &handle.sql);
            let written = self.write(principal, &session, plan, kind, &handle).await;
            match &written {
                Ok((_, rows)) => {
                    tracker
                        .rows()
                        .store((*rows).max(0) as u64, std::sync::atomic::Ordering::Relaxed);
                    tracker.finish(None);
                }
                Err(e) => tracker.finish(Some(e.to_string())),
            }
            let (summary, _) = written?;
            let batch = summary_batch(&summary);
            handle.result = ipc_stream(&batch.schema(), std::slice::from_ref(&batch))?;
            handle.parameters.clear();
            return Ok((batch.schema(), handle));
        }
        handle.table_versions = session
            .versions()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        let params = read_ipc(&handle.parameters)?;
        let schema = match bound_plans(&plan, &params)?.first() {
            Some(bound) => wire_schema(bound.schema().as_arrow()),
            None => wire_schema(plan.schema().as_arrow()),
        };
        Ok((schema, handle))
    }

    /// Runs a statement that writes, once per parameter row (once without parameters).
    /// Returns a summary and the rows written.
    async fn write(
        &self,
        principal: &Principal,
        session: &Session,
        plan: LogicalPlan,
        kind: &str,
        handle: &proto::StatementHandle,
    ) -> Result<(String, i64)> {
        let needed = if kind.starts_with("DROP") {
            Role::Admin
        } else {
            Role::Write
        };
        principal.require(needed, &format!("run {kind}"))?;
        let params = read_ipc(&handle.parameters)?;
        let mut runs = one_insert(bound_plans(&plan, &params)?)?;
        if runs.is_empty() {
            runs.push(plan);
        }
        let (mut summaries, mut total) = (Vec::new(), 0i64);
        for plan in runs {
            match session.execute(plan).await? {
                Outcome::Written { summary, rows } => {
                    total += rows.map_or(0, |r| r as i64);
                    summaries.push(summary);
                }
                Outcome::Query(_) => {}
            }
        }
        let summary = match summaries.len() {
            0 => "nothing to do".to_string(),
            1 => summaries.remove(0),
            n => format!("{n} statements: {total} rows written"),
        };
        Ok((summary, total))
    }

    /// Runs an update (`DoPut` of a statement or prepared statement): it must write.
    /// Returns the rows written.
    async fn update(&self, principal: &Principal, handle: &proto::StatementHandle) -> Result<i64> {
        let session = self.session(&HashMap::new()).await?;
        let plan = self.plan(&session, &handle.sql).await?;
        let Some(kind) = Session::write_kind(&plan) else {
            return Err(Error::InvalidArgument(
                "an update must be a statement that writes (INSERT, CREATE, DROP)".into(),
            ));
        };
        Ok(self.write(principal, &session, plan, kind, handle).await?.1)
    }

    /// The FlightInfo of a metadata command: its schema, and a ticket that is the command.
    fn metadata_info(
        &self,
        request: Request<FlightDescriptor>,
        schema: &Schema,
        command: Vec<u8>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        status!(self.principal(request.metadata()))?;
        Ok(Response::new(status!(Self::flight_info(
            schema,
            command,
            request.into_inner()
        ))?))
    }

    /// Streams what a ticket names, within the server's limits, recording the query.
    async fn stream_ticket(
        &self,
        principal: &Principal,
        handle: proto::StatementHandle,
    ) -> Result<BoxStream<arrow_flight::FlightData>> {
        if !handle.result.is_empty() {
            let batches = read_ipc(&handle.result)?;
            let schema = batches
                .first()
                .map(|b| b.schema())
                .unwrap_or_else(|| Arc::new(Schema::empty()));
            return Ok(encode(schema, stream::iter(batches.into_iter().map(Ok))));
        }
        let governor = &self.inner.governor;
        let slot = governor.slot().await?;
        let tracker = self.inner.queries.start(&principal.user, &handle.sql);
        let planned = governor
            .within_deadline(async {
                let pins: HashMap<String, u64> =
                    handle.table_versions.clone().into_iter().collect();
                let session = self.session(&pins).await?;
                let plan = self.plan(&session, &handle.sql).await?;
                let params = read_ipc(&handle.parameters)?;
                let mut plans = bound_plans(&plan, &params)?;
                if plans.is_empty() {
                    plans.push(plan);
                }
                let schema = wire_schema(plans[0].schema().as_arrow());
                let mut streams = Vec::new();
                for plan in plans {
                    let df = session.ctx().execute_logical_plan(plan).await?;
                    streams.push(df.execute_stream().await?);
                }
                Ok((schema, streams))
            })
            .await;
        let (schema, streams) = match planned {
            Ok(p) => p,
            Err(e) => {
                tracker.finish(Some(e.to_string()));
                return Err(e);
            }
        };
        let wire = schema.clone();
        let rows = tracker.rows();
        // Dropping the response stream (a client that goes away) drops these streams,
        // which cancels the query; the tracker then records it as cancelled.
        let batches = stream::iter(streams).flatten().map(move |batch| {
            let batch = batch
                .map_err(Error::from)
                .and_then(|b| to_wire(&b, &wire))?;
            rows.fetch_add(
                batch.num_rows() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            Ok(batch)
        });
        let limited = with_deadline(Box::pin(batches), governor.limits().query_timeout, Err);
        let tracked = stream::unfold(
            (Box::pin(limited), Some(tracker), Some(slot)),
            |(mut inner, mut tracker, slot)| async move {
                tracker.as_ref()?;
                match inner.next().await {
                    Some(Ok(batch)) => Some((Ok(batch), (inner, tracker, slot))),
                    Some(Err(e)) => {
                        if let Some(t) = tracker.take() {
                            t.finish(Some(e.to_string()));
                        }
                        Some((Err(flight_error(e)), (inner, None, None)))
                    }
                    None => {
                        if let Some(t) = tracker.take() {
                            t.finish(None);
                        }
                        None
                    }
                }
            },
        );
        Ok(encode(schema, tracked))
    }

    /// A FlightInfo with one endpoint (no location: the same connection) whose ticket is
    /// `ticket`.
    fn flight_info(
        schema: &Schema,
        ticket: Vec<u8>,
        descriptor: FlightDescriptor,
    ) -> Result<FlightInfo> {
        Ok(FlightInfo::new()
            .try_with_schema(schema)?
            .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket)))
            .with_descriptor(descriptor)
            .with_total_records(-1)
            .with_ordered(true))
    }

    fn statement_info(
        schema: &Schema,
        handle: &proto::StatementHandle,
        descriptor: FlightDescriptor,
    ) -> Result<FlightInfo> {
        let ticket = TicketStatementQuery {
            statement_handle: handle.encode_to_vec().into(),
        };
        Self::flight_info(schema, ticket.as_any().encode_to_vec(), descriptor)
    }

    /// Every (catalog, schema, table, type, provider) the session sees.
    async fn tables(
        &self,
        session: &Session,
    ) -> Result<Vec<(String, String, String, &'static str, Arc<dyn TableProvider>)>> {
        let ctx = session.ctx();
        let mut out = Vec::new();
        let mut catalogs = ctx.catalog_names();
        catalogs.sort();
        for catalog_name in catalogs {
            let Some(catalog) = ctx.catalog(&catalog_name) else {
                continue;
            };
            for schema_name in schema_names(session, &catalog_name) {
                let mut names = match catalog.schema(&schema_name) {
                    Some(schema) => schema.table_names(),
                    None if schema_name == INFORMATION_SCHEMA => INFORMATION_SCHEMA_TABLES
                        .iter()
                        .map(|t| t.to_string())
                        .collect(),
                    None => continue,
                };
                names.sort();
                for name in names {
                    let reference = TableReference::full(
                        catalog_name.as_str(),
                        schema_name.as_str(),
                        name.as_str(),
                    );
                    let Ok(table) = ctx.table_provider(reference).await else {
                        continue;
                    };
                    let kind = match table.table_type() {
                        TableType::Base => BASE_TABLE,
                        TableType::View => VIEW,
                        TableType::Temporary => "LOCAL TEMPORARY",
                    };
                    out.push((catalog_name.clone(), schema_name.clone(), name, kind, table));
                }
            }
        }
        Ok(out)
    }

    /// Bulk ingest through the lake's ingest: the batches become an Arrow IPC file
    /// ingested into `table` as `flight:USER`, with the same rules and idempotency (a
    /// hash of the data) as `runlake ingest`.
    async fn ingest(
        &self,
        principal: &Principal,
        cmd: CommandStatementIngest,
        batches: Vec<RecordBatch>,
    ) -> Result<i64> {
        principal.require(Role::Write, "ingest")?;
        if cmd.temporary {
            return Err(Error::InvalidArgument(
                "temporary tables are not supported: ingest into a lake table".into(),
            ));
        }
        if cmd.transaction_id.is_some() {
            return Err(Error::InvalidArgument(
                "transactions are not supported (each ingest is one atomic commit)".into(),
            ));
        }
        for (what, value, expected) in [
            ("catalog", &cmd.catalog, CATALOG),
            ("schema", &cmd.schema, SCHEMA),
        ] {
            if let Some(v) = value
                && !v.is_empty()
                && v != expected
            {
                return Err(Error::InvalidArgument(format!(
                    "ingest goes to {what} '{expected}', not '{v}'"
                )));
            }
        }
        let table = cmd.table.clone();
        runlake_lake::validate_table_name(&table)?;
        let lake = &self.inner.lake;
        let exists = lake.table(&table).await?.is_some();
        let options = cmd.table_definition_options.unwrap_or_default();
        match (exists, options.if_exists(), options.if_not_exist()) {
            (true, TableExistsOption::Fail, _) => {
                return Err(Error::InvalidArgument(format!(
                    "table '{table}' already exists"
                )));
            }
            (true, TableExistsOption::Replace, _) => {
                principal.require(Role::Admin, "replace a table")?;
                lake.drop_table(&table).await?;
            }
            (false, _, TableNotExistOption::Fail) => {
                return Err(Error::NotFound(format!("table '{table}' does not exist")));
            }
            _ => {}
        }
        let Some(schema) = batches.first().map(|b| b.schema()) else {
            return Ok(0);
        };
        let mut bytes = Vec::new();
        {
            let mut writer = FileWriter::try_new(&mut bytes, &schema)?;
            for b in &batches {
                writer.write(b)?;
            }
            writer.finish()?;
        }
        let source =
            runlake_ingest::Source::from_bytes(format!("flight:{}", principal.user), bytes)
                .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let options = IngestOptions {
            read: runlake_ingest::Options {
                format: Some(runlake_ingest::Format::Arrow),
                table: Some(table),
                ..Default::default()
            },
            ..Default::default()
        };
        let report = lake.ingest(&source, &options).await?;
        Ok(report
            .tables
            .iter()
            .map(|t| t.written.unwrap_or(0) as i64)
            .sum())
    }
}

const INFORMATION_SCHEMA: &str = "information_schema";

/// A catalog's schemas, `information_schema` included (DataFusion serves it beside the
/// catalog's own schemas).
fn schema_names(session: &Session, catalog: &str) -> Vec<String> {
    let mut names = session
        .ctx()
        .catalog(catalog)
        .map(|c| c.schema_names())
        .unwrap_or_default();
    if session.ctx().state().config().information_schema()
        && !names.iter().any(|n| n == INFORMATION_SCHEMA)
    {
        names.push(INFORMATION_SCHEMA.to_string());
    }
    names.sort();
    names
}

/// A table's wire schema with the `ARROW:FLIGHT:SQL:*` column metadata JDBC's
/// `getColumns` reads (type name, precision, scale, flags).
fn column_metadata(
    catalog: &str,
    schema: &str,
    table: &str,
    kind: &str,
    source: &Schema,
) -> Schema {
    let wire = wire_schema(source);
    let fields: Vec<Field> = wire
        .fields()
        .iter()
        .map(|f| {
            let (precision, scale) = match f.data_type() {
                DataType::Int8 => (3, 0),
                DataType::Int16 => (5, 0),
                DataType::Int32 => (10, 0),
                DataType::Int64 => (19, 0),
                DataType::Float32 => (24, 0),
                DataType::Float64 => (53, 0),
                DataType::Decimal128(p, s) => (i32::from(*p), i32::from(*s)),
                DataType::Timestamp(..) => (35, 9),
                _ => (0, 0),
            };
            let flag = |b: bool| if b { "1" } else { "0" }.to_string();
            let metadata: HashMap<String, String> = [
                ("CATALOG_NAME", catalog.to_string()),
                ("DB_SCHEMA_NAME", schema.to_string()),
                ("TABLE_NAME", table.to_string()),
                ("TYPE_NAME", sql_type_name(f.data_type())),
                ("PRECISION", precision.to_string()),
                ("SCALE", scale.to_string()),
                ("IS_AUTO_INCREMENT", flag(false)),
                (
                    "IS_CASE_SENSITIVE",
                    flag(matches!(f.data_type(), DataType::Utf8)),
                ),
                ("IS_READ_ONLY", flag(kind != BASE_TABLE)),
                ("IS_SEARCHABLE", flag(true)),
            ]
            .into_iter()
            .map(|(k, v)| (format!("ARROW:FLIGHT:SQL:{k}"), v))
            .collect();
            f.as_ref().clone().with_metadata(metadata)
        })
        .collect();
    Schema::new(fields)
}

/// The SQL name of a wire type, as `GetXdbcTypeInfo` lists them.
fn sql_type_name(dt: &DataType) -> String {
    match dt {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 | DataType::UInt8 => "TINYINT".into(),
        DataType::Int16 | DataType::UInt16 => "SMALLINT".into(),
        DataType::Int32 | DataType::UInt32 => "INTEGER".into(),
        DataType::Int64 | DataType::UInt64 => "BIGINT".into(),
        DataType::Float16 | DataType::Float32 => "REAL".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Decimal128(..) | DataType::Decimal256(..) => "DECIMAL".into(),
        DataType::Utf8 | DataType::LargeUtf8 => "VARCHAR".into(),
        DataType::Binary | DataType::LargeBinary | DataType::FixedSizeBinary(_) => "BINARY".into(),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Timestamp(..) => "TIMESTAMP".into(),
        DataType::Interval(_) | DataType::Duration(_) => "INTERVAL".into(),
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            format!("{} ARRAY", sql_type_name(f.data_type()))
        }
        other => other.to_string().to_uppercase(),
    }
}

/// One `result` row saying what a write did.
fn summary_batch(summary: &str) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "result",
        DataType::Utf8,
        true,
    )]));
    RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(vec![summary]))])
        .expect("one text column")
}

fn ipc_stream(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    {
        let mut writer = StreamWriter::try_new(&mut bytes, schema)?;
        for b in batches {
            writer.write(b)?;
        }
        writer.finish()?;
    }
    Ok(bytes)
}

fn read_ipc(bytes: &[u8]) -> Result<Vec<RecordBatch>> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let reader = StreamReader::try_new(std::io::Cursor::new(bytes), None)?;
    Ok(reader.collect::<std::result::Result<Vec<_>, _>>()?)
}

fn schema_bytes(schema: &Schema) -> Result<Vec<u8>> {
    let message: IpcMessage = SchemaAsIpc::new(schema, &IpcWriteOptions::default()).try_into()?;
    Ok(message.0.to_vec())
}

fn encode(
    schema: SchemaRef,
    batches: impl Stream<Item = std::result::Result<RecordBatch, FlightError>> + Send + 'static,
) -> BoxStream<arrow_flight::FlightData> {
    Box::pin(
        FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(batches)
            .map_err(Status::from),
    )
}

fn flight_error(e: Error) -> FlightError {
    FlightError::Tonic(Box::new(Status::from(e)))
}

fn one_batch(batch: RecordBatch) -> BoxStream<arrow_flight::FlightData> {
    encode(batch.schema(), stream::once(async { Ok(batch) }))
}

/// `plan` with each parameter row bound (none without parameters). Schemas are
/// recomputed, so a placeholder selected as a column takes its value's type.
fn bound_plans(plan: &LogicalPlan, params: &[RecordBatch]) -> Result<Vec<LogicalPlan>> {
    let mut out = Vec::new();
    for batch in params {
        for row in 0..batch.num_rows() {
            let values = row_parameters(plan, batch, row)?;
            let bound = plan.clone().with_param_values(ParamValues::List(values))?;
            let bound = bound
                .transform_up(|p| p.recompute_schema().map(Transformed::yes))?
                .data;
            out.push(bound);
        }
    }
    Ok(out)
}

/// An INSERT bound to several parameter rows (`executemany`) as one INSERT of all their
/// rows: one commit, and none at all when a row fails. Other statements stay one run
/// per parameter row.
fn one_insert(runs: Vec<LogicalPlan>) -> Result<Vec<LogicalPlan>> {
    let inserts: Option<Vec<&DmlStatement>> = runs
        .iter()
        .map(|p| match p {
            LogicalPlan::Dml(dml) if matches!(dml.op, WriteOp::Insert(_)) => Some(dml),
            _ => None,
        })
        .collect();
    let Some(inserts) = inserts.filter(|i| i.len() > 1) else {
        return Ok(runs);
    };
    let first = inserts[0];
    if inserts
        .iter()
        .any(|d| d.table_name != first.table_name || d.op != first.op)
    {
        return Ok(runs);
    }
    let inputs: Vec<Arc<LogicalPlan>> = inserts.iter().map(|d| Arc::clone(&d.input)).collect();
    let union = Union::try_new_with_loose_types(inputs)?;
    let mut merged = first.clone();
    merged.input = Arc::new(LogicalPlan::Union(union));
    Ok(vec![LogicalPlan::Dml(merged)])
}

fn decode_handle(bytes: &[u8]) -> Result<proto::StatementHandle> {
    Ok(proto::StatementHandle::decode(bytes)?)
}

/// The parameter batches of a DoPut.
async fn read_batches(request: Request<PeekableFlightDataStream>) -> Result<Vec<RecordBatch>> {
    let stream = request.into_inner().map_err(FlightError::from);
    let batches: Vec<RecordBatch> =
        arrow_flight::decode::FlightRecordBatchStream::new_from_flight_data(stream)
            .try_collect()
            .await
            .map_err(|e| Error::InvalidArgument(format!("reading the uploaded data: {e}")))?;
    Ok(batches)
}

/// The typed, empty answer of the key commands: the lake has no keys.
fn keys_schema(primary: bool) -> SchemaRef {
    let text = |n: &str, nullable: bool| Field::new(n, DataType::Utf8, nullable);
    if primary {
        return Arc::new(Schema::new(vec![
            text("catalog_name", true),
            text("db_schema_name", true),
            text("table_name", false),
            text("column_name", false),
            text("key_name", true),
            Field::new("key_sequence", DataType::Int32, false),
        ]));
    }
    Arc::new(Schema::new(vec![
        text("pk_catalog_name", true),
        text("pk_db_schema_name", true),
        text("pk_table_name", false),
        text("pk_column_name", false),
        text("fk_catalog_name", true),
        text("fk_db_schema_name", true),
        text("fk_table_name", false),
        text("fk_column_name", false),
        Field::new("key_sequence", DataType::Int32, false),
        text("fk_key_name", true),
        text("pk_key_name", true),
        Field::new("update_rule", DataType::UInt8, false),
        Field::new("delete_rule", DataType::UInt8, false),
    ]))
}

const SET_SESSION_OPTIONS: &str = "SetSessionOptions";
const GET_SESSION_OPTIONS: &str = "GetSessionOptions";
const CLOSE_SESSION: &str = "CloseSession";

fn string_option(value: &str) -> proto::SessionOptionValue {
    proto::SessionOptionValue {
        option_value: Some(proto::session_option_value::OptionValue::StringValue(
            value.to_string(),
        )),
    }
}

#[tonic::async_trait]
impl FlightSqlService for RunlakeFlightSql {
    type FlightService = RunlakeFlightSql;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> std::result::Result<Response<BoxStream<HandshakeResponse>>, Status> {
        let principal = match &self.inner.users {
            None => Principal {
                user: "local".into(),
                role: Role::Admin,
            },
            Some(users) => {
                let value = request
                    .metadata()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        Status::unauthenticated(
                            "sign in with basic credentials (user and password)",
                        )
                    })?;
                let (name, password) = status!(parse_basic(value))?;
                let user = users.verify(&name, &password).ok_or_else(|| {
                    Status::from(Error::Unauthenticated("wrong user name or password".into()))
                })?;
                Principal {
                    user: user.name.clone(),
                    role: user.role,
                }
            }
        };
        let token = self.inner.tokens.issue(&principal);
        let reply = HandshakeResponse {
            protocol_version: 0,
            payload: token.clone().into_bytes().into(),
        };
        let mut response: Response<BoxStream<HandshakeResponse>> =
            Response::new(Box::pin(stream::iter(vec![Ok(reply)])));
        let header = format!("Bearer {token}")
            .parse()
            .map_err(|_| Status::internal("a token that is not a header value"))?;
        response.metadata_mut().insert("authorization", header);
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        let principal = status!(self.principal(request.metadata()))?;
        let handle = proto::StatementHandle {
            sql: number_placeholders(&query.query),
            ..Default::default()
        };
        let governor = &self.inner.governor;
        let _slot = status!(governor.slot().await)?;
        let (schema, handle) = status!(
            governor
                .within_deadline(self.prepare_ticket(&principal, handle))
                .await
        )?;
        let info = status!(Self::statement_info(&schema, &handle, request.into_inner()))?;
        Ok(Response::new(info))
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        let principal = status!(self.principal(request.metadata()))?;
        let handle = status!(decode_handle(&cmd.prepared_statement_handle))?;
        let governor = &self.inner.governor;
        let _slot = status!(governor.slot().await)?;
        let (schema, handle) = status!(
            governor
                .within_deadline(self.prepare_ticket(&principal, handle))
                .await
        )?;
        let info = status!(Self::statement_info(&schema, &handle, request.into_inner()))?;
        Ok(Response::new(info))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<BoxStream<arrow_flight::FlightData>>, Status> {
        let principal = status!(self.principal(request.metadata()))?;
        let handle = status!(decode_handle(&ticket.statement_handle))?;
        Ok(Response::new(status!(
            self.stream_ticket(&principal, handle).await
        )?))
    }

    async fn do_get_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<BoxStream<arrow_flight::FlightData>>, Status> {
        let principal = status!(self.principal(request.metadata()))?;
        let handle = status!(decode_handle(&cmd.prepared_statement_handle))?;
        Ok(Response::new(status!(
            self.stream_ticket(&principal, handle).await
        )?))
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> std::result::Result<ActionCreatePreparedStatementResult, Status> {
        status!(self.principal(request.metadata()))?;
        let sql = number_placeholders(&query.query);
        let result: Result<ActionCreatePreparedStatementResult> = async {
            let session = self.session(&HashMap::new()).await?;
            let plan = self.plan(&session, &sql).await?;
            let dataset = if Session::write_kind(&plan).is_some() {
                summary_batch("").schema()
            } else {
                wire_schema(plan.schema().as_arrow())
            };
            let handle = proto::StatementHandle {
                sql,
                ..Default::default()
            };
            Ok(ActionCreatePreparedStatementResult {
                prepared_statement_handle: handle.encode_to_vec().into(),
                dataset_schema: schema_bytes(&dataset)?.into(),
                parameter_schema: schema_bytes(parameter_schema(&plan)?.as_ref())?.into(),
            })
        }
        .await;
        status!(result)
    }

    async fn do_action_close_prepared_statement(
        &self,
        _query: ActionClosePreparedStatementRequest,
        _request: Request<Action>,
    ) -> std::result::Result<(), Status> {
        // Handles are stateless: there is nothing to release.
        Ok(())
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> std::result::Result<DoPutPreparedStatementResult, Status> {
        status!(self.principal(request.metadata()))?;
        let mut handle = status!(decode_handle(&query.prepared_statement_handle))?;
        let batches = status!(read_batches(request).await)?;
        handle.parameters = match batches.first() {
            Some(first) => status!(ipc_stream(&first.schema(), &batches))?,
            None => Vec::new(),
        };
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(handle.encode_to_vec().into()),
        })
    }

    async fn do_put_prepared_statement_update(
        &self,
        query: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> std::result::Result<i64, Status> {
        let principal = status!(self.principal(request.metadata()))?;
        let mut handle = status!(decode_handle(&query.prepared_statement_handle))?;
        let batches = status!(read_batches(request).await)?;
        if let Some(first) = batches.first() {
            handle.parameters = status!(ipc_stream(&first.schema(), &batches))?;
        }
        status!(self.update(&principal, &handle).await)
    }

    async fn do_put_statement_update(
        &self,
        cmd: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> std::result::Result<i64, Status> {
        let principal = status!(self.principal(request.metadata()))?;
        let handle = proto::StatementHandle {
            sql: number_placeholders(&cmd.query),
            ..Default::default()
        };
        status!(self.update(&principal, &handle).await)
    }

    async fn do_put_statement_ingest(
        &self,
        cmd: CommandStatementIngest,
        request: Request<PeekableFlightDataStream>,
    ) -> std::result::Result<i64, Status> {
        let principal = status!(self.principal(request.metadata()))?;
        principal
            .require(Role::Write, "ingest")
            .map_err(Status::from)?;
        let batches = status!(read_batches(request).await)?;
        status!(self.ingest(&principal, cmd, batches).await)
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        self.metadata_info(request, &schema, query.as_any().encode_to_vec())
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<BoxStream<arrow_flight::FlightData>>, Status> {
        status!(self.principal(request.metadata()))?;
        let session = status!(self.session(&HashMap::new()).await)?;
        let mut builder = query.into_builder();
        let mut names = session.ctx().catalog_names();
        names.sort();
        for name in names {
            builder.append(name);
        }
        let batch = builder.build().map_err(|e| Status::from(Error::from(e)))?;
        Ok(Response::new(one_batch(batch)))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        self.metadata_info(request, &schema, query.as_any().encode_to_vec())
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<BoxStream<arrow_flight::FlightData>>, Status> {
        status!(self.principal(request.metadata()))?;
        let session = status!(self.session(&HashMap::new()).await)?;
        let mut builder = query.into_builder();
        let ctx = session.ctx();
        let mut catalogs = ctx.catalog_names();
        catalogs.sort();
        for catalog in catalogs {
            for schema in schema_names(&session, &catalog) {
                builder.append(&catalog, schema);
            }
        }
        let batch = builder.build().map_err(|e| Status::from(Error::from(e)))?;
        Ok(Response::new(one_batch(batch)))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        self.metadata_info(request, &schema, query.as_any().encode_to_vec())
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<BoxStream<arrow_flight::FlightData>>, Status> {
        status!(self.principal(request.metadata()))?;
        let session = status!(self.session(&HashMap::new()).await)?;
        let tables = status!(self.tables(&session).await)?;
        let mut builder = query.into_builder();
        for (catalog, schema, name, kind, provider) in tables {
            let wire = column_metadata(&catalog, &schema, &name, kind, &provider.schema());
            builder
                .append(catalog, schema, name, kind, &wire)
                .map_err(|e| Status::from(Error::from(e)))?;
        }
        let batch = builder.build().map_err(|e| Status::from(Error::from(e)))?;
        Ok(Response::new(one_batch(batch)))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        self.metadata_info(request, &schema, query.as_any().encode_to_vec())
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<BoxStream<arrow_flight::FlightData>>, Status> {
        status!(self.principal(request.metadata()))?;
        let mut builder = query.into_builder();
        builder.append(BASE_TABLE);
        builder.append(VIEW);
        let batch = builder.build().map_err(|e| Status::from(Error::from(e)))?;
        Ok(Response::new(one_batch(batch)))
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder(&self.inner.sql_info).schema();
        self.metadata_info(request, &schema, query.as_any().encode_to_vec())
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<BoxStream<arrow_flight::FlightData>>, Status> {
        status!(self.principal(request.metadata()))?;
        let batch = query
            .into_builder(&self.inner.sql_info)
            .build()
            .map_err(|e| Status::from(Error::from(e)))?;
        Ok(Response::new(one_batch(batch)))
    }

    async fn get_flight_info_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder(&XDBC_TYPES).schema();
        self.metadata_info(request, &schema, query.as_any().encode_to_vec())
    }

    async fn do_get_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<BoxStream<arrow_flight::FlightData>>, Status> {
        status!(self.principal(request.metadata()))?;
        let batch = query
            .into_builder(&XDBC_TYPES)
            .build()
            .map_err(|e| Status::from(Error::from(e)))?;
        Ok(Response::new(one_batch(batch)))
    }

    async fn get_flight_info_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        self.metadata_info(request, &keys_schema(true), query.as_any().encode_to_vec())
    }

    async fn do_get_primary_keys(
        &self,
        _query: CommandGetPrimaryKeys,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<BoxStream<arrow_flight::FlightData>>, Status> {
        status!(self.principal(request.metadata()))?;
        Ok(Response::new(one_batch(RecordBatch::new_empty(
            keys_schema(true),
        ))))
    }

    async fn get_flight_info_exported_keys(
        &self,
        query: CommandGetExportedKeys,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        self.metadata_info(request, &keys_schema(false), query.as_any().encode_to_vec())
    }

    async fn do_get_exported_keys(
        &self,
        _query: CommandGetExportedKeys,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<BoxStream<arrow_flight::FlightData>>, Status> {
        status!(self.principal(request.metadata()))?;
        Ok(Response::new(one_batch(RecordBatch::new_empty(
            keys_schema(false),
        ))))
    }

    async fn get_flight_info_imported_keys(
        &self,
        query: CommandGetImportedKeys,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        self.metadata_info(request, &keys_schema(false), query.as_any().encode_to_vec())
    }

    async fn do_get_imported_keys(
        &self,
        _query: CommandGetImportedKeys,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<BoxStream<arrow_flight::FlightData>>, Status> {
        status!(self.principal(request.metadata()))?;
        Ok(Response::new(one_batch(RecordBatch::new_empty(
            keys_schema(false),
        ))))
    }

    async fn get_flight_info_cross_reference(
        &self,
        query: CommandGetCrossReference,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        self.metadata_info(request, &keys_schema(false), query.as_any().encode_to_vec())
    }

    async fn do_get_cross_reference(
        &self,
        _query: CommandGetCrossReference,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<BoxStream<arrow_flight::FlightData>>, Status> {
        status!(self.principal(request.metadata()))?;
        Ok(Response::new(one_batch(RecordBatch::new_empty(
            keys_schema(false),
        ))))
    }

    async fn do_action_fallback(
        &self,
        request: Request<Action>,
    ) -> std::result::Result<Response<<Self as FlightService>::DoActionStream>, Status> {
        status!(self.principal(request.metadata()))?;
        let action = request.into_inner();
        let body = match action.r#type.as_str() {
            SET_SESSION_OPTIONS => {
                let req = proto::SetSessionOptionsRequest::decode(action.body)
                    .map_err(|e| Status::from(Error::from(e)))?;
                // One catalog and schema hold the lake: accept those names, refuse others.
                let mut errors = std::collections::BTreeMap::new();
                for (name, value) in req.session_options {
                    let text = match value.option_value {
                        Some(proto::session_option_value::OptionValue::StringValue(s)) => s,
                        _ => String::new(),
                    };
                    let error = match name.as_str() {
                        "catalog" if text == CATALOG => None,
                        "schema" if text == SCHEMA => None,
                        "catalog" | "schema" => {
                            Some(proto::set_session_options_result::ErrorValue::InvalidValue)
                        }
                        _ => Some(proto::set_session_options_result::ErrorValue::InvalidName),
                    };
                    if let Some(e) = error {
                        errors.insert(
                            name,
                            proto::set_session_options_result::Error { value: e as i32 },
                        );
                    }
                }
                proto::SetSessionOptionsResult { errors }.encode_to_vec()
            }
            GET_SESSION_OPTIONS => proto::GetSessionOptionsResult {
                session_options: [
                    ("catalog".to_string(), string_option(CATALOG)),
                    ("schema".to_string(), string_option(SCHEMA)),
                ]
                .into_iter()
                .collect(),
            }
            .encode_to_vec(),
            CLOSE_SESSION => proto::CloseSessionResult {
                status: proto::close_session_result::Status::Closed as i32,
            }
            .encode_to_vec(),
            other => {
                return Err(Status::invalid_argument(format!(
                    "unknown action '{other}'"
                )));
            }
        };
        let result = arrow_flight::Result { body: body.into() };
        Ok(Response::new(Box::pin(stream::iter(vec![Ok(result)]))))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

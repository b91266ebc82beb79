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
use datafusion::catalog::TableProvider;
use datafusion::catalog::information_schema::INFORMATION_SCHEMA_TABLES;
use datafusion::common::ParamValues;
use datafusion::common::TableReference;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::TableType;
use datafusion::logical_expr::dml::DmlStatement;
use datafusion::logical_expr::{LogicalPlan, Union, WriteOp};
use futures::{Stream, StreamExt, TryStreamExt, stream};
use prost::Message;
use runlake_engine::sql::{Effect, Outcome, Session};
use runlake_lake::{CATALOG, IngestOptions, Lake, SCHEMA};
use runlake_proto::v1 as proto;
use tonic::{Request, Response, Status, Streaming};

use crate::access::authorize;
use crate::auth::{Principal, Role, SignInLimiter, Tokens, User, UsersFile, parse_basic};
use crate::convert::{number_placeholders, parameter_schema, row_parameters, to_wire, wire_schema};
use crate::error::{Error, Result};
use crate::limits::{Governor, Lease, Limits, deadline_exceeded};
use crate::log::QueryLog;
use crate::metadata::{XDBC_TYPES, sql_info};
use crate::planned::{Key, Planned};
use crate::system::SystemSchema;

macro_rules! status {
    ($e:expr) => {
        $e.map_err(|e: Error| Status::from(e))
    };
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = std::result::Result<T, Status>> + Send + 'static>>;

/// The server's shared state.
struct Inner {
    lake: Lake,
    users: Option<UsersFile>,
    tokens: Tokens,
    sql_info: SqlInfoData,
    governor: Governor,
    queries: Arc<QueryLog>,
    sign_ins: SignInLimiter,
    /// The cluster (`df://HOST:PORT`) queries run on, if any.
    cluster: Option<String>,
    /// Sessions and plans kept from one call of a statement to its next.
    planned: Planned,
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
            .field(
                "users",
                &self.inner.users.as_ref().map(|u| u.path().to_owned()),
            )
            .finish()
    }
}

/// The name of the lake's tables as a client sees their type.
const BASE_TABLE: &str = "BASE TABLE";
const VIEW: &str = "VIEW";

impl RunlakeFlightSql {
    /// A service over `lake`. Without `users`, every caller is the local user with every
    /// right (the server then listens on loopback only). With `cluster`, queries over
    /// lake tables run on that cluster; users, roles, tickets and limits are checked here
    /// as without it.
    pub async fn new(
        lake: Lake,
        users: Option<UsersFile>,
        tokens: Tokens,
        limits: Limits,
        cluster: Option<String>,
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
                // Ten failed sign-ins per address, then one more every two seconds.
                sign_ins: SignInLimiter::new(10, std::time::Duration::from_secs(2)),
                cluster,
                planned: Planned::default(),
            }),
        })
    }

    /// Runs `work` (given a clone of the service and the lease) on a query thread pool of
    /// its own: see [`crate::limits::Governor::workers`].
    async fn on_workers<T, F>(&self, work: impl FnOnce(Self, Lease) -> F) -> Result<T>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T>> + Send + 'static,
    {
        let lease = self.inner.governor.workers()?;
        let work = work(self.clone(), lease.clone());
        lease.run(work).await?
    }

    /// Who is calling: the bearer token (or basic credentials) of the request, checked
    /// against the users file as it is now.
    async fn caller<T>(&self, request: &Request<T>) -> Result<Principal> {
        let Some(users) = &self.inner.users else {
            return Ok(local_principal());
        };
        let value = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Error::Unauthenticated("sign in first: no authorization header".into())
            })?;
        if let Some(token) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        {
            let claims = self.inner.tokens.verify(token.trim())?;
            return Tokens::principal(&claims, users.current()?.as_ref());
        }
        let (name, password) = parse_basic(value)?;
        let user = self.sign_in(request, users, name, password).await?;
        Ok(Principal {
            user: user.name,
            role: user.role,
        })
    }

    /// Checks a user name and password, off the async threads (PBKDF2 is slow on
    /// purpose), refusing at once a peer with too many failures.
    async fn sign_in<T>(
        &self,
        request: &Request<T>,
        users: &UsersFile,
        name: String,
        password: String,
    ) -> Result<User> {
        let peer = request.remote_addr().map(|a| a.ip());
        self.inner.sign_ins.acquire(peer)?;
        let users = users.current()?;
        let found = tokio::task::spawn_blocking(move || users.verify(&name, &password).cloned())
            .await
            .map_err(|e| Error::Internal(format!("checking a password: {e}")))?;
        match found {
            Some(user) => {
                self.inner.sign_ins.succeeded(peer);
                Ok(user)
            }
            None => Err(Error::Unauthenticated("wrong user name or password".into())),
        }
    }

    /// A session on the lake (tables pinned to `pins`), with its own share of the
    /// server's memory and the `system` tables as `principal` may see them.
    async fn session(&self, principal: &Principal, pins: &HashMap<String, u64>) -> Result<Session> {
        let runtime = self.inner.governor.runtime()?;
        let options = runlake_engine::SessionOptions {
            pins: pins.clone(),
            allow_files: false,
            runtime: Some(runtime),
            cluster: self.inner.cluster.clone(),
        };
        let session = Session::open_on(self.inner.lake.clone(), options).await?;
        let ctx = session.ctx();
        let limits = self.inner.governor.limits();
        if let Some(limit) = limits.query_memory.or(limits.memory) {
            crate::values::bound_growing_functions(ctx, limit);
        }
        if let Some(catalog) = ctx.catalog(CATALOG)
            && let Some(lake) = catalog.schema(SCHEMA)
        {
            // Readers and writers see their own queries; admins see everyone's.
            let user = match principal.role {
                Role::Admin => None,
                _ => Some(principal.user.clone()),
            };
            let system = SystemSchema::new(self.inner.queries.clone(), user, lake);
            catalog.register_schema("system", Arc::new(system))?;
        }
        Ok(session)
    }

    /// Plans one SQL statement (placeholders numbered) in `session`, and checks that
    /// `principal` may run it: the one place every statement of every entry point is
    /// authorised, from its logical plan.
    async fn plan(
        &self,
        principal: &Principal,
        session: &Session,
        sql: &str,
    ) -> Result<(LogicalPlan, Effect)> {
        let mut statements = Session::parse(sql)?;
        if statements.len() != 1 {
            return Err(Error::InvalidArgument(format!(
                "expected one SQL statement, got {}",
                statements.len()
            )));
        }
        let statement = statements.remove(0);
        // Kept to tell, when planning fails, whether a table it names is missing (NOT_FOUND)
        // from the typed lookup, not from DataFusion's message.
        let named = statement.clone();
        let plan = match session.plan(statement).await {
            Ok(plan) => plan,
            Err(e) => {
                if let Some(table) = session.missing_table(&named)? {
                    return Err(runlake_lake::Error::TableNotFound(table).into());
                }
                return Err(e.into());
            }
        };
        let effect = Effect::of(&plan);
        authorize(principal, &effect)?;
        Ok((plan, effect))
    }

    /// Plans `handle`'s statement: a query gets its wire schema and the table versions
    /// it reads; a statement that writes runs now (once per parameter row) and the handle
    /// keeps its result.
    async fn prepare_ticket(
        &self,
        principal: &Principal,
        mut handle: proto::StatementHandle,
    ) -> Result<(SchemaRef, proto::StatementHandle)> {
        // The session and plan of the prepared statement this call follows, if any.
        let unpinned = Key::new(principal, &handle.sql, std::iter::empty());
        let kept = match self.inner.planned.take(&unpinned) {
            Some((session, plan, views)) if self.current(&session, &views).await? => {
                Some((session, plan))
            }
            _ => None,
        };
        let (session, plan, effect) = match kept {
            Some((session, plan)) => {
                let effect = Effect::of(&plan);
                (session, plan, effect)
            }
            None => {
                let session = self.session(principal, &HashMap::new()).await?;
                let (plan, effect) = self.plan(principal, &session, &handle.sql).await?;
                (session, plan, effect)
            }
        };
        if writes(&effect) {
            let tracker = self.inner.queries.start(&principal.user, &handle.sql);
            let written = self.write(&session, plan, &handle).await;
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
        // For the DoGet of this ticket: the same versions, so the same plan.
        let pinned = Key::new(principal, &handle.sql, &handle.table_versions);
        self.inner.planned.keep(pinned, session, plan, Vec::new());
        Ok((schema, handle))
    }

    /// [`Self::prepare_ticket`] in a query slot, within the deadline, on query threads.
    async fn ticket_on_workers(
        &self,
        principal: &Principal,
        handle: proto::StatementHandle,
    ) -> Result<(SchemaRef, proto::StatementHandle)> {
        let principal = principal.clone();
        self.on_workers(|this, _| async move {
            let governor = &this.inner.governor;
            let _slot = governor.slot().await?;
            governor
                .within_deadline(this.prepare_ticket(&principal, handle))
                .await
        })
        .await
    }

    /// Runs a statement that writes (already authorised), once per parameter row (once
    /// without parameters). Returns a summary and the rows written.
    async fn write(
        &self,
        session: &Session,
        plan: LogicalPlan,
        handle: &proto::StatementHandle,
    ) -> Result<(String, i64)> {
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
        let governor = &self.inner.governor;
        let _slot = governor.slot().await?;
        let session = self.session(principal, &HashMap::new()).await?;
        let (plan, effect) = self.plan(principal, &session, &handle.sql).await?;
        if !writes(&effect) {
            return Err(Error::InvalidArgument(
                "an update must be a statement that writes (INSERT, CREATE, DROP)".into(),
            ));
        }
        Ok(self.write(&session, plan, handle).await?.1)
    }

    /// The FlightInfo of a metadata command: its schema, and a ticket that is the command.
    async fn metadata_info(
        &self,
        request: Request<FlightDescriptor>,
        schema: &Schema,
        command: Vec<u8>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        status!(self.caller(&request).await)?;
        Ok(Response::new(status!(Self::flight_info(
            schema,
            command,
            request.into_inner()
        ))?))
    }

    /// Streams what a ticket names, within the server's limits, recording the query.
    ///
    /// The query runs in a task of its own that hands batches to the response through a
    /// small channel. Its time limit covers the whole stream; a client that stops reading
    /// for longer than the idle timeout has its query stopped and its slot released; a
    /// batch larger than the per-query memory limit ends the query.
    async fn stream_ticket(
        &self,
        principal: &Principal,
        handle: proto::StatementHandle,
        lease: Lease,
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
        let started = tokio::time::Instant::now();
        let tracker = self.inner.queries.start(&principal.user, &handle.sql);
        let planned = governor
            .within_deadline(async {
                let pins: HashMap<String, u64> =
                    handle.table_versions.clone().into_iter().collect();
                self.refuse_forgotten(&pins).await?;
                // The session and plan GetFlightInfo made for this ticket, if any.
                let (session, plan, effect) =
                    match self
                        .inner
                        .planned
                        .take(&Key::new(principal, &handle.sql, &pins))
                    {
                        // Pinned: the versions the ticket names, whatever came since.
                        Some((session, plan, _)) => {
                            let effect = Effect::of(&plan);
                            (session, plan, effect)
                        }
                        None => {
                            let session = self.session(principal, &pins).await?;
                            let (plan, effect) =
                                self.plan(principal, &session, &handle.sql).await?;
                            (session, plan, effect)
                        }
                    };
                if writes(&effect) {
                    return Err(Error::InvalidArgument(
                        "this ticket names a statement that writes but carries no result: \
                         run the statement again"
                            .into(),
                    ));
                }
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
        let limits = governor.limits().clone();
        let (sender, receiver) = tokio::sync::mpsc::channel(2);
        let wire = schema.clone();
        // On the query's own threads (this runs on them), which it holds to the end.
        tokio::spawn(async move {
            let (_slot, _lease) = (slot, lease);
            let end = produce(streams, &wire, &limits, started, &tracker, &sender).await;
            match end {
                Produced::Done => {
                    tracker.finish(None);
                    let idle = limits.idle_timeout.unwrap_or(std::time::Duration::MAX);
                    let _ = tokio::time::timeout(idle, sender.send(Item::Done)).await;
                }
                // The client went away: the tracker records a cancelled query.
                Produced::Gone => drop(tracker),
                Produced::Failed(e) => {
                    tracker.finish(Some(e.to_string()));
                    // A client that is not reading may never see this; the stream then
                    // ends without its final mark, which the response reports as an error.
                    let wait = limits
                        .idle_timeout
                        .unwrap_or(std::time::Duration::from_secs(10));
                    let _ = tokio::time::timeout(wait, sender.send(Item::Failed(Status::from(e))))
                        .await;
                }
            }
        });
        let batches = stream::unfold((receiver, false), |(mut receiver, ended)| async move {
            if ended {
                return None;
            }
            match receiver.recv().await {
                Some(Item::Batch(batch)) => Some((Ok(batch), (receiver, false))),
                Some(Item::Done) => None,
                Some(Item::Failed(status)) => {
                    Some((Err(FlightError::Tonic(Box::new(status))), (receiver, true)))
                }
                None => Some((
                    Err(FlightError::Tonic(Box::new(Status::aborted(
                        "the query was stopped before its result was complete",
                    )))),
                    (receiver, true),
                )),
            }
        });
        Ok(encode(schema, batches))
    }

    /// Whether `session` (planned with the lake's `views`) still reads what a session
    /// opened now would: each table it read at the table's latest version, and the same
    /// views. One HEAD per table from the snapshot cache when nothing changed.
    async fn current(&self, session: &Session, views: &[(String, String)]) -> Result<bool> {
        for (table, version) in session.versions() {
            if self.inner.lake.latest_version(&table).await? != Some(version) {
                return Ok(false);
            }
        }
        Ok(self.inner.lake.views().await? == views)
    }

    /// Refuses pinned table versions that a `forget` has deleted rows behind since: a
    /// ticket never shows rows the lake no longer holds.
    async fn refuse_forgotten(&self, pins: &HashMap<String, u64>) -> Result<()> {
        for (table, version) in pins {
            if self.inner.lake.deleted_since(table, *version).await? {
                return Err(Error::PermissionDenied(format!(
                    "ticket refused: rows of table '{table}' at version {version} were \
                     deleted since (runlake forget); run the statement again"
                )));
            }
        }
        Ok(())
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
        &self,
        principal: &Principal,
        schema: &Schema,
        handle: &proto::StatementHandle,
        descriptor: FlightDescriptor,
    ) -> Result<FlightInfo> {
        let ticket = TicketStatementQuery {
            statement_handle: self.seal(principal, handle).into(),
        };
        Self::flight_info(schema, ticket.as_any().encode_to_vec(), descriptor)
    }

    /// `handle` sealed for `principal`: what a client holds as a ticket or a prepared
    /// statement handle.
    fn seal(&self, principal: &Principal, handle: &proto::StatementHandle) -> Vec<u8> {
        self.inner
            .tokens
            .seal(&principal.user, handle.encode_to_vec())
    }

    /// The statement handle of a sealed ticket or prepared statement handle, if
    /// `principal` may use it.
    fn open(&self, principal: &Principal, sealed: &[u8]) -> Result<proto::StatementHandle> {
        let bytes = self.inner.tokens.open(&principal.user, sealed)?;
        Ok(proto::StatementHandle::decode(bytes.as_slice())?)
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
        if table.starts_with('_') {
            return Err(Error::PermissionDenied(format!(
                "'{table}' is one of the lake's own tables (names starting with '_'): only \
                 the lake writes them"
            )));
        }
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
            runlake_ingest::Source::from_bytes(format!("flight:{}", principal.user), bytes, &{
                let mut limits = runlake_ingest::InputLimits::default();
                if let Some(query) = self.inner.governor.limits().query_memory {
                    limits.max_bytes = limits.max_bytes.min(query as u64);
                }
                limits
            })
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
                (
                    "TYPE_NAME",
                    runlake_engine::types::sql_type_name(f.data_type()),
                ),
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

fn local_principal() -> Principal {
    Principal {
        user: "local".into(),
        role: Role::Admin,
    }
}

/// Whether a statement with `effect` writes to the lake (and so runs once, when planned).
fn writes(effect: &Effect) -> bool {
    matches!(effect, Effect::Write(_) | Effect::Drop(_))
}

/// What a query's task hands the response stream.
enum Item {
    Batch(RecordBatch),
    /// The result is complete.
    Done,
    Failed(Status),
}

/// How a query's task ended.
enum Produced {
    Done,
    /// The client went away.
    Gone,
    Failed(Error),
}

/// Runs `streams` into `sender` within `limits`: the deadline (from `started`) covers
/// every batch, a send that waits longer than the idle timeout means the client stopped
/// reading, and no batch may be larger than the per-query memory limit.
async fn produce(
    streams: Vec<datafusion::physical_plan::SendableRecordBatchStream>,
    wire: &SchemaRef,
    limits: &Limits,
    started: tokio::time::Instant,
    tracker: &crate::log::QueryTracker,
    sender: &tokio::sync::mpsc::Sender<Item>,
) -> Produced {
    let far = started + std::time::Duration::from_secs(100 * 365 * 86_400);
    let deadline = limits.query_timeout.map_or(far, |t| started + t);
    let expired = || match limits.query_timeout {
        Some(limit) => Produced::Failed(deadline_exceeded(limit)),
        None => Produced::Failed(Error::Internal("no deadline".into())),
    };
    let rows = tracker.rows();
    let mut batches = stream::iter(streams).flatten();
    loop {
        // Checked before each batch: a stream that is always ready would never let a
        // timer fire.
        if tokio::time::Instant::now() >= deadline {
            return expired();
        }
        let batch = match tokio::time::timeout_at(deadline, batches.next()).await {
            Err(_) => return expired(),
            Ok(None) => return Produced::Done,
            Ok(Some(Err(e))) => return Produced::Failed(e.into()),
            Ok(Some(Ok(batch))) => batch,
        };
        let batch = match to_wire(&batch, wire) {
            Ok(b) => b,
            Err(e) => return Produced::Failed(e),
        };
        if let Some(limit) = limits.query_memory
            && batch.get_array_memory_size() > limit
        {
            return Produced::Failed(Error::ResourceExhausted(format!(
                "a batch of the result holds {} bytes, more than the query's memory limit of \
                 {limit} bytes (--query-memory-limit)",
                batch.get_array_memory_size()
            )));
        }
        rows.fetch_add(
            batch.num_rows() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        let idle_until = limits
            .idle_timeout
            .map_or(far, |idle| tokio::time::Instant::now() + idle)
            .min(deadline);
        match tokio::time::timeout_at(idle_until, sender.send(Item::Batch(batch))).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Produced::Gone,
            Err(_) if idle_until >= deadline && limits.query_timeout.is_some() => {
                return expired();
            }
            Err(_) => {
                return Produced::Failed(Error::DeadlineExceeded(format!(
                    "the client read nothing for {:?} (--idle-timeout): the query was \
                     stopped and its slot released",
                    limits.idle_timeout.unwrap_or_default()
                )));
            }
        }
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

/// The batches of a DoPut (parameters or bulk ingest data), at most `limit` bytes of
/// them in memory.
async fn read_batches(
    request: Request<PeekableFlightDataStream>,
    limit: Option<usize>,
) -> Result<Vec<RecordBatch>> {
    let stream = request.into_inner().map_err(FlightError::from);
    let mut stream = arrow_flight::decode::FlightRecordBatchStream::new_from_flight_data(stream);
    let (mut batches, mut bytes) = (Vec::new(), 0usize);
    while let Some(batch) = stream.next().await {
        let batch =
            batch.map_err(|e| Error::InvalidArgument(format!("reading the uploaded data: {e}")))?;
        bytes += batch.get_array_memory_size();
        if let Some(limit) = limit
            && bytes > limit
        {
            return Err(Error::ResourceExhausted(format!(
                "the uploaded data holds more than the query's memory limit of {limit} bytes \
                 (--query-memory-limit): send it in smaller ingests"
            )));
        }
        batches.push(batch);
    }
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
        let token = match &self.inner.users {
            None => self.inner.tokens.issue_local(),
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
                let user = status!(self.sign_in(&request, users, name, password).await)?;
                self.inner.tokens.issue(&user)
            }
        };
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
        let principal = status!(self.caller(&request).await)?;
        let handle = proto::StatementHandle {
            sql: number_placeholders(&query.query),
            ..Default::default()
        };
        let (schema, handle) = status!(self.ticket_on_workers(&principal, handle).await)?;
        let info =
            status!(self.statement_info(&principal, &schema, &handle, request.into_inner()))?;
        Ok(Response::new(info))
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        let principal = status!(self.caller(&request).await)?;
        let handle = status!(self.open(&principal, &cmd.prepared_statement_handle))?;
        let (schema, handle) = status!(self.ticket_on_workers(&principal, handle).await)?;
        let info =
            status!(self.statement_info(&principal, &schema, &handle, request.into_inner()))?;
        Ok(Response::new(info))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<BoxStream<arrow_flight::FlightData>>, Status> {
        let principal = status!(self.caller(&request).await)?;
        let handle = status!(self.open(&principal, &ticket.statement_handle))?;
        Ok(Response::new(status!(
            self.on_workers(|this, lease| async move {
                this.stream_ticket(&principal, handle, lease).await
            })
            .await
        )?))
    }

    async fn do_get_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<BoxStream<arrow_flight::FlightData>>, Status> {
        let principal = status!(self.caller(&request).await)?;
        let handle = status!(self.open(&principal, &cmd.prepared_statement_handle))?;
        Ok(Response::new(status!(
            self.on_workers(|this, lease| async move {
                this.stream_ticket(&principal, handle, lease).await
            })
            .await
        )?))
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> std::result::Result<ActionCreatePreparedStatementResult, Status> {
        let principal = status!(self.caller(&request).await)?;
        let sql = number_placeholders(&query.query);
        let result: Result<ActionCreatePreparedStatementResult> = async {
            let session = self.session(&principal, &HashMap::new()).await?;
            let (plan, effect) = self.plan(&principal, &session, &sql).await?;
            let dataset = if writes(&effect) {
                summary_batch("").schema()
            } else {
                wire_schema(plan.schema().as_arrow())
            };
            let parameters = parameter_schema(&plan)?;
            if !writes(&effect) {
                // For the GetFlightInfo that follows (a statement that writes runs there,
                // in a session of its own).
                let key = Key::new(&principal, &sql, std::iter::empty());
                let views = self.inner.lake.views().await?;
                self.inner.planned.keep(key, session, plan, views);
            }
            let handle = proto::StatementHandle {
                sql,
                ..Default::default()
            };
            Ok(ActionCreatePreparedStatementResult {
                prepared_statement_handle: self.seal(&principal, &handle).into(),
                dataset_schema: schema_bytes(&dataset)?.into(),
                parameter_schema: schema_bytes(parameters.as_ref())?.into(),
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
        let principal = status!(self.caller(&request).await)?;
        let mut handle = status!(self.open(&principal, &query.prepared_statement_handle))?;
        let batches =
            status!(read_batches(request, self.inner.governor.limits().query_memory).await)?;
        handle.parameters = match batches.first() {
            Some(first) => status!(ipc_stream(&first.schema(), &batches))?,
            None => Vec::new(),
        };
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(self.seal(&principal, &handle).into()),
        })
    }

    async fn do_put_prepared_statement_update(
        &self,
        query: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> std::result::Result<i64, Status> {
        let principal = status!(self.caller(&request).await)?;
        let mut handle = status!(self.open(&principal, &query.prepared_statement_handle))?;
        let batches =
            status!(read_batches(request, self.inner.governor.limits().query_memory).await)?;
        if let Some(first) = batches.first() {
            handle.parameters = status!(ipc_stream(&first.schema(), &batches))?;
        }
        status!(
            self.on_workers(|this, _| async move { this.update(&principal, &handle).await })
                .await
        )
    }

    async fn do_put_statement_update(
        &self,
        cmd: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> std::result::Result<i64, Status> {
        let principal = status!(self.caller(&request).await)?;
        let handle = proto::StatementHandle {
            sql: number_placeholders(&cmd.query),
            ..Default::default()
        };
        status!(
            self.on_workers(|this, _| async move { this.update(&principal, &handle).await })
                .await
        )
    }

    async fn do_put_statement_ingest(
        &self,
        cmd: CommandStatementIngest,
        request: Request<PeekableFlightDataStream>,
    ) -> std::result::Result<i64, Status> {
        let principal = status!(self.caller(&request).await)?;
        principal
            .require(Role::Write, "ingest")
            .map_err(Status::from)?;
        let batches =
            status!(read_batches(request, self.inner.governor.limits().query_memory).await)?;
        status!(
            self.on_workers(|this, _| async move { this.ingest(&principal, cmd, batches).await })
                .await
        )
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        self.metadata_info(request, &schema, query.as_any().encode_to_vec())
            .await
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<BoxStream<arrow_flight::FlightData>>, Status> {
        let principal = status!(self.caller(&request).await)?;
        let session = status!(self.session(&principal, &HashMap::new()).await)?;
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
            .await
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<BoxStream<arrow_flight::FlightData>>, Status> {
        let principal = status!(self.caller(&request).await)?;
        let session = status!(self.session(&principal, &HashMap::new()).await)?;
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
            .await
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<BoxStream<arrow_flight::FlightData>>, Status> {
        let principal = status!(self.caller(&request).await)?;
        let session = status!(self.session(&principal, &HashMap::new()).await)?;
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
            .await
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<BoxStream<arrow_flight::FlightData>>, Status> {
        status!(self.caller(&request).await)?;
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
            .await
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<BoxStream<arrow_flight::FlightData>>, Status> {
        status!(self.caller(&request).await)?;
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
            .await
    }

    async fn do_get_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<BoxStream<arrow_flight::FlightData>>, Status> {
        status!(self.caller(&request).await)?;
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
            .await
    }

    async fn do_get_primary_keys(
        &self,
        _query: CommandGetPrimaryKeys,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<BoxStream<arrow_flight::FlightData>>, Status> {
        status!(self.caller(&request).await)?;
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
            .await
    }

    async fn do_get_exported_keys(
        &self,
        _query: CommandGetExportedKeys,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<BoxStream<arrow_flight::FlightData>>, Status> {
        status!(self.caller(&request).await)?;
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
            .await
    }

    async fn do_get_imported_keys(
        &self,
        _query: CommandGetImportedKeys,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<BoxStream<arrow_flight::FlightData>>, Status> {
        status!(self.caller(&request).await)?;
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
            .await
    }

    async fn do_get_cross_reference(
        &self,
        _query: CommandGetCrossReference,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<BoxStream<arrow_flight::FlightData>>, Status> {
        status!(self.caller(&request).await)?;
        Ok(Response::new(one_batch(RecordBatch::new_empty(
            keys_schema(false),
        ))))
    }

    async fn do_action_fallback(
        &self,
        request: Request<Action>,
    ) -> std::result::Result<Response<<Self as FlightService>::DoActionStream>, Status> {
        status!(self.caller(&request).await)?;
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

//! Cluster mode: a session whose queries over lake tables are planned and run on an Apache
//! DataFusion Ballista cluster (`runlake cluster scheduler` and `runlake cluster
//! executor`), with the same functions and the same SQL as a session on one machine.
//!
//! - A lake table is handed out as a [`SnapshotTable`]: the fixed list of Parquet files of
//!   the version the session read. The scheduler plans it as a plain Parquet scan
//!   (`DataSourceExec`), which Ballista already sends to executors, so every executor
//!   reads exactly that version whatever is committed or compacted meanwhile.
//! - [`LakeCodec`] carries a [`SnapshotTable`] in the logical plan the client sends the
//!   scheduler: the table's name, version, store URL and files. No storage option or
//!   credential is in it; each process reaches the store with its own settings
//!   ([`runlake_lake::Lake::register_store`]).
//! - [`ClusterPlanner`] sends a query to the cluster when every table it reads is a lake
//!   table; a query that reads only the session's own catalog (`information_schema`, a
//!   server's `system.*` tables, files named by path) or nothing at all runs in the
//!   client, where those live.
//! - A distributed query whose results are dropped before their end (a server's query
//!   timeout, a client gone) has its job cancelled on the cluster (`CancelOnDrop`).
//! - runlake's two physical optimizer rules ([`crate::ListScan`],
//!   [`crate::IntKeyAggregate`]) are left out of the scheduler's session
//!   ([`scheduler_state`]), so no plan sent to an executor holds a node that Ballista
//!   cannot serialise.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use crate::snapshot::SnapshotTable;
use async_trait::async_trait;
use ballista_core::execution_plans::DistributedQueryExec;
use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use ballista_core::planner::BallistaQueryPlanner;
use ballista_core::serde::BallistaLogicalExtensionCodec;
use ballista_core::serde::protobuf::CancelJobParams;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session as CatalogSession, TableProvider};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::source_as_provider;
use datafusion::execution::TaskContext;
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use datafusion::logical_expr::{AggregateUDF, Expr, Extension, LogicalPlan, ScalarUDF, TableScan};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use datafusion::prelude::SessionConfig;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::protobuf::LogicalPlanNode;
use prost::Message;
use runlake_proto::v1::SnapshotScan;

/// The URL scheme of a cluster's scheduler: `df://HOST:PORT`.
pub const SCHEME: &str = "df://";

/// The largest gRPC message a scheduler, an executor or a client takes or sends: plans
/// with many files, and shuffle batches of functions that buffer every value of a group
/// (spearman, the quantile family), are larger than Ballista's 16 MiB default.
pub const MAX_MESSAGE_SIZE: usize = 1 << 30;

/// Checks a `--cluster` value (`df://HOST:PORT`) and returns the scheduler's URL as
/// Ballista's client takes it.
pub fn scheduler_url(cluster: &str) -> Result<String> {
    let Some(address) = cluster.strip_prefix(SCHEME) else {
        return Err(DataFusionError::Configuration(format!(
            "cluster '{cluster}': expected df://HOST:PORT (the address `runlake cluster scheduler` printed)"
        )));
    };
    let address = address.trim_end_matches('/');
    let port_ok = address
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !port_ok {
        return Err(DataFusionError::Configuration(format!(
            "cluster '{cluster}': expected df://HOST:PORT, e.g. df://127.0.0.1:50050"
        )));
    }
    Ok(format!("{SCHEME}{address}"))
}

/// Checks that the scheduler of `cluster` accepts connections, so a session on a cluster
/// that is not there fails when it opens, saying so, rather than in its first query with
/// a transport error.
pub async fn reach(cluster: &str) -> Result<()> {
    let url = scheduler_url(cluster)?;
    let address = url.trim_start_matches(SCHEME).to_string();
    let connect = tokio::net::TcpStream::connect(address.clone());
    match tokio::time::timeout(std::time::Duration::from_secs(10), connect).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(DataFusionError::Execution(format!(
            "cannot reach the cluster's scheduler at {url}: {e} (is `runlake cluster scheduler` running there?)"
        ))),
        Err(_) => Err(DataFusionError::Execution(format!(
            "cannot reach the cluster's scheduler at {url}: no answer within 10 s"
        ))),
    }
}

/// Carries [`SnapshotTable`]s in the logical plans a client sends the scheduler; the rest
/// (file formats, functions) is Ballista's own codec. Installed on the client and the
/// scheduler.
#[derive(Debug, Default)]
pub struct LakeCodec {
    inner: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for LakeCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        _ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        let scan = SnapshotScan::decode(buf).map_err(|e| {
            DataFusionError::Internal(format!(
                "the scan of {table_ref} in the plan is not a runlake lake scan: {e}"
            ))
        })?;
        Ok(Arc::new(SnapshotTable::from_proto(scan, schema)))
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        match node.downcast_ref::<SnapshotTable>() {
            Some(table) => table
                .to_proto()
                .encode(buf)
                .map_err(|e| DataFusionError::Internal(e.to_string())),
            None => self.inner.try_encode_table_provider(table_ref, node, buf),
        }
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn datafusion::datasource::file_format::FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn datafusion::datasource::file_format::FileFormatFactory>,
    ) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }
}

/// Where a query runs in a cluster session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// On the cluster: it reads lake tables and nothing else.
    Cluster,
    /// In this process: it reads no table, or a table only this session has.
    Local,
}

/// The functions every cluster process has: DataFusion's as Ballista registers them and
/// runlake's. A session may replace one (a server bounds the functions whose values grow
/// with an argument by its memory limit); a query that calls a replaced one runs where
/// that replacement is.
struct ClusterFunctions {
    scalars: HashMap<String, Arc<ScalarUDF>>,
    aggregates: HashMap<String, Arc<AggregateUDF>>,
}

static CLUSTER_FUNCTIONS: LazyLock<ClusterFunctions> = LazyLock::new(|| {
    let state = scheduler_state(SessionConfig::new_with_ballista())
        .expect("a default session state builds");
    ClusterFunctions {
        scalars: state.scalar_functions().clone(),
        aggregates: state.aggregate_functions().clone(),
    }
});

/// Whether every function `plan` calls is the one the cluster has under that name.
fn cluster_has_functions(plan: &LogicalPlan) -> bool {
    let functions = &*CLUSTER_FUNCTIONS;
    let mut same = true;
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                same &= match e {
                    Expr::ScalarFunction(f) => functions
                        .scalars
                        .get(f.func.name())
                        .is_some_and(|ours| **ours == *f.func),
                    Expr::AggregateFunction(f) => functions
                        .aggregates
                        .get(f.func.name())
                        .is_some_and(|ours| **ours == *f.func),
                    _ => true,
                };
                Ok(if same {
                    TreeNodeRecursion::Continue
                } else {
                    TreeNodeRecursion::Stop
                })
            })
        })
    });
    same
}

/// Where `plan` runs: on the cluster when every table it reads (subqueries included) is
/// a lake table, it reads at least one, and every function it calls is the cluster's;
/// here otherwise.
pub fn placement(plan: &LogicalPlan) -> Placement {
    if matches!(
        plan,
        LogicalPlan::Explain(_)
            | LogicalPlan::Statement(_)
            | LogicalPlan::Ddl(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::DescribeTable(_)
    ) {
        return Placement::Local;
    }
    let (mut lake, mut other) = (false, false);
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(TableScan { source, .. }) = node {
            match source_as_provider(source) {
                Ok(provider) if provider.is::<SnapshotTable>() => lake = true,
                _ => other = true,
            }
        }
        Ok(if other {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    if lake && !other && cluster_has_functions(plan) {
        Placement::Cluster
    } else {
        Placement::Local
    }
}

/// The query planner of a cluster session: Ballista's for what [`placement`] sends to
/// the cluster, DataFusion's for the rest.
pub struct ClusterPlanner {
    /// The scheduler's `http://HOST:PORT`, to cancel jobs on.
    scheduler: String,
    remote: BallistaQueryPlanner<LogicalPlanNode>,
    local: DefaultPhysicalPlanner,
}

impl std::fmt::Debug for ClusterPlanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterPlanner")
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl QueryPlanner for ClusterPlanner {
    async fn create_physical_plan(
        &self,
        plan: &LogicalPlan,
        state: &dyn CatalogSession,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match placement(plan) {
            Placement::Cluster => {
                let remote = self.remote.create_physical_plan(plan, state).await?;
                if remote.is::<DistributedQueryExec<LogicalPlanNode>>() {
                    Ok(Arc::new(CancelOnDrop {
                        inner: remote,
                        scheduler: self.scheduler.clone(),
                    }))
                } else {
                    Ok(remote)
                }
            }
            Placement::Local => self.local.create_physical_plan(plan, state).await,
        }
    }
}

/// A distributed query whose job is cancelled on the cluster when its results are
/// dropped before their end (a server's query timeout, a client that went away): Ballista
/// 55's `DistributedQueryExec` leaves the job running to its end then.
#[derive(Debug)]
struct CancelOnDrop {
    inner: Arc<dyn ExecutionPlan>,
    /// The scheduler's `http://HOST:PORT`.
    scheduler: String,
}

impl DisplayAs for CancelOnDrop {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        self.inner.fmt_as(t, f)
    }
}

impl ExecutionPlan for CancelOnDrop {
    fn name(&self) -> &str {
        "CancelOnDrop"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.inner.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.inner]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(inner), true) => Ok(Arc::new(CancelOnDrop {
                inner,
                scheduler: self.scheduler.clone(),
            })),
            _ => Err(DataFusionError::Internal(
                "CancelOnDrop takes one child".into(),
            )),
        }
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(
            &Arc<dyn datafusion::physical_plan::PhysicalExpr>,
        ) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        // It holds none; its child is visited as a child.
        Ok(TreeNodeRecursion::Continue)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let stream = self.inner.execute(partition, context)?;
        Ok(Box::pin(JobStream {
            schema: stream.schema(),
            stream,
            plan: Arc::clone(&self.inner),
            scheduler: self.scheduler.clone(),
            ended: false,
        }))
    }
}

struct JobStream {
    schema: SchemaRef,
    stream: SendableRecordBatchStream,
    plan: Arc<dyn ExecutionPlan>,
    scheduler: String,
    ended: bool,
}

impl futures::Stream for JobStream {
    type Item = Result<datafusion::arrow::array::RecordBatch>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let next = self.stream.as_mut().poll_next(cx);
        if let std::task::Poll::Ready(None | Some(Err(_))) = &next {
            self.ended = true;
        }
        next
    }
}

impl RecordBatchStream for JobStream {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

/// How long a dropped query's stream is driven on to learn the id of a job whose
/// submission was in flight, so that it can be cancelled.
const SUBMISSION_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

impl Drop for JobStream {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let plan = Arc::clone(&self.plan);
        let scheduler = self.scheduler.clone();
        // The job is submitted by the stream's first polls. Dropped while the submission
        // was in flight (a timeout under load), the scheduler may hold a job whose id
        // this side has not read yet: the stream is driven on until the id is known (or
        // the stream ends without one), then the job is cancelled.
        let placeholder: SendableRecordBatchStream = Box::pin(
            datafusion::physical_plan::EmptyRecordBatchStream::new(Arc::clone(&self.schema)),
        );
        let mut stream = std::mem::replace(&mut self.stream, placeholder);
        runtime.spawn(async move {
            let known = futures::future::poll_fn(|cx| {
                loop {
                    if let Some(job) = job_id(&plan) {
                        return std::task::Poll::Ready(Some(job));
                    }
                    match stream.as_mut().poll_next(cx) {
                        std::task::Poll::Pending => {
                            return match job_id(&plan) {
                                Some(job) => std::task::Poll::Ready(Some(job)),
                                None => std::task::Poll::Pending,
                            };
                        }
                        std::task::Poll::Ready(None | Some(Err(_))) => {
                            return std::task::Poll::Ready(job_id(&plan));
                        }
                        std::task::Poll::Ready(Some(Ok(_))) => continue,
                    }
                }
            });
            let job = match tokio::time::timeout(SUBMISSION_WAIT, known).await {
                Ok(Some(job)) => job,
                // The stream ended or failed with no job submitted: nothing to cancel.
                Ok(None) => return,
                Err(_) => {
                    tracing::warn!(
                        event = "cluster_job_cancel_failed",
                        error = "the job's id was not known within 60 s"
                    );
                    return;
                }
            };
            drop(stream);
            let cancelled = match SchedulerGrpcClient::connect(scheduler).await {
                Ok(mut client) => client
                    .cancel_job(CancelJobParams {
                        job_id: job.clone(),
                    })
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match cancelled {
                Ok(()) => tracing::info!(event = "cluster_job_cancelled", job = %job),
                Err(e) => {
                    tracing::warn!(event = "cluster_job_cancel_failed", job = %job, error = %e)
                }
            }
        });
    }
}

/// The id of the job `plan` (a `DistributedQueryExec`) submitted, once the scheduler
/// has answered.
fn job_id(plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
    plan.downcast_ref::<DistributedQueryExec<LogicalPlanNode>>()
        .and_then(DistributedQueryExec::job_id)
        .map(|job| job.to_string())
}

/// Makes `state` a cluster session's: Ballista's configuration and optimizer rules, the
/// lake codec, and [`ClusterPlanner`]. Functions are registered after this (Ballista's
/// upgrade resets the state's function lists to DataFusion's).
pub fn upgrade(state: SessionState, cluster: &str) -> Result<SessionState> {
    let url = scheduler_url(cluster)?;
    let codec: Arc<dyn LogicalExtensionCodec> = Arc::new(LakeCodec::default());
    let config = state
        .config()
        .clone()
        .upgrade_for_ballista()
        .with_ballista_grpc_client_max_message_size(MAX_MESSAGE_SIZE)
        // Ballista 55's adaptive planner returns a UNION ALL branch once per branch
        // before it (`SELECT 'a', count(*) FROM t UNION ALL SELECT 'b', count(*) FROM t
        // UNION ALL SELECT 'c', count(*) FROM t` gives a, b, b, c, c, c) and never ends
        // the same query with an ORDER BY; the static planner answers both right.
        .with_ballista_adaptive_query_planner(false)
        .with_ballista_logical_extension_codec(Arc::clone(&codec));
    let planner = ClusterPlanner {
        scheduler: format!("http://{}", url.trim_start_matches(SCHEME)),
        remote: BallistaQueryPlanner::with_extension(url.clone(), config.ballista_config(), codec),
        local: DefaultPhysicalPlanner::default(),
    };
    let config = config.with_ballista_query_planner(Arc::new(planner));
    let state = SessionStateBuilder::new_from_existing(state)
        .with_config(config)
        .build();
    state.upgrade_for_ballista(url)
}

/// The session a scheduler plans with: DataFusion's defaults as Ballista sets them, the
/// runlake options and every runlake function, and none of runlake's physical plan nodes.
pub fn scheduler_state(config: SessionConfig) -> Result<SessionState> {
    let config = with_runlake_options(config);
    let state = ballista_core::utils::default_session_builder(config)?;
    let ctx = datafusion::prelude::SessionContext::new_with_state(state);
    runlake_functions::register_all(&ctx)?;
    Ok(ctx.state())
}

/// `config` with the `runlake.*` options registered, so the values a client sends are
/// accepted rather than dropped.
pub fn with_runlake_options(config: SessionConfig) -> SessionConfig {
    if config
        .options()
        .extensions
        .get::<crate::RunlakeOptions>()
        .is_some()
    {
        config
    } else {
        config.with_option_extension(crate::RunlakeOptions::default())
    }
}

//! runlake on Apache DataFusion Ballista: the scheduler and executor processes behind
//! `runlake cluster scheduler` and `runlake cluster executor`.
//!
//! Both are Ballista 55's own processes (`ballista-scheduler`, `ballista-executor`), set
//! up the one way runlake needs them:
//! - the scheduler plans with [`runlake_engine::cluster::scheduler_state`]: every runlake
//!   function, the `runlake.*` options, none of runlake's own plan nodes; it decodes lake
//!   scans with [`runlake_engine::cluster::LakeCodec`];
//! - every executor resolves functions from the same `register_all`, reaches the lake's
//!   object store with its own `--lake` and `--storage-option`s, and logs each task it
//!   receives (`event=cluster_task`);
//! - tasks are pulled by the executors (Ballista's pull-staged scheduling), so an executor
//!   listens on one port only: its Arrow Flight service for shuffle reads, which it binds
//!   before it registers, so `127.0.0.1:0` works.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::error::BallistaError;
use ballista_core::execution_plans::ShuffleWriterExec;
use ballista_core::execution_plans::sort_shuffle::SortShuffleWriterExec;
use ballista_core::extension::SessionConfigExt;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::BallistaPhysicalExtensionCodec;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_executor::flight_service::BallistaFlightService;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use datafusion::execution::TaskContext;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use runlake_engine::cluster::{LakeCodec, scheduler_state, with_runlake_options};
use runlake_lake::Lake;

/// Everything that can go wrong starting or running a cluster process.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{0}")]
    Ballista(#[from] BallistaError),

    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),

    #[error(transparent)]
    Lake(#[from] runlake_lake::Error),

    #[error("the scheduler at {scheduler} did not accept this executor within {waited:?}")]
    NotRegistered { scheduler: String, waited: Duration },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub use runlake_engine::cluster::MAX_MESSAGE_SIZE;

/// How a scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// An executor that has not polled for this long is lost: its running tasks, and the
    /// finished tasks whose shuffle output it held, run again elsewhere.
    pub executor_timeout: Duration,
    /// How often a task may fail (an executor lost mid-task counts) before its query
    /// fails.
    pub task_retries: usize,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        SchedulerOptions {
            executor_timeout: Duration::from_secs(30),
            task_retries: 4,
        }
    }
}

/// The session configuration every cluster process starts from: Ballista's, with the
/// `runlake.*` options registered and runlake's message size.
fn cluster_config() -> SessionConfig {
    with_runlake_options(SessionConfig::new_with_ballista())
        .with_ballista_grpc_client_max_message_size(MAX_MESSAGE_SIZE)
        // As runlake's clients set it (see runlake_engine::cluster::upgrade).
        .with_ballista_adaptive_query_planner(false)
}

/// Runs a scheduler on `listener` until `shutdown` completes. `ready` is called with the
/// address once the scheduler is set up; connections made from then on are served.
pub async fn run_scheduler(
    listener: tokio::net::TcpListener,
    options: SchedulerOptions,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let address = listener.local_addr().map_err(|e| Error::Bind {
        address: "the scheduler's listener".into(),
        source: e,
    })?;
    let timeout = options.executor_timeout.as_secs().max(1);
    let config = SchedulerConfig {
        bind_host: address.ip().to_string(),
        external_host: address.ip().to_string(),
        bind_port: address.port(),
        scheduling_policy: TaskSchedulingPolicy::PullStaged,
        executor_timeout_seconds: timeout,
        expire_dead_executor_interval_seconds: timeout.min(15),
        no_executors_grace_period_seconds: timeout,
        task_max_failures: options.task_retries.max(1),
        stage_max_failures: options.task_retries.max(1),
        grpc_server_max_decoding_message_size: MAX_MESSAGE_SIZE as u32,
        grpc_server_max_encoding_message_size: MAX_MESSAGE_SIZE as u32,
        grpc_client_max_message_size: MAX_MESSAGE_SIZE as u32,
        override_session_builder: Some(Arc::new(scheduler_state)),
        override_config_producer: Some(Arc::new(cluster_config)),
        override_logical_codec: Some(Arc::new(LakeCodec::default())),
        override_physical_codec: Some(Arc::new(TaskLog::default())),
        ..SchedulerConfig::default()
    };
    config.validate()?;
    let config = Arc::new(config);
    let cluster = BallistaCluster::new_from_config(&config).await?;
    let scheduler =
        create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::clone(&config)).await?;
    ready(address);
    tokio::select! {
        served = start_grpc_service_with_listener(listener, scheduler) => Ok(served?),
        () = shutdown => Ok(()),
    }
}

/// How an executor runs.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's `HOST:PORT`.
    pub scheduler: String,
    /// Where the executor's Arrow Flight service (shuffle reads) listens; port 0 picks one.
    pub bind: SocketAddr,
    /// Tasks run at once (default: the cores).
    pub concurrent_tasks: usize,
    /// Where shuffle files and spills go (default: a temporary folder).
    pub work_dir: Option<String>,
    /// The memory all running tasks share; a task over its share spills or fails alone.
    pub memory_limit: Option<u64>,
    /// How long to wait for the scheduler to accept this executor.
    pub register_timeout: Duration,
}

/// Runs an executor until SIGTERM or Ctrl-C (it then finishes its running tasks). `ready`
/// is called with its Flight address once the scheduler has accepted it.
pub async fn run_executor(
    lake: Lake,
    options: ExecutorOptions,
    ready: impl FnOnce(SocketAddr) + Send + 'static,
) -> Result<()> {
    let (host, port) = options
        .scheduler
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| {
            BallistaError::Configuration(format!(
                "--scheduler '{}': expected HOST:PORT",
                options.scheduler
            ))
        })?;
    let listener = tokio::net::TcpListener::bind(options.bind)
        .await
        .map_err(|e| Error::Bind {
            address: options.bind.to_string(),
            source: e,
        })?;
    let address = listener.local_addr().map_err(|e| Error::Bind {
        address: options.bind.to_string(),
        source: e,
    })?;

    // The functions: DataFusion's as Ballista registers them, and every runlake one.
    let state = ballista_core::utils::default_session_builder(cluster_config())?;
    let ctx = SessionContext::new_with_state(state);
    runlake_functions::register_all(&ctx)?;
    let registry = Arc::new(BallistaFunctionRegistry::from(&ctx.state()));

    let work_dir = match &options.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| Error::Bind {
                address: format!("work dir {dir}"),
                source: e,
            })?;
            Some(dir.clone())
        }
        None => None,
    };
    let spill_dir = work_dir.clone();
    let runtime_lake = lake.clone();
    let runtime_producer = Arc::new(
        move |_: &SessionConfig| -> datafusion::error::Result<Arc<RuntimeEnv>> {
            let mut builder = RuntimeEnvBuilder::new();
            if let Some(dir) = &spill_dir {
                builder = builder.with_temp_file_path(dir.clone());
            }
            let runtime = builder.build()?;
            runtime_lake
                .register_store(&runtime)
                .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
            Ok(Arc::new(runtime))
        },
    );

    // The Flight service on the listener bound above (Ballista's own binds its address
    // itself, which cannot report a port chosen by the system).
    let flight_listener = Mutex::new(Some(listener));
    let flight = Arc::new(
        move |work_dir: String,
              _: SocketAddr,
              mut shutdown: ballista_executor::shutdown::Shutdown,
              _: ballista_core::utils::GrpcServerConfig| {
            let listener = flight_listener
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            tokio::spawn(async move {
                let Some(listener) = listener else {
                    return Err(BallistaError::General(
                        "the executor's Flight service was started twice".into(),
                    ));
                };
                let incoming = tokio_stream_listener(listener);
                tonic::transport::Server::builder()
                    .add_service(
                        arrow_flight::flight_service_server::FlightServiceServer::new(
                            BallistaFlightService::new(work_dir),
                        )
                        .max_decoding_message_size(MAX_MESSAGE_SIZE)
                        .max_encoding_message_size(MAX_MESSAGE_SIZE),
                    )
                    .serve_with_incoming_shutdown(incoming, shutdown.recv())
                    .await
                    .map_err(BallistaError::TonicError)
            })
        },
    );

    let config = ExecutorProcessConfig {
        bind_host: address.ip().to_string(),
        external_host: Some(address.ip().to_string()),
        port: address.port(),
        grpc_port: address.port(),
        scheduler_host: host,
        scheduler_port: port,
        scheduler_connect_timeout_seconds: options.register_timeout.as_secs().max(1) as u16,
        vcores: options.concurrent_tasks,
        task_scheduling_policy: TaskSchedulingPolicy::PullStaged,
        work_dir: work_dir.clone(),
        print_thread_info: false,
        grpc_max_decoding_message_size: MAX_MESSAGE_SIZE as u32,
        grpc_max_encoding_message_size: MAX_MESSAGE_SIZE as u32,
        memory_pool_size: options.memory_limit,
        override_function_registry: Some(registry),
        override_runtime_producer: Some(runtime_producer),
        override_config_producer: Some(Arc::new(cluster_config)),
        override_logical_codec: Some(Arc::new(LakeCodec::default())),
        override_physical_codec: Some(Arc::new(TaskLog::default())),
        override_arrow_flight_service: Some(flight),
        ..ExecutorProcessConfig::default()
    };
    let health = config.health.clone();
    let waited = options.register_timeout;
    let scheduler = options.scheduler.clone();
    let (registered_tx, registered_rx) = tokio::sync::oneshot::channel();
    // Ballista marks the executor healthy after the scheduler answered its first poll.
    let watcher = tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + waited;
        while !health.is_ready() {
            if tokio::time::Instant::now() >= deadline {
                let _ = registered_tx.send(false);
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        ready(address);
        let _ = registered_tx.send(true);
    });
    let process = start_executor_process(Arc::new(config));
    tokio::pin!(process);
    tokio::select! {
        ended = &mut process => {
            watcher.abort();
            Ok(ended?)
        }
        registered = registered_rx => {
            if registered != Ok(true) {
                return Err(Error::NotRegistered { scheduler, waited });
            }
            Ok(process.await?)
        }
    }
}

fn tokio_stream_listener(
    listener: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(stream, _)| stream);
        Some((accepted, listener))
    })
}

/// Ballista's physical codec, logging each task an executor receives: the stage's
/// shuffle writer is the root of every task's plan, and it names the job and stage.
#[derive(Debug, Default)]
pub struct TaskLog {
    inner: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for TaskLog {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let plan = self.inner.try_decode(buf, inputs, ctx, converter)?;
        let stage = if let Some(writer) = plan.downcast_ref::<ShuffleWriterExec>() {
            Some((writer.job_id().to_string(), writer.stage_id()))
        } else {
            plan.downcast_ref::<SortShuffleWriterExec>()
                .map(|writer| (writer.job_id().to_string(), writer.stage_id()))
        };
        if let Some((job, stage)) = stage {
            tracing::info!(event = "cluster_task", job = %job, stage, "a task received");
        }
        Ok(plan)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> datafusion::error::Result<()> {
        self.inner.try_encode(node, buf, converter)
    }
}

//! `runlake cluster scheduler` and `runlake cluster executor`: the processes of a cluster
//! on Apache DataFusion Ballista, which `--cluster df://HOST:PORT` sends queries to.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use runlake_lake::Lake;

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Run a scheduler: it plans the queries clients send and hands their tasks to the
    /// executors. Prints `runlake cluster scheduler: listening on df://HOST:PORT` when
    /// ready; stops on SIGTERM or Ctrl-C. Its port has no authentication: bind it to a
    /// private network.
    Scheduler {
        /// The address to listen on (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:50050")]
        bind: SocketAddr,
        /// An executor silent for this long is lost; its tasks run again elsewhere.
        #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = crate::values::duration)]
        executor_timeout: Duration,
        /// How often a task may fail (or be lost with its executor) before the query
        /// fails.
        #[arg(long, value_name = "N", default_value_t = 4)]
        task_retries: usize,
    },
    /// Run an executor for a scheduler: it runs tasks, reading the lake given by --lake
    /// and --storage-option (and the standard AWS_*, GOOGLE_*, AZURE_* variables). Prints
    /// `runlake cluster executor: ready on HOST:PORT` once the scheduler accepted it;
    /// on SIGTERM it finishes its running tasks and stops.
    Executor {
        /// The scheduler, HOST:PORT.
        #[arg(long, value_name = "HOST:PORT")]
        scheduler: String,
        /// Where its Arrow Flight service (other executors read shuffle data from it)
        /// listens; port 0 picks a free one.
        #[arg(long, default_value = "127.0.0.1:0")]
        bind: SocketAddr,
        /// Tasks run at once (default: the machine's cores).
        #[arg(long, value_name = "N")]
        concurrent_tasks: Option<usize>,
        /// Where shuffle files and spills go (default: a temporary folder).
        #[arg(long, value_name = "DIR")]
        work_dir: Option<std::path::PathBuf>,
        /// Memory its running tasks share, e.g. 8GiB (default: 70% of the machine's);
        /// a task over its share spills or fails alone, the process stays up.
        #[arg(long, value_name = "SIZE", value_parser = crate::values::size)]
        memory_limit: Option<usize>,
    },
}

/// Runs a cluster process. The executor opens the lake from `lake` and
/// `storage_options` (the global flags); the scheduler never reads the lake.
pub async fn run(
    command: ClusterCommand,
    lake: &str,
    storage_options: std::collections::HashMap<String, String>,
) -> crate::error::Result<ExitCode> {
    crate::log::init()?;
    match command {
        ClusterCommand::Scheduler {
            bind,
            executor_timeout,
            task_retries,
        } => {
            let listener = tokio::net::TcpListener::bind(bind)
                .await
                .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
            let options = runlake_cluster::SchedulerOptions {
                executor_timeout,
                task_retries,
            };
            runlake_cluster::run_scheduler(
                listener,
                options,
                |address| {
                    ready(&format!(
                        "runlake cluster scheduler: listening on df://{address}"
                    ))
                },
                crate::server::stop_signal(),
            )
            .await
            .map_err(cluster_error)?;
            eprintln!("runlake cluster scheduler: stopped");
        }
        ClusterCommand::Executor {
            scheduler,
            bind,
            concurrent_tasks,
            work_dir,
            memory_limit,
        } => {
            let lake = Lake::open(lake, storage_options)?;
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let options = runlake_cluster::ExecutorOptions {
                scheduler: scheduler
                    .strip_prefix(runlake_engine::cluster::SCHEME)
                    .unwrap_or(&scheduler)
                    .to_string(),
                bind,
                concurrent_tasks: concurrent_tasks.unwrap_or(cores).max(1),
                work_dir: work_dir.map(|d| d.to_string_lossy().into_owned()),
                memory_limit: memory_limit.map(|m| m as u64),
                register_timeout: Duration::from_secs(60),
            };
            runlake_cluster::run_executor(lake, options, |address| {
                ready(&format!("runlake cluster executor: ready on {address}"))
            })
            .await
            .map_err(cluster_error)?;
            eprintln!("runlake cluster executor: stopped");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The one line a process prints when it is ready, flushed at once (tests and scripts
/// wait on it).
fn ready(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn cluster_error(e: runlake_cluster::Error) -> crate::error::Error {
    crate::error::Error::Cluster(Box::new(e))
}

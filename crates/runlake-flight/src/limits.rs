//! The server's limits: a memory pool shared by all queries with a share per query, a
//! deadline per query, a bound on concurrent queries with a queue, and thread pools that
//! keep one heavy query from starving the others. A query over a limit fails alone
//! (`RESOURCE_EXHAUSTED` / `DEADLINE_EXCEEDED`); the others go on.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::cache::cache_manager::{
    CacheManager, CacheManagerConfig, FileMetadataCache,
};
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{
    GreedyMemoryPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
    UnboundedMemoryPool,
};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, Result};

/// The limits, as `runlake serve` takes them.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// Bytes all running queries may hold together (`None`: unbounded).
    pub memory: Option<usize>,
    /// Bytes one query may hold (`None`: the whole pool).
    pub query_memory: Option<usize>,
    /// How long one query may run, planning and streaming included.
    pub query_timeout: Option<Duration>,
    /// How long a client may stop reading a result before its query is stopped and its
    /// slot released (`None`: as long as it likes).
    pub idle_timeout: Option<Duration>,
    /// Queries that may run at once; more wait in a queue.
    pub max_concurrent: Option<usize>,
    /// How long a query may wait for its turn.
    pub queue_timeout: Duration,
    /// Where operators that can spill (sorts, aggregations) may spill when over their
    /// memory; `None`: they cannot, and fail with `RESOURCE_EXHAUSTED`.
    pub spill_dir: Option<std::path::PathBuf>,
}

/// The limits in force: the shared pool and the slots.
#[derive(Debug)]
pub struct Governor {
    limits: Limits,
    pool: Arc<dyn MemoryPool>,
    slots: Option<Arc<Semaphore>>,
    workers: Workers,
    /// Parquet footers and page indexes, shared by every query's runtime (DataFusion's
    /// default cache, bounded at its default 50 MiB), so a dashboard's many small queries
    /// read each lake file's metadata once.
    metadata: Arc<FileMetadataCache>,
}

impl Governor {
    pub fn new(limits: Limits) -> Self {
        let pool: Arc<dyn MemoryPool> = match limits.memory {
            Some(bytes) => Arc::new(GreedyMemoryPool::new(bytes)),
            None => Arc::new(UnboundedMemoryPool::default()),
        };
        let slots = limits
            .max_concurrent
            .map(|n| Arc::new(Semaphore::new(n.max(1))));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        // As many pools as queries may run at once (all of them if that is small), each
        // with a thread per core: the operating system shares the cores between them.
        let pools = limits.max_concurrent.unwrap_or(8).clamp(1, 64);
        let metadata = CacheManager::try_new(&CacheManagerConfig::default())
            .map(|c| c.get_file_metadata_cache())
            .expect("DataFusion's default cache configuration is valid");
        Self {
            workers: Workers::new(pools, threads),
            limits,
            pool,
            slots,
            metadata,
        }
    }

    /// Threads for one query (see [`Workers`]).
    pub fn workers(&self) -> Result<Lease> {
        self.workers.lease()
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// A runtime for one query: its own share of the shared pool.
    pub fn runtime(&self) -> Result<Arc<RuntimeEnv>> {
        let pool: Arc<dyn MemoryPool> = Arc::new(QueryPool {
            shared: self.pool.clone(),
            limit: self.limits.query_memory,
            used: AtomicUsize::new(0),
        });
        let mode = match &self.limits.spill_dir {
            Some(dir) => DiskManagerMode::Directories(vec![dir.clone()]),
            None => DiskManagerMode::Disabled,
        };
        Ok(RuntimeEnvBuilder::new()
            .with_memory_pool(pool)
            .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(mode))
            .with_cache_manager(
                CacheManagerConfig::default()
                    .with_file_metadata_cache(Some(Arc::clone(&self.metadata))),
            )
            .build_arc()?)
    }

    /// Waits for a query slot (at most the queue timeout).
    pub async fn slot(&self) -> Result<Option<OwnedSemaphorePermit>> {
        let Some(slots) = &self.slots else {
            return Ok(None);
        };
        match tokio::time::timeout(self.limits.queue_timeout, slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Some(permit)),
            Ok(Err(_)) => Err(Error::Internal("the query queue is closed".into())),
            Err(_) => Err(Error::ResourceExhausted(format!(
                "the server is running its maximum of {} queries and none finished within {:?}; try again later",
                self.limits.max_concurrent.unwrap_or_default(),
                self.limits.queue_timeout
            ))),
        }
    }

    /// Runs `work` within the query timeout.
    pub async fn within_deadline<T>(
        &self,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        match self.limits.query_timeout {
            None => work.await,
            Some(limit) => match tokio::time::timeout(limit, work).await {
                Ok(r) => r,
                Err(_) => Err(deadline_exceeded(limit)),
            },
        }
    }
}

/// Thread pools that queries run on, a query to a pool.
///
/// DataFusion's operators yield to the async runtime between batches, but some do a
/// great deal of work inside one poll (a nested-loop join whose filter rejects every
/// pair probes a whole build side per input batch without returning): on a shared
/// runtime such a query holds every worker thread, and a small query waits seconds for
/// a thread. Queries on pools of their own are separate threads to the operating system,
/// whose scheduler shares the cores between them however long one query's polls are.
///
/// Pools are made on first use and kept (never dropped while the server runs, so
/// connections and timers made on one stay valid); a query takes an idle pool, a new
/// one while there are fewer than the limit, or else the least busy.
#[derive(Debug)]
struct Workers {
    pools: Mutex<Vec<Pool>>,
    limit: usize,
    threads: usize,
}

#[derive(Debug)]
struct Pool {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    busy: Arc<AtomicUsize>,
}

impl Workers {
    fn new(limit: usize, threads: usize) -> Self {
        Self {
            pools: Mutex::new(Vec::new()),
            limit,
            threads,
        }
    }

    fn lease(&self) -> Result<Lease> {
        let mut pools = self.pools.lock().unwrap_or_else(PoisonError::into_inner);
        let least = pools
            .iter()
            .min_by_key(|p| p.busy.load(Ordering::Relaxed))
            .filter(|p| p.busy.load(Ordering::Relaxed) == 0 || pools.len() >= self.limit)
            .map(|p| (p.handle.clone(), p.busy.clone()));
        let (handle, busy) = match least {
            Some(found) => found,
            None => {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(self.threads)
                    .thread_name(format!("runlake-query-{}", pools.len()))
                    .enable_all()
                    .build()
                    .map_err(|e| Error::Internal(format!("cannot start query threads: {e}")))?;
                let pool = Pool {
                    handle: runtime.handle().clone(),
                    runtime: Some(runtime),
                    busy: Arc::new(AtomicUsize::new(0)),
                };
                let found = (pool.handle.clone(), pool.busy.clone());
                pools.push(pool);
                found
            }
        };
        busy.fetch_add(1, Ordering::Relaxed);
        Ok(Lease {
            handle,
            _busy: Arc::new(Busy(busy)),
        })
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        // The server may stop from inside the main runtime, where waiting for threads to
        // end is not allowed.
        let pools = self.pools.get_mut().unwrap_or_else(PoisonError::into_inner);
        for pool in pools.iter_mut() {
            if let Some(runtime) = pool.runtime.take() {
                runtime.shutdown_background();
            }
        }
    }
}

/// One query's turn on a pool of [`Workers`]; the pool counts as busy until every clone
/// is dropped.
#[derive(Debug, Clone)]
pub struct Lease {
    handle: tokio::runtime::Handle,
    _busy: Arc<Busy>,
}

#[derive(Debug)]
struct Busy(Arc<AtomicUsize>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Lease {
    /// Runs `work` on the pool and waits for it. Dropping the returned future (the client
    /// went away) stops the work at its next await point.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T> {
        struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);
        impl<T> Drop for AbortOnDrop<T> {
            fn drop(&mut self) {
                self.0.abort();
            }
        }
        let mut task = AbortOnDrop(self.handle.spawn(work));
        (&mut task.0)
            .await
            .map_err(|e| Error::Internal(format!("a query's task ended abnormally: {e}")))
    }
}

pub fn deadline_exceeded(limit: Duration) -> Error {
    Error::DeadlineExceeded(format!(
        "the query ran longer than the server's limit of {limit:?} (--query-timeout)"
    ))
}

/// One query's memory: at most `limit` of it, and only what the shared pool has left.
#[derive(Debug)]
struct QueryPool {
    shared: Arc<dyn MemoryPool>,
    limit: Option<usize>,
    used: AtomicUsize,
}

impl std::fmt::Display for QueryPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "query pool ({} bytes used)",
            self.used.load(Ordering::Relaxed)
        )
    }
}

impl MemoryPool for QueryPool {
    fn name(&self) -> &str {
        "runlake-query"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.shared.register(consumer);
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.shared.unregister(consumer);
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.used.fetch_add(additional, Ordering::Relaxed);
        self.shared.grow(reservation, additional);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.used.fetch_sub(shrink, Ordering::Relaxed);
        self.shared.shrink(reservation, shrink);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> DfResult<()> {
        if let Some(limit) = self.limit {
            let used = self.used.load(Ordering::Relaxed);
            if used + additional > limit {
                return Err(DataFusionError::ResourcesExhausted(format!(
                    "the query needs more than its memory limit of {limit} bytes (--query-memory-limit; {used} in use, {additional} more asked for {})",
                    reservation.consumer().name()
                )));
            }
        }
        self.shared
            .try_grow(reservation, additional)
            .map_err(|e| match e {
                DataFusionError::ResourcesExhausted(m) => DataFusionError::ResourcesExhausted(
                    format!("the server's memory limit is reached (--memory-limit): {m}"),
                ),
                other => other,
            })?;
        self.used.fetch_add(additional, Ordering::Relaxed);
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        match self.limit {
            Some(l) => MemoryLimit::Finite(l),
            None => self.shared.memory_limit(),
        }
    }
}

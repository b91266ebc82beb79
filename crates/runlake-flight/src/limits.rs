//! The server's limits: a memory pool shared by all queries with a share per query, a
//! deadline per query, and a bound on concurrent queries with a queue. A query over a
//! limit fails alone (`RESOURCE_EXHAUSTED` / `DEADLINE_EXCEEDED`); the others go on.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use datafusion::error::{DataFusionError, Result as DfResult};
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
        Self {
            limits,
            pool,
            slots,
        }
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

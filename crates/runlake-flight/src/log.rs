//! What the server did: a `tracing` event per query (the binary writes them as logfmt
//! lines on standard error) and the recent queries behind `system.queries`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// One query the server ran.
#[derive(Debug, Clone)]
pub struct QueryRecord {
    pub query_id: u64,
    pub user: String,
    pub sql: String,
    pub started_at_us: i64,
    pub duration_ms: f64,
    pub rows: i64,
    pub status: String,
    pub error: Option<String>,
}

/// The queries running now and the most recent finished ones (bounded).
#[derive(Debug)]
pub struct QueryLog {
    records: Mutex<VecDeque<QueryRecord>>,
    /// Running queries by id: who, what, since when, and their rows so far.
    running: Mutex<BTreeMap<u64, Running>>,
    next_id: AtomicU64,
    capacity: usize,
}

impl QueryLog {
    pub fn new(capacity: usize) -> Self {
        Self {
            records: Mutex::new(VecDeque::new()),
            running: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(1),
            capacity,
        }
    }

    /// Starts timing a query; the returned tracker records it when finished or dropped.
    pub fn start(self: &Arc<Self>, user: &str, sql: &str) -> QueryTracker {
        let tracker = QueryTracker {
            log: self.clone(),
            query_id: self.next_id.fetch_add(1, Ordering::Relaxed),
            user: user.to_string(),
            sql: sql.to_string(),
            started_at_us: now_us(),
            started: Instant::now(),
            rows: Arc::new(AtomicU64::new(0)),
            outcome: None,
        };
        let running = Running {
            user: tracker.user.clone(),
            sql: tracker.sql.clone(),
            started_at_us: tracker.started_at_us,
            started: tracker.started,
            rows: tracker.rows.clone(),
        };
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(tracker.query_id, running);
        tracker
    }

    fn push(&self, record: QueryRecord) {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&record.query_id);
        let error = record.error.as_deref().unwrap_or_default();
        let duration_ms = format_args!("{:.3}", record.duration_ms);
        if record.status == "ok" {
            tracing::info!(
                event = "query",
                query_id = record.query_id,
                user = record.user,
                status = record.status,
                rows = record.rows,
                duration_ms = %duration_ms,
                sql = record.sql,
                error,
            );
        } else {
            tracing::warn!(
                event = "query",
                query_id = record.query_id,
                user = record.user,
                status = record.status,
                rows = record.rows,
                duration_ms = %duration_ms,
                sql = record.sql,
                error,
            );
        }
        if let Ok(mut records) = self.records.lock() {
            if records.len() == self.capacity {
                records.pop_front();
            }
            records.push_back(record);
        }
    }

    /// The columns of `system.queries`.
    pub fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("query_id", DataType::Int64, false),
            Field::new("user", DataType::Utf8, false),
            Field::new("sql", DataType::Utf8, false),
            Field::new(
                "started_at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("duration_ms", DataType::Float64, false),
            Field::new("rows", DataType::Int64, false),
            Field::new("status", DataType::Utf8, false),
            Field::new("error", DataType::Utf8, true),
        ]))
    }

    /// `system.queries` as one batch: every user's queries, or only `user`'s; the
    /// finished ones first, then those running now (status `running`, their duration and
    /// rows so far).
    pub fn batch(&self, user: Option<&str>) -> RecordBatch {
        let mine = |q: &str| user.is_none_or(|u| q == u);
        let mut records: Vec<QueryRecord> = self
            .records
            .lock()
            .map(|r| r.iter().filter(|q| mine(&q.user)).cloned().collect())
            .unwrap_or_default();
        let running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        records.extend(
            running
                .iter()
                .filter(|(_, q)| mine(&q.user))
                .map(|(id, q)| QueryRecord {
                    query_id: *id,
                    user: q.user.clone(),
                    sql: q.sql.clone(),
                    started_at_us: q.started_at_us,
                    duration_ms: q.started.elapsed().as_secs_f64() * 1000.0,
                    rows: q.rows.load(Ordering::Relaxed) as i64,
                    status: "running".to_string(),
                    error: None,
                }),
        );
        drop(running);
        let schema = Self::schema();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(
                records.iter().map(|r| r.query_id as i64),
            )),
            Arc::new(StringArray::from_iter_values(
                records.iter().map(|r| r.user.clone()),
            )),
            Arc::new(StringArray::from_iter_values(
                records.iter().map(|r| r.sql.clone()),
            )),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    records.iter().map(|r| r.started_at_us),
                )
                .with_timezone("UTC"),
            ),
            Arc::new(Float64Array::from_iter_values(
                records.iter().map(|r| r.duration_ms),
            )),
            Arc::new(Int64Array::from_iter_values(records.iter().map(|r| r.rows))),
            Arc::new(StringArray::from_iter_values(
                records.iter().map(|r| r.status.clone()),
            )),
            Arc::new(StringArray::from_iter(
                records.iter().map(|r| r.error.clone()),
            )),
        ];
        RecordBatch::try_new(schema, columns).expect("the system.queries columns fit")
    }
}

#[derive(Debug)]
struct Running {
    user: String,
    sql: String,
    started_at_us: i64,
    started: Instant,
    rows: Arc<AtomicU64>,
}

/// A query being timed. Finishing records it; dropping it unfinished records it as
/// cancelled (the client went away).
#[derive(Debug)]
pub struct QueryTracker {
    log: Arc<QueryLog>,
    query_id: u64,
    user: String,
    sql: String,
    started_at_us: i64,
    started: Instant,
    rows: Arc<AtomicU64>,
    outcome: Option<(String, Option<String>)>,
}

impl QueryTracker {
    /// A counter the result stream adds its rows to.
    pub fn rows(&self) -> Arc<AtomicU64> {
        self.rows.clone()
    }

    pub fn finish(mut self, error: Option<String>) {
        let status = if error.is_some() { "error" } else { "ok" };
        self.outcome = Some((status.to_string(), error));
    }
}

impl Drop for QueryTracker {
    fn drop(&mut self) {
        let (status, error) = self
            .outcome
            .take()
            .unwrap_or_else(|| ("cancelled".to_string(), None));
        self.log.push(QueryRecord {
            query_id: self.query_id,
            user: std::mem::take(&mut self.user),
            sql: std::mem::take(&mut self.sql),
            started_at_us: self.started_at_us,
            duration_ms: self.started.elapsed().as_secs_f64() * 1000.0,
            rows: self.rows.load(Ordering::Relaxed) as i64,
            status,
            error,
        });
    }
}

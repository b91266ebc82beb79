//! The scheduler driven by a clock the test steps: which fire times run, which are
//! recorded as missed, what each run records, and that cancelling stops it. Nothing
//! here depends on how fast the machine is: time moves only when the test moves it, and
//! the test waits on events (a record arriving, every task asleep), each wait bounded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use runlake_report::scheduler::{Clock, RunRecord, RunStatus, RunStore, Scheduler};
use runlake_report::{FiredAlert, Report};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::at;

/// The bound on every wait: far above anything the machine needs, only there so that a
/// broken scheduler fails the test instead of hanging it.
const BOUND: Duration = Duration::from_secs(120);

/// A clock that reads what the test set; it knows which tasks sleep until when.
struct ManualClock {
    state: Mutex<ClockState>,
    changed: watch::Sender<u64>,
}

struct ClockState {
    now: DateTime<Utc>,
    next_id: u64,
    sleepers: HashMap<u64, DateTime<Utc>>,
}

impl ManualClock {
    fn new(now: DateTime<Utc>) -> Arc<ManualClock> {
        Arc::new(ManualClock {
            state: Mutex::new(ClockState {
                now,
                next_id: 0,
                sleepers: HashMap::new(),
            }),
            changed: watch::channel(0).0,
        })
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v += 1);
    }

    fn set(&self, now: DateTime<Utc>) {
        self.state.lock().unwrap().now = now;
        self.bump();
    }

    /// Waits until `tasks` tasks sleep until a time still ahead of the clock: every
    /// run and record for the current time is then done.
    async fn settled(&self, tasks: usize) {
        let mut rx = self.changed.subscribe();
        let wait = async {
            loop {
                {
                    let state = self.state.lock().unwrap();
                    let ahead = state.sleepers.values().filter(|t| **t > state.now).count();
                    if ahead == tasks {
                        return;
                    }
                }
                rx.changed().await.expect("the clock lives");
            }
        };
        tokio::time::timeout(BOUND, wait)
            .await
            .expect("the scheduler's tasks go back to sleep");
    }
}

/// Removes a sleeper when its sleep ends or is dropped (cancelled).
struct Sleeper<'a> {
    clock: &'a ManualClock,
    id: u64,
}

impl Drop for Sleeper<'_> {
    fn drop(&mut self) {
        self.clock.state.lock().unwrap().sleepers.remove(&self.id);
        self.clock.bump();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.state.lock().unwrap().now
    }

    async fn sleep_until(&self, until: DateTime<Utc>) {
        let mut rx = self.changed.subscribe();
        let id = {
            let mut state = self.state.lock().unwrap();
            state.next_id += 1;
            let id = state.next_id;
            state.sleepers.insert(id, until);
            id
        };
        let _sleeper = Sleeper { clock: self, id };
        self.bump();
        while self.now() < until {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}

/// One call of [`RunStore::record`]: its key, runs and alerts.
type Recorded = (String, Vec<RunRecord>, Vec<FiredAlert>);

/// A store in memory; `runs` is the table the reports read.
#[derive(Default)]
struct MemStore {
    records: Mutex<Vec<Recorded>>,
    pages: Mutex<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct StoreError(String);

impl RunStore for MemStore {
    type Error = StoreError;

    async fn last_runs(&self) -> Result<HashMap<String, DateTime<Utc>>, StoreError> {
        let mut last = HashMap::new();
        for (_, runs, _) in self.records.lock().unwrap().iter() {
            for r in runs {
                let t = last.entry(r.report.clone()).or_insert(r.scheduled_at);
                *t = (*t).max(r.scheduled_at);
            }
        }
        Ok(last)
    }

    async fn session(&self) -> Result<SessionContext, StoreError> {
        let schema = Arc::new(Schema::new(vec![Field::new("label", DataType::Utf8, true)]));
        let labels = StringArray::from(vec![Some("a"), Some("a"), Some("a"), Some("a"), None]);
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(labels)])
            .map_err(|e| StoreError(e.to_string()))?;
        let ctx = SessionContext::new();
        let table =
            MemTable::try_new(schema, vec![vec![batch]]).map_err(|e| StoreError(e.to_string()))?;
        ctx.register_table("runs", Arc::new(table))
            .map_err(|e| StoreError(e.to_string()))?;
        Ok(ctx)
    }

    async fn write_page(&self, relative: &str, _bytes: Vec<u8>) -> Result<String, StoreError> {
        self.pages.lock().unwrap().push(relative.to_string());
        Ok(format!("mem://{relative}"))
    }

    async fn record(
        &self,
        key: &str,
        runs: &[RunRecord],
        alerts: &[FiredAlert],
        _fired_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.records
            .lock()
            .unwrap()
            .push((key.to_string(), runs.to_vec(), alerts.to_vec()));
        Ok(())
    }
}

impl MemStore {
    /// Every run recorded so far, as `report status scheduled_at`, sorted.
    fn runs(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .records
            .lock()
            .unwrap()
            .iter()
            .flat_map(|(_, runs, _)| runs.iter())
            .map(|r| {
                format!(
                    "{} {} {}",
                    r.report,
                    r.status,
                    r.scheduled_at.format("%H:%M")
                )
            })
            .collect();
        out.sort();
        out
    }
}

const MINUTELY: &str = include_str!("fixtures/minutely.sql");

const BROKEN: &str = include_str!("fixtures/broken.sql");

fn reports() -> Vec<Report> {
    vec![
        Report::parse("minutely", MINUTELY).expect("a valid report"),
        Report::parse("broken", BROKEN).expect("a valid report"),
    ]
}

async fn start(store: &Arc<MemStore>, clock: &Arc<ManualClock>) -> (Scheduler, CancellationToken) {
    let cancel = CancellationToken::new();
    let scheduler = Scheduler::start(store.clone(), clock.clone(), reports(), cancel.clone())
        .await
        .expect("the store answers");
    (scheduler, cancel)
}

async fn stop(scheduler: Scheduler, cancel: CancellationToken) {
    cancel.cancel();
    tokio::time::timeout(BOUND, scheduler.join())
        .await
        .expect("cancelled tasks stop");
}

#[tokio::test]
async fn a_schedule_runs_on_time_records_missed_runs_and_stops_when_cancelled() {
    let store = Arc::new(MemStore::default());

    // A first start waits for the next fire time; nothing runs before it.
    let clock = ManualClock::new(at("2026-11-22T11:49:58.5Z"));
    let (scheduler, cancel) = start(&store, &clock).await;
    assert_eq!(
        scheduler.scheduled,
        [
            "minutely ('* * * * *' UTC, next 2026-11-22T11:50:00Z)",
            "broken ('*/2 * * * *' UTC, next 2026-11-22T11:50:00Z)",
        ]
    );
    clock.settled(2).await;
    assert!(store.runs().is_empty());

    clock.set(at("2026-11-22T11:50:00Z"));
    clock.settled(2).await;
    assert_eq!(store.runs(), ["broken failed 11:50", "minutely ok 11:50"]);
    {
        let records = store.records.lock().unwrap();
        let minutely = records
            .iter()
            .find(|(key, _, _)| key.starts_with("minutely:"))
            .expect("minutely recorded");
        let run = &minutely.1[0];
        assert_eq!(run.alerts, 1);
        assert_eq!(minutely.2.len(), 1);
        assert_eq!(minutely.2[0].message, "a: 4 runs");
        assert_eq!(
            run.html.as_deref(),
            Some("mem://minutely/20261122T115000Z.html")
        );
        assert_eq!(
            run.markdown.as_deref(),
            Some("mem://minutely/20261122T115000Z.md")
        );
        let broken = records
            .iter()
            .find(|(key, _, _)| key.starts_with("broken:"))
            .expect("broken recorded");
        assert_eq!(broken.1[0].status, RunStatus::Failed);
        let error = broken.1[0].error.as_deref().unwrap_or_default();
        assert!(error.contains("no_such_table"), "{error}");
        assert!(broken.1[0].html.is_none());
    }
    stop(scheduler, cancel).await;

    // Ten minutes later: the fire times in between are missed, 12:00 (29 s ago, within
    // the grace minute) still runs, and nothing else until the clock moves.
    clock.set(at("2026-11-22T12:00:29Z"));
    let (scheduler, cancel) = start(&store, &clock).await;
    clock.settled(2).await;
    let runs = store.runs();
    let count = |prefix: &str| runs.iter().filter(|r| r.starts_with(prefix)).count();
    assert_eq!(count("minutely missed"), 9, "{runs:?}");
    assert_eq!(count("broken missed"), 4, "{runs:?}");
    assert!(runs.contains(&"minutely ok 12:00".to_string()), "{runs:?}");
    assert!(
        runs.contains(&"broken failed 12:00".to_string()),
        "{runs:?}"
    );
    assert_eq!(runs.len(), 2 + 9 + 4 + 2);
    let missed: Vec<Recorded> = store
        .records
        .lock()
        .unwrap()
        .iter()
        .filter(|(key, _, _)| key.starts_with("minutely:missed:"))
        .cloned()
        .collect();
    assert_eq!(missed.len(), 1, "the missed runs are one record");
    assert_eq!(
        missed[0].1[0].error.as_deref(),
        Some("the server was not running")
    );
    assert_eq!(missed[0].1[0].scheduled_at, at("2026-11-22T11:51:00Z"));
    assert_eq!(missed[0].1[8].scheduled_at, at("2026-11-22T11:59:00Z"));

    // One minute on: only the minutely report fires.
    clock.set(at("2026-11-22T12:01:00Z"));
    clock.settled(2).await;
    assert_eq!(store.runs().len(), 18);
    assert!(store.runs().contains(&"minutely ok 12:01".to_string()));

    // The clock jumps past the grace minute while both sleep: the fire times it jumped
    // over are missed, the one 30 s ago runs.
    clock.set(at("2026-11-22T12:05:30Z"));
    clock.settled(2).await;
    let runs = store.runs();
    for want in [
        "minutely missed 12:02",
        "minutely missed 12:03",
        "minutely missed 12:04",
        "minutely ok 12:05",
        "broken missed 12:02",
        "broken missed 12:04",
    ] {
        assert!(runs.contains(&want.to_string()), "{want} in {runs:?}");
    }
    assert_eq!(runs.len(), 18 + 6);
    let late = store
        .records
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(_, runs, _)| runs.iter())
        .find(|r| r.report == "broken" && r.scheduled_at == at("2026-11-22T12:02:00Z"))
        .and_then(|r| r.error.clone());
    assert_eq!(
        late.as_deref(),
        Some("the scheduler woke after the grace period")
    );

    stop(scheduler, cancel).await;
    // Stopped: moving the clock runs nothing.
    clock.set(at("2026-11-22T12:10:00Z"));
    tokio::task::yield_now().await;
    assert_eq!(store.runs().len(), 24);
}

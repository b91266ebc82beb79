//! The report scheduler: runs the reports whose header has a `schedule` at each fire
//! time, hands their pages and a record of every run (ok, failed or missed) and every
//! fired alert to a [`RunStore`], and stops when its cancellation token is cancelled.
//!
//! A report's first start on a store begins with the next fire time. After that, fire
//! times that passed while no scheduler was running the report (or while its previous
//! run was still going) are recorded as [`RunStatus::Missed`]; one that passed less than
//! [`GRACE`] ago still runs.
//!
//! Time comes from a [`Clock`], so a test steps it instead of racing the wall clock.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use datafusion::prelude::SessionContext;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{FiredAlert, Report, Severity};

/// How late a fire time may be and still run rather than count as missed.
pub const GRACE: Duration = Duration::seconds(60);
/// Missed runs recorded at once per report; older ones are only counted in the log.
pub const MAX_MISSED: usize = 10_000;

/// What became of one fire time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// The report ran and its pages were written.
    Ok,
    /// A query, an alert or writing a page failed (the error is in the record).
    Failed,
    /// The fire time passed while no scheduler ran the report, or while its previous
    /// run was still going.
    Missed,
}

impl RunStatus {
    /// The name stored in `system.report_runs.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Failed => "failed",
            RunStatus::Missed => "missed",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One run of a scheduled report.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub report: String,
    /// The fire time this run is for.
    pub scheduled_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: RunStatus,
    pub alerts: usize,
    /// Where the HTML and Markdown pages were written.
    pub html: Option<String>,
    pub markdown: Option<String>,
    pub error: Option<String>,
}

/// Where the scheduler reads its history, gets a session to run reports in, and keeps
/// pages, runs and alerts (the lake, in `runlake serve --schedule`).
pub trait RunStore: Send + Sync + 'static {
    type Error: std::error::Error + Send + Sync + 'static;

    /// The newest recorded fire time per report.
    fn last_runs(
        &self,
    ) -> impl Future<Output = Result<HashMap<String, DateTime<Utc>>, Self::Error>> + Send;

    /// A session to run one report in.
    fn session(&self) -> impl Future<Output = Result<SessionContext, Self::Error>> + Send;

    /// Stores a rendered page at `relative` (e.g. `NAME/20261122T120000Z.html`) and
    /// returns where it went.
    fn write_page(
        &self,
        relative: &str,
        bytes: Vec<u8>,
    ) -> impl Future<Output = Result<String, Self::Error>> + Send;

    /// Records `runs` and the `alerts` they fired (at `fired_at`), once per `key`: a
    /// retried call with the same key records nothing twice.
    fn record(
        &self,
        key: &str,
        runs: &[RunRecord],
        alerts: &[FiredAlert],
        fired_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// The scheduler's time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// Returns once [`Clock::now`] has reached `at`.
    fn sleep_until(&self, at: DateTime<Utc>) -> impl Future<Output = ()> + Send;
}

/// The wall clock, optionally shifted so that it reads `start` at the moment it is made
/// (for trying a schedule out: `RUNLAKE_NOW` in `runlake serve --schedule`).
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    offset: Duration,
}

impl SystemClock {
    pub fn new() -> SystemClock {
        SystemClock {
            offset: Duration::zero(),
        }
    }

    /// A clock that reads `start` now and advances in real time.
    pub fn starting_at(start: DateTime<Utc>) -> SystemClock {
        SystemClock {
            offset: start - Utc::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }

    async fn sleep_until(&self, at: DateTime<Utc>) {
        // The wall clock may be stepped while we sleep; wake at least once a minute to
        // look again, so a fire time is never slept past by more than that.
        loop {
            let Ok(wait) = (at - self.now()).to_std() else {
                return;
            };
            if wait.is_zero() {
                return;
            }
            tokio::time::sleep(wait.min(std::time::Duration::from_secs(60))).await;
        }
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The running scheduler: one task per scheduled report.
#[derive(Debug)]
pub struct Scheduler {
    /// What was scheduled, one line per report: `NAME ('CRON' TZ, next TIME)`.
    pub scheduled: Vec<String>,
    tasks: JoinSet<()>,
}

impl Scheduler {
    /// Starts a task for every report in `reports` that has a schedule. The tasks stop
    /// when `cancel` is cancelled (a run in progress is finished and recorded first).
    pub async fn start<S: RunStore, C: Clock>(
        store: Arc<S>,
        clock: Arc<C>,
        reports: Vec<Report>,
        cancel: CancellationToken,
    ) -> Result<Scheduler, S::Error> {
        let last = store.last_runs().await?;
        let mut scheduled = Vec::new();
        let mut tasks = JoinSet::new();
        for report in reports {
            let Some(schedule) = report.schedule.clone() else {
                continue;
            };
            let next = schedule
                .next_after(clock.now())
                .map_or_else(|| "never".to_string(), stamp);
            scheduled.push(format!(
                "{} ('{}' {}, next {next})",
                report.name,
                schedule.text(),
                schedule.timezone()
            ));
            // A first start begins at the clock's reading now, not when the task first
            // runs, so the fire times it counts from do not depend on task timing.
            let since = last
                .get(&report.name)
                .copied()
                .unwrap_or_else(|| clock.now());
            let task = Task {
                store: store.clone(),
                clock: clock.clone(),
                report,
            };
            let cancel = cancel.clone();
            tasks.spawn(async move {
                tokio::select! {
                    () = task.run(since) => {}
                    () = cancel.cancelled() => {}
                }
            });
        }
        Ok(Scheduler { scheduled, tasks })
    }

    /// Waits until every task has stopped (after the token was cancelled).
    pub async fn join(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

struct Task<S, C> {
    store: Arc<S>,
    clock: Arc<C>,
    report: Report,
}

impl<S: RunStore, C: Clock> Task<S, C> {
    /// Runs the report at each fire time after `since`.
    async fn run(self, since: DateTime<Utc>) {
        let Some(schedule) = self.report.schedule.clone() else {
            return;
        };
        let mut cursor = since;
        let mut reason = "the server was not running";
        loop {
            let (missed, dropped) =
                schedule.fires_between(cursor, self.clock.now() - GRACE, MAX_MISSED);
            if let Some(last) = missed.last().copied() {
                self.record_missed(&missed, dropped, reason).await;
                cursor = last;
            }
            let Some(next) = schedule.next_after(cursor) else {
                tracing::warn!(event = "schedule_ends", report = %self.report.name);
                return;
            };
            self.clock.sleep_until(next).await;
            if self.clock.now() - next > GRACE {
                // Woken long after the fire time (a suspended machine, a clock stepped
                // forward): it is recorded as missed on the next turn, not run late.
                reason = "the scheduler woke after the grace period";
                continue;
            }
            self.run_once(next).await;
            cursor = next;
            reason = "the previous run was still going";
        }
    }

    async fn record_missed(&self, missed: &[DateTime<Utc>], dropped: usize, reason: &str) {
        let name = &self.report.name;
        let runs: Vec<RunRecord> = missed
            .iter()
            .map(|t| RunRecord {
                report: name.clone(),
                scheduled_at: *t,
                started_at: None,
                finished_at: None,
                status: RunStatus::Missed,
                alerts: 0,
                html: None,
                markdown: None,
                error: Some(reason.to_string()),
            })
            .collect();
        let (first, last) = (missed[0], missed[missed.len() - 1]);
        let key = format!(
            "{name}:missed:{}:{}",
            first.timestamp_micros(),
            last.timestamp_micros()
        );
        let fields = (
            name.as_str(),
            missed.len() + dropped,
            stamp(first),
            stamp(last),
        );
        match self.store.record(&key, &runs, &[], self.clock.now()).await {
            Ok(()) => tracing::warn!(
                event = "report_missed",
                report = fields.0,
                runs = fields.1,
                from = %fields.2,
                to = %fields.3,
                reason,
            ),
            Err(e) => tracing::error!(
                event = "report_missed",
                report = fields.0,
                runs = fields.1,
                from = %fields.2,
                to = %fields.3,
                reason,
                error = %e,
            ),
        }
    }

    /// Renders the report's pages for fire time `at`.
    async fn render(&self, at: DateTime<Utc>) -> Result<(crate::Rendered, String, String), String> {
        let ctx = self.store.session().await.map_err(|e| e.to_string())?;
        let rendered = self
            .report
            .run(&ctx, &HashMap::new())
            .await
            .map_err(|e| e.to_string())?;
        let base = format!("{}/{}", self.report.name, at.format("%Y%m%dT%H%M%SZ"));
        let html = self
            .store
            .write_page(&format!("{base}.html"), crate::html(&rendered).into())
            .await
            .map_err(|e| e.to_string())?;
        let markdown = self
            .store
            .write_page(&format!("{base}.md"), crate::markdown(&rendered).into())
            .await
            .map_err(|e| e.to_string())?;
        Ok((rendered, html, markdown))
    }

    /// Runs the report for fire time `at`, writes its pages, records the run and its
    /// alerts.
    async fn run_once(&self, at: DateTime<Utc>) {
        let name = &self.report.name;
        let started = self.clock.now();
        let outcome = self.render(at).await;
        let finished = self.clock.now();
        let mut run = RunRecord {
            report: name.clone(),
            scheduled_at: at,
            started_at: Some(started),
            finished_at: Some(finished),
            status: RunStatus::Ok,
            alerts: 0,
            html: None,
            markdown: None,
            error: None,
        };
        let mut alerts = Vec::new();
        match outcome {
            Ok((rendered, html, markdown)) => {
                run.html = Some(html);
                run.markdown = Some(markdown);
                run.alerts = rendered.alerts.len();
                for a in &rendered.alerts {
                    let severity = a.severity.name();
                    let message = a.message.as_str();
                    match a.severity {
                        Severity::Info => {
                            tracing::info!(event = "alert", report = %name, severity, message)
                        }
                        Severity::Warning => {
                            tracing::warn!(event = "alert", report = %name, severity, message)
                        }
                        Severity::Critical => {
                            tracing::error!(event = "alert", report = %name, severity, message)
                        }
                    }
                }
                alerts = rendered.alerts;
            }
            Err(e) => {
                run.status = RunStatus::Failed;
                run.error = Some(e);
            }
        }
        let key = format!("{name}:{}", at.timestamp_micros());
        let recorded = self
            .store
            .record(&key, std::slice::from_ref(&run), &alerts, finished)
            .await;
        let duration_ms = (finished - started).num_milliseconds();
        let scheduled_at = stamp(at);
        let html = run.html.clone().unwrap_or_default();
        let error = run
            .error
            .clone()
            .or_else(|| recorded.err().map(|e| format!("recording the run: {e}")));
        match error {
            None => tracing::info!(
                event = "report_run",
                report = %name,
                scheduled_at,
                status = %run.status,
                alerts = run.alerts,
                duration_ms,
                html,
            ),
            Some(error) => tracing::error!(
                event = "report_run",
                report = %name,
                scheduled_at,
                status = %run.status,
                alerts = run.alerts,
                duration_ms,
                html,
                error,
            ),
        }
    }
}

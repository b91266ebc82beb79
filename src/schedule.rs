//! `runlake serve --schedule`: runs the reports whose header has a `schedule`, writes each
//! run's pages under the lake's `_reports/NAME/`, and records every run (ok, failed or
//! missed) in `_report_runs` and every fired alert in `_alerts`, which the server shows
//! as `system.report_runs` and `system.alerts`.
//!
//! A report's first start on a lake begins with the next fire time. After that, fire
//! times that passed while no server was scheduling the report (or while its previous
//! run was still going) are recorded as `missed`; one that passed less than a minute ago
//! still runs.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use runlake_flight::log::event;
use runlake_lake::{AlertRecord, Lake, REPORTS_DIR, ReportRun};
use runlake_report::{Report, Severity};

/// How late a fire time may be and still run rather than count as missed.
const GRACE: Duration = Duration::seconds(60);
/// Missed runs recorded at once per report; older ones are only counted in the log.
const MAX_MISSED: usize = 10_000;

/// The scheduler's clock: the wall clock, or (with `RUNLAKE_NOW=2026-11-22T11:59:58Z`,
/// for trying a schedule out) that time at start-up, advancing in real time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start_wall: DateTime<Utc>,
    start: Instant,
}

impl Clock {
    pub fn from_env() -> Result<Clock, String> {
        let start_wall = match std::env::var("RUNLAKE_NOW") {
            Ok(text) => DateTime::parse_from_rfc3339(text.trim())
                .map_err(|e| format!("RUNLAKE_NOW='{text}' is not an RFC 3339 time: {e}"))?
                .with_timezone(&Utc),
            Err(_) => Utc::now(),
        };
        Ok(Clock {
            start_wall,
            start: Instant::now(),
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.start_wall + Duration::from_std(self.start.elapsed()).unwrap_or_default()
    }
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Starts one task per scheduled report in `reports`; returns what it scheduled, as
/// lines to print.
pub async fn start(lake: &Lake, reports: Vec<Report>, clock: Clock) -> Result<Vec<String>, String> {
    let last = lake.last_report_runs().await.map_err(|e| e.to_string())?;
    let mut lines = Vec::new();
    for report in reports {
        let Some(schedule) = report.schedule.clone() else {
            continue;
        };
        let next = schedule
            .next_after(clock.now())
            .map_or_else(|| "never".to_string(), stamp);
        lines.push(format!(
            "{} ('{}' {}, next {next})",
            report.name,
            schedule.text(),
            schedule.timezone()
        ));
        let since = last
            .get(&report.name)
            .and_then(|us| DateTime::<Utc>::from_timestamp_micros(*us));
        tokio::spawn(run_schedule(lake.clone(), report, since, clock));
    }
    Ok(lines)
}

/// Runs `report` at each fire time after `since` (or from now, on its first start).
async fn run_schedule(lake: Lake, report: Report, since: Option<DateTime<Utc>>, clock: Clock) {
    let Some(schedule) = report.schedule.clone() else {
        return;
    };
    let mut cursor = since.unwrap_or_else(|| clock.now());
    let mut reason = "the server was not running";
    loop {
        let (missed, dropped) = schedule.fires_between(cursor, clock.now() - GRACE, MAX_MISSED);
        if let Some(last) = missed.last().copied() {
            record_missed(&lake, &report.name, &missed, dropped, reason).await;
            cursor = last;
        }
        reason = "the previous run was still going";
        let Some(next) = schedule.next_after(cursor) else {
            event("warn", "schedule_ends", &[("report", report.name.clone())]);
            return;
        };
        if let Ok(wait) = (next - clock.now()).to_std() {
            tokio::time::sleep(wait).await;
        }
        run_once(&lake, &report, next, &clock).await;
        cursor = next;
    }
}

async fn record_missed(
    lake: &Lake,
    name: &str,
    missed: &[DateTime<Utc>],
    dropped: usize,
    reason: &str,
) {
    let runs: Vec<ReportRun> = missed
        .iter()
        .map(|t| ReportRun {
            report: name.to_string(),
            scheduled_at: micros(*t),
            started_at: None,
            finished_at: None,
            status: "missed".into(),
            alerts: 0,
            html: None,
            markdown: None,
            error: Some(reason.to_string()),
        })
        .collect();
    let (first, last) = (missed[0], missed[missed.len() - 1]);
    let key = format!("{name}:missed:{}:{}", micros(first), micros(last));
    let result = lake.record_report_runs(&key, &runs, &[]).await;
    event(
        if result.is_ok() { "warn" } else { "error" },
        "report_missed",
        &[
            ("report", name.to_string()),
            ("runs", (missed.len() + dropped).to_string()),
            ("from", stamp(first)),
            ("to", stamp(last)),
            ("reason", reason.to_string()),
            (
                "error",
                result.err().map(|e| e.to_string()).unwrap_or_default(),
            ),
        ],
    );
}

/// Runs `report` for fire time `at`, writes its pages, records the run and its alerts.
async fn run_once(lake: &Lake, report: &Report, at: DateTime<Utc>, clock: &Clock) {
    let started = clock.now();
    let name = &report.name;
    let outcome = async {
        let session = runlake_lake::sql::Session::open(lake.clone())
            .await
            .map_err(|e| e.to_string())?;
        let rendered = report
            .run(session.ctx(), &HashMap::new())
            .await
            .map_err(|e| e.to_string())?;
        let base = format!("{REPORTS_DIR}/{name}/{}", at.format("%Y%m%dT%H%M%SZ"));
        let html = lake
            .write_file(
                &format!("{base}.html"),
                runlake_report::html(&rendered).into(),
            )
            .await
            .map_err(|e| e.to_string())?;
        let markdown = lake
            .write_file(
                &format!("{base}.md"),
                runlake_report::markdown(&rendered).into(),
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((rendered, html, markdown))
    }
    .await;
    let finished = clock.now();
    let mut run = ReportRun {
        report: name.clone(),
        scheduled_at: micros(at),
        started_at: Some(micros(started)),
        finished_at: Some(micros(finished)),
        status: "ok".into(),
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
            run.alerts = rendered.alerts.len() as i64;
            for a in &rendered.alerts {
                let level = match a.severity {
                    Severity::Info => "info",
                    Severity::Warning => "warn",
                    Severity::Critical => "error",
                };
                event(
                    level,
                    "alert",
                    &[
                        ("report", name.clone()),
                        ("severity", a.severity.name().to_string()),
                        ("message", a.message.clone()),
                    ],
                );
                alerts.push(AlertRecord {
                    report: name.clone(),
                    scheduled_at: micros(at),
                    fired_at: micros(finished),
                    severity: a.severity.name().to_string(),
                    query: a.query.clone(),
                    condition: a.when.clone(),
                    message: a.message.clone(),
                    row: serde_json::to_string(&a.row).unwrap_or_default(),
                });
            }
        }
        Err(e) => {
            run.status = "failed".into();
            run.error = Some(e);
        }
    }
    let key = format!("{name}:{}", micros(at));
    let recorded = lake.record_report_runs(&key, &[run.clone()], &alerts).await;
    event(
        if run.status == "ok" && recorded.is_ok() {
            "info"
        } else {
            "error"
        },
        "report_run",
        &[
            ("report", name.clone()),
            ("scheduled_at", stamp(at)),
            ("status", run.status.clone()),
            ("alerts", run.alerts.to_string()),
            (
                "duration_ms",
                (finished - started).num_milliseconds().to_string(),
            ),
            ("html", run.html.clone().unwrap_or_default()),
            (
                "error",
                run.error
                    .clone()
                    .or_else(|| recorded.err().map(|e| format!("recording the run: {e}")))
                    .unwrap_or_default(),
            ),
        ],
    );
}

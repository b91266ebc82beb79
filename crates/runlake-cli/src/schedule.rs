//! `runlake serve --schedule`: the report scheduler of `runlake_report::scheduler`,
//! keeping its pages under the lake's `_reports/NAME/`, its runs in `_report_runs` and
//! its alerts in `_alerts` (shown as `system.report_runs` and `system.alerts`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use datafusion::prelude::SessionContext;
use runlake_lake::{AlertRecord, Lake, REPORTS_DIR, ReportRun};
use runlake_report::FiredAlert;
use runlake_report::scheduler::{RunRecord, RunStore, SystemClock};

/// The scheduler's clock: the wall clock, or (with `RUNLAKE_NOW=2026-11-22T11:59:58Z`,
/// for trying a schedule out) that time at start-up, advancing in real time.
pub fn clock_from_env() -> crate::error::Result<SystemClock> {
    match std::env::var("RUNLAKE_NOW") {
        Ok(text) => {
            let start = DateTime::parse_from_rfc3339(text.trim())
                .map_err(|e| format!("RUNLAKE_NOW='{text}' is not an RFC 3339 time: {e}"))?;
            Ok(SystemClock::starting_at(start.with_timezone(&Utc)))
        }
        Err(_) => Ok(SystemClock::new()),
    }
}

/// The lake as the scheduler's store; reports run on the cluster when one is given.
#[derive(Debug, Clone)]
pub struct LakeRuns(pub Lake, pub Option<String>);

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

impl RunStore for LakeRuns {
    type Error = runlake_lake::Error;

    async fn last_runs(&self) -> Result<HashMap<String, DateTime<Utc>>, Self::Error> {
        Ok(self
            .0
            .last_report_runs()
            .await?
            .into_iter()
            .filter_map(|(name, us)| Some((name, DateTime::<Utc>::from_timestamp_micros(us)?)))
            .collect())
    }

    async fn session(&self) -> Result<SessionContext, Self::Error> {
        let session = crate::session::open_engine(&self.0, self.1.as_deref())
            .await
            .map_err(|e| runlake_lake::Error::DataFusion(Box::new(e)))?;
        Ok(session.ctx().clone())
    }

    async fn write_page(&self, relative: &str, bytes: Vec<u8>) -> Result<String, Self::Error> {
        self.0
            .write_file(&format!("{REPORTS_DIR}/{relative}"), bytes)
            .await
    }

    async fn record(
        &self,
        key: &str,
        runs: &[RunRecord],
        alerts: &[FiredAlert],
        fired_at: DateTime<Utc>,
    ) -> Result<(), Self::Error> {
        let rows: Vec<ReportRun> = runs
            .iter()
            .map(|r| ReportRun {
                report: r.report.clone(),
                scheduled_at: micros(r.scheduled_at),
                started_at: r.started_at.map(micros),
                finished_at: r.finished_at.map(micros),
                status: r.status.as_str().to_string(),
                alerts: r.alerts as i64,
                html: r.html.clone(),
                markdown: r.markdown.clone(),
                error: r.error.clone(),
            })
            .collect();
        // Alerts come from one run at a time.
        let (report, scheduled_at) = runs
            .first()
            .map(|r| (r.report.clone(), micros(r.scheduled_at)))
            .unwrap_or_default();
        let alerts: Vec<AlertRecord> = alerts
            .iter()
            .map(|a| AlertRecord {
                report: report.clone(),
                scheduled_at,
                fired_at: micros(fired_at),
                severity: a.severity.name().to_string(),
                query: a.query.clone(),
                condition: a.when.clone(),
                message: a.message.clone(),
                row: serde_json::Value::Object(a.row.clone()).to_string(),
            })
            .collect();
        self.0.record_report_runs(key, &rows, &alerts).await
    }
}

//! What the report scheduler keeps in the lake: each run of a scheduled report in
//! `_report_runs` (including the failed and the missed ones), each alert a run fired in
//! `_alerts`, and the rendered pages under `_reports/NAME/`.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::prelude::SessionContext;
use object_store::ObjectStoreExt;

use crate::ingest::batch;
use crate::{CommitKey, Lake, Result};

/// The table of report runs (`system.report_runs` on the server).
pub const REPORT_RUNS: &str = "_report_runs";
/// The table of fired alerts (`system.alerts` on the server).
pub const ALERTS: &str = "_alerts";
/// The folder rendered reports are written to.
pub const REPORTS_DIR: &str = "_reports";

/// One run of a scheduled report. Times are microseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRun {
    pub report: String,
    /// The time the schedule named for this run.
    pub scheduled_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// `ok`, `failed` or `missed`.
    pub status: String,
    pub alerts: i64,
    /// Where the HTML and Markdown pages were written.
    pub html: Option<String>,
    pub markdown: Option<String>,
    pub error: Option<String>,
}

/// An alert fired by a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRecord {
    pub report: String,
    pub scheduled_at: i64,
    pub fired_at: i64,
    pub severity: String,
    pub query: String,
    pub condition: String,
    pub message: String,
    /// The row that fired it, as a JSON object.
    pub row: String,
}

fn micros(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter(values).with_timezone("UTC"))
}

fn text<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(StringArray::from_iter(values))
}

impl Lake {
    /// Writes `bytes` to `relative` (e.g. `_reports/NAME/TS.html`) under the lake's root
    /// and returns its URL.
    pub async fn write_file(&self, relative: &str, bytes: Vec<u8>) -> Result<String> {
        let mut path = self.location.prefix();
        let mut url = self.location.url().clone();
        for part in relative.split('/').filter(|p| !p.is_empty()) {
            path = path.join(part);
            if let Ok(mut segments) = url.path_segments_mut() {
                segments.pop_if_empty().push(part);
            }
        }
        self.store.put(&path, bytes.into()).await?;
        Ok(url.to_string())
    }

    /// Records `alerts`, then `runs` (one commit each, idempotent by `key`: recording
    /// the same runs again is a no-op).
    pub async fn record_report_runs(
        &self,
        key: &str,
        runs: &[ReportRun],
        alerts: &[AlertRecord],
    ) -> Result<()> {
        if !alerts.is_empty() {
            let key = CommitKey::new(format!("alerts:{key}"));
            self.append(ALERTS, vec![alerts_batch(alerts)], &key, &[], false)
                .await?;
        }
        if !runs.is_empty() {
            let key = CommitKey::new(format!("report-runs:{key}"));
            self.append(REPORT_RUNS, vec![runs_batch(runs)], &key, &[], false)
                .await?;
        }
        Ok(())
    }

    /// The newest `scheduled_at` recorded per report (microseconds, UTC).
    pub async fn last_report_runs(&self) -> Result<HashMap<String, i64>> {
        let mut out = HashMap::new();
        if self.table(REPORT_RUNS).await?.is_none() {
            return Ok(out);
        }
        let ctx = SessionContext::new();
        ctx.register_table("r", self.provider(REPORT_RUNS).await?)?;
        let batches = ctx
            .sql("SELECT report, max(scheduled_at) FROM r GROUP BY report")
            .await?
            .collect()
            .await?;
        for b in &batches {
            let names = cast(b.column(0), &DataType::Utf8)?;
            let times = cast(
                b.column(1),
                &DataType::Timestamp(TimeUnit::Microsecond, None),
            )?;
            let (Some(names), Some(times)) = (
                names.as_any().downcast_ref::<StringArray>(),
                times.as_any().downcast_ref::<TimestampMicrosecondArray>(),
            ) else {
                continue;
            };
            for i in 0..b.num_rows() {
                if !times.is_null(i) {
                    out.insert(names.value(i).to_string(), times.value(i));
                }
            }
        }
        Ok(out)
    }
}

fn alerts_batch(a: &[AlertRecord]) -> RecordBatch {
    batch(vec![
        ("report", text(a.iter().map(|r| Some(r.report.as_str())))),
        (
            "scheduled_at",
            micros(a.iter().map(|r| Some(r.scheduled_at))),
        ),
        ("fired_at", micros(a.iter().map(|r| Some(r.fired_at)))),
        (
            "severity",
            text(a.iter().map(|r| Some(r.severity.as_str()))),
        ),
        ("query", text(a.iter().map(|r| Some(r.query.as_str())))),
        (
            "condition",
            text(a.iter().map(|r| Some(r.condition.as_str()))),
        ),
        ("message", text(a.iter().map(|r| Some(r.message.as_str())))),
        ("row", text(a.iter().map(|r| Some(r.row.as_str())))),
    ])
}

fn runs_batch(r: &[ReportRun]) -> RecordBatch {
    batch(vec![
        ("report", text(r.iter().map(|r| Some(r.report.as_str())))),
        (
            "scheduled_at",
            micros(r.iter().map(|r| Some(r.scheduled_at))),
        ),
        ("started_at", micros(r.iter().map(|r| r.started_at))),
        ("finished_at", micros(r.iter().map(|r| r.finished_at))),
        ("status", text(r.iter().map(|r| Some(r.status.as_str())))),
        (
            "alerts",
            Arc::new(Int64Array::from_iter_values(r.iter().map(|r| r.alerts))),
        ),
        ("html", text(r.iter().map(|r| r.html.as_deref()))),
        ("markdown", text(r.iter().map(|r| r.markdown.as_deref()))),
        ("error", text(r.iter().map(|r| r.error.as_deref()))),
    ])
}

/// An empty batch with the columns of internal table `table` (`_report_runs`,
/// `_alerts` or `_ingests`), for showing it before anything was recorded.
pub fn empty_system_table(table: &str) -> Option<RecordBatch> {
    match table {
        REPORT_RUNS => Some(runs_batch(&[])),
        ALERTS => Some(alerts_batch(&[])),
        crate::INGESTS => Some(crate::ingest::ingests_rows("", "", "", &[], 0, "", 0)),
        _ => None,
    }
}

//! runlake reports: one `.sql` file each. The leading block comment is a YAML header
//! (title, description, typed parameters with defaults, an optional cron `schedule` and
//! `timezone`, `charts`, `alerts`) that ends at a line holding only `*/` (so a cron step
//! such as `*/15` may appear in it); then named queries, each introduced by `-- name: X`.
//!
//! Parameters are bound as query parameters (`$threshold` in the SQL), never spliced
//! into the text. An alert is a SQL boolean expression over one query's result columns,
//! with a severity and a message template (`{framework}: MAPE {mape}`).
//!
//! ```sql
//! /*
//! title: Prediction accuracy per framework
//! params:
//!   min_n: {type: int, default: 30}
//! alerts:
//!   - {query: summary, when: "mape > 0.5", severity: warning, message: "{framework}: MAPE {mape}"}
//! */
//! -- name: summary
//! SELECT framework, count(*) AS n, mape(actual_ms, predicted_ms) AS mape
//! FROM predictions GROUP BY framework HAVING count(*) >= $min_n
//! ```

pub mod charts;
mod render;
pub mod schedule;
pub mod scheduler;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use serde::Deserialize;

pub use crate::render::{csv, html, html_all, json, markdown};
pub use crate::schedule::Schedule;

/// Everything that can go wrong with a report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("report {report}: {message}")]
    Invalid { report: String, message: String },

    #[error("report {report}, query {query}: {source}")]
    Query {
        report: String,
        query: String,
        #[source]
        source: Box<datafusion::error::DataFusionError>,
    },

    #[error("report {report}, alert on {query} ({when}): {source}")]
    Alert {
        report: String,
        query: String,
        when: String,
        #[source]
        source: Box<datafusion::error::DataFusionError>,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    Int,
    Float,
    String,
    Bool,
}

/// A parameter of a report.
#[derive(Debug, Clone, Deserialize)]
pub struct Param {
    #[serde(rename = "type")]
    pub kind: ParamType,
    pub default: Option<serde_yaml::Value>,
    #[serde(default)]
    pub description: String,
}

/// A chart of one query's result.
#[derive(Debug, Clone, Deserialize)]
pub struct Chart {
    pub query: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub x: Option<String>,
    #[serde(default)]
    pub y: Option<String>,
    #[serde(default)]
    pub series: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
}

/// An alert: rows of `query` where `when` is true fire it.
#[derive(Debug, Clone, Deserialize)]
pub struct Alert {
    pub query: String,
    pub when: String,
    #[serde(default = "default_severity")]
    pub severity: Severity,
    pub message: String,
}

fn default_severity() -> Severity {
    Severity::Warning
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    params: BTreeMap<String, Param>,
    #[serde(default)]
    schedule: Option<String>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    charts: Vec<Chart>,
    #[serde(default)]
    alerts: Vec<Alert>,
    #[serde(default)]
    tables: Option<Vec<String>>,
}

/// A parsed report file.
#[derive(Debug, Clone)]
pub struct Report {
    pub name: String,
    pub title: String,
    pub description: String,
    pub params: BTreeMap<String, Param>,
    /// When `runlake serve --schedule` runs the report (with its default parameters).
    pub schedule: Option<Schedule>,
    pub charts: Vec<Chart>,
    pub alerts: Vec<Alert>,
    /// The queries shown as tables in Markdown and HTML (default: all); the others
    /// only feed charts, JSON and CSV.
    pub tables: Option<Vec<String>>,
    /// (name, SQL) in file order.
    pub queries: Vec<(String, String)>,
}

impl Report {
    /// Parses the text of a report file named `name`.
    pub fn parse(name: &str, text: &str) -> Result<Report> {
        let invalid = |message: String| Error::Invalid {
            report: name.to_string(),
            message,
        };
        let trimmed = text.trim_start();
        let body = trimmed.strip_prefix("/*").ok_or_else(|| {
            invalid("expected a leading /* ... */ block with the YAML header".into())
        })?;
        // The header ends at a line that is just `*/`, so a cron step such as `*/15`
        // inside it does not end it; failing that, at the first `*/`.
        let end = closing_line(body)
            .or_else(|| body.find("*/"))
            .ok_or_else(|| invalid("the header comment is not closed with */".into()))?;
        let header: Header =
            serde_yaml::from_str(&body[..end]).map_err(|e| invalid(format!("header: {e}")))?;
        let mut queries: Vec<(String, String)> = Vec::new();
        let mut current: Option<(String, String)> = None;
        for line in body[end + 2..].lines() {
            if let Some(rest) = line.trim().strip_prefix("-- name:") {
                if let Some(q) = current.take() {
                    queries.push(q);
                }
                current = Some((rest.trim().to_string(), String::new()));
            } else if let Some((_, sql)) = current.as_mut() {
                sql.push_str(line);
                sql.push('\n');
            } else if !line.trim().is_empty() && !line.trim().starts_with("--") {
                return Err(invalid(format!(
                    "SQL before the first '-- name:' line: {}",
                    line.trim()
                )));
            }
        }
        if let Some(q) = current.take() {
            queries.push(q);
        }
        for (n, sql) in &mut queries {
            *sql = sql.trim().trim_end_matches(';').trim().to_string();
            if sql.is_empty() {
                return Err(invalid(format!("query '{n}' is empty")));
            }
        }
        if queries.is_empty() {
            return Err(invalid(
                "no queries (each starts with '-- name: NAME')".into(),
            ));
        }
        let known = |q: &str| queries.iter().any(|(n, _)| n == q);
        for c in &header.charts {
            if !known(&c.query) {
                return Err(invalid(format!("a chart uses unknown query '{}'", c.query)));
            }
        }
        for t in header.tables.iter().flatten() {
            if !known(t) {
                return Err(invalid(format!("'tables' names unknown query '{t}'")));
            }
        }
        for a in &header.alerts {
            if !known(&a.query) {
                return Err(invalid(format!(
                    "an alert uses unknown query '{}'",
                    a.query
                )));
            }
        }
        let timezone = header.timezone.as_deref().unwrap_or("UTC");
        let schedule = match &header.schedule {
            Some(expr) => Some(Schedule::parse(expr, timezone).map_err(invalid)?),
            None if header.timezone.is_some() => {
                return Err(invalid("a timezone without a schedule".into()));
            }
            None => None,
        };
        Ok(Report {
            name: name.to_string(),
            title: header.title,
            description: header.description,
            params: header.params,
            schedule,
            charts: header.charts,
            alerts: header.alerts,
            tables: header.tables,
            queries,
        })
    }

    /// The parameter values: defaults, overridden by `given` (`name -> text`), typed.
    pub fn bind(&self, given: &HashMap<String, String>) -> Result<BTreeMap<String, ScalarValue>> {
        let invalid = |message: String| Error::Invalid {
            report: self.name.clone(),
            message,
        };
        for k in given.keys() {
            if !self.params.contains_key(k) {
                let known: Vec<&str> = self.params.keys().map(String::as_str).collect();
                return Err(invalid(format!(
                    "unknown parameter '{k}' (parameters: {})",
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                )));
            }
        }
        let mut out = BTreeMap::new();
        for (name, p) in &self.params {
            let text = match (given.get(name), &p.default) {
                (Some(v), _) => v.clone(),
                (None, Some(d)) => match d {
                    serde_yaml::Value::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                },
                (None, None) => {
                    return Err(invalid(format!(
                        "parameter '{name}' has no default: pass --param {name}=VALUE"
                    )));
                }
            };
            let bad = |t: &str| invalid(format!("parameter '{name}': '{text}' is not {t}"));
            let value = match p.kind {
                ParamType::Int => {
                    ScalarValue::Int64(Some(text.trim().parse().map_err(|_| bad("an integer"))?))
                }
                ParamType::Float => {
                    ScalarValue::Float64(Some(text.trim().parse().map_err(|_| bad("a number"))?))
                }
                ParamType::Bool => ScalarValue::Boolean(Some(
                    text.trim().parse().map_err(|_| bad("true or false"))?,
                )),
                ParamType::String => ScalarValue::Utf8(Some(text)),
            };
            out.insert(name.clone(), value);
        }
        Ok(out)
    }

    /// Runs every query with the parameters bound, then evaluates the alerts.
    pub async fn run(
        &self,
        ctx: &SessionContext,
        given: &HashMap<String, String>,
    ) -> Result<Rendered> {
        self.run_with_progress(ctx, given, &|_| {}).await
    }

    /// [`Report::run`], calling `progress` with each query's name before it runs (and
    /// `alerts` before the alerts are evaluated).
    pub async fn run_with_progress(
        &self,
        ctx: &SessionContext,
        given: &HashMap<String, String>,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<Rendered> {
        let params = self.bind(given)?;
        let values = ParamValues::Map(
            params
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into()))
                .collect(),
        );
        let mut results = Vec::new();
        for (name, sql) in &self.queries {
            progress(name);
            let query_error = |e: datafusion::error::DataFusionError| Error::Query {
                report: self.name.clone(),
                query: name.clone(),
                source: Box::new(e),
            };
            let df = ctx.sql(sql).await.map_err(query_error)?;
            let df = df.with_param_values(values.clone()).map_err(query_error)?;
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let batches = df.collect().await.map_err(query_error)?;
            results.push(QueryResult {
                name: name.clone(),
                schema,
                batches,
            });
        }
        let mut fired = Vec::new();
        if !self.alerts.is_empty() {
            progress("alerts");
        }
        for alert in &self.alerts {
            let result = results
                .iter()
                .find(|r| r.name == alert.query)
                .expect("checked on parse");
            fired.extend(self.evaluate(alert, result, &values).await?);
        }
        Ok(Rendered {
            report: self.clone(),
            params,
            generated_at: now_rfc3339(),
            results,
            alerts: fired,
        })
    }

    async fn evaluate(
        &self,
        alert: &Alert,
        result: &QueryResult,
        values: &ParamValues,
    ) -> Result<Vec<FiredAlert>> {
        let alert_error = |e: datafusion::error::DataFusionError| Error::Alert {
            report: self.name.clone(),
            query: alert.query.clone(),
            when: alert.when.clone(),
            source: Box::new(e),
        };
        let ctx = SessionContext::new();
        let table = MemTable::try_new(result.schema.clone(), vec![result.batches.clone()])
            .map_err(alert_error)?;
        ctx.register_table("result", Arc::new(table))
            .map_err(alert_error)?;
        let batches = ctx
            .sql(&format!("SELECT * FROM result WHERE ({})", alert.when))
            .await
            .map_err(alert_error)?
            .with_param_values(values.clone())
            .map_err(alert_error)?
            .collect()
            .await
            .map_err(alert_error)?;
        let mut out = Vec::new();
        for batch in &batches {
            for row in 0..batch.num_rows() {
                let values = row_strings(batch, row);
                let row = match render::rows_json(&[batch.slice(row, 1)]).pop() {
                    Some(serde_json::Value::Object(map)) => map,
                    _ => serde_json::Map::new(),
                };
                out.push(FiredAlert {
                    query: alert.query.clone(),
                    when: alert.when.clone(),
                    severity: alert.severity,
                    message: fill(&alert.message, &values),
                    row,
                });
            }
        }
        Ok(out)
    }
}

/// One query's rows.
#[derive(Debug, Clone)]
pub struct QueryResult {
    pub name: String,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

/// An alert that fired on one row.
#[derive(Debug, Clone)]
pub struct FiredAlert {
    pub query: String,
    pub when: String,
    pub severity: Severity,
    pub message: String,
    /// The row's values by column, as in the JSON output: numbers, text, `null` for
    /// NULL, "NaN" and "Infinity" for non-finite floats.
    pub row: serde_json::Map<String, serde_json::Value>,
}

/// A report that ran.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub report: Report,
    pub params: BTreeMap<String, ScalarValue>,
    pub generated_at: String,
    pub results: Vec<QueryResult>,
    pub alerts: Vec<FiredAlert>,
}

impl Rendered {
    /// Whether query `name` is shown as a table in Markdown and HTML.
    pub fn shows_table(&self, name: &str) -> bool {
        self.report
            .tables
            .as_ref()
            .is_none_or(|t| t.iter().any(|n| n == name))
    }

    /// Whether an alert of at least `severity` fired.
    pub fn fired_at_least(&self, severity: Severity) -> bool {
        self.alerts.iter().any(|a| a.severity >= severity)
    }
}

/// The offset of the first line of `text` that is only `*/` (and blanks).
fn closing_line(text: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.trim() == "*/" {
            return Some(offset + line.find("*/")?);
        }
        offset += line.len();
    }
    None
}

/// The values of one row as text (floats with up to 6 significant decimals).
pub(crate) fn row_strings(batch: &RecordBatch, row: usize) -> BTreeMap<String, String> {
    let options = FormatOptions::default().with_null("NULL");
    batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| {
            let text = ArrayFormatter::try_new(c.as_ref(), &options)
                .map(|fmt| fmt.value(row).to_string())
                .unwrap_or_default();
            (f.name().clone(), text)
        })
        .collect()
}

/// `{column}` in `template` replaced by the row's values (unknown names stay as they are).
fn fill(template: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => {
                let key = &rest[open + 1..open + close];
                match values.get(key) {
                    Some(v) => out.push_str(&short_number(v)),
                    None => out.push_str(&rest[open..open + close + 1]),
                }
                rest = &rest[open + close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// A float as a report shows it: at most 4 decimals between 0.01 and 1e12, else in
/// scientific notation with 5 significant digits (`1.54e-22`, `1.2345e-4`), so small
/// and large magnitudes keep their digits; anything else as it is.
pub(crate) fn short_number(text: &str) -> String {
    let float = text.contains(['.', 'e', 'E']);
    match text.parse::<f64>() {
        Ok(v) if float && v.is_finite() => {
            let a = v.abs();
            if a != 0.0 && !(1e-2..1e12).contains(&a) {
                let s = format!("{v:.4e}");
                let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
                let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
                format!("{mantissa}e{exponent}")
            } else {
                let s = format!("{v:.4}");
                s.trim_end_matches('0').trim_end_matches('.').to_string()
            }
        }
        _ => text.to_string(),
    }
}

/// [`short_number`] for a value of `column`: a p-value of exactly 0 is one that
/// underflowed double precision, shown as `< 1e-300`.
pub(crate) fn cell_number(column: &str, text: &str) -> String {
    let name = column.to_ascii_lowercase();
    let p_value =
        name.contains("p_value") || name.contains("pvalue") || name == "p" || name.ends_with("_p");
    if p_value && text.parse::<f64>() == Ok(0.0) {
        return "< 1e-300".to_string();
    }
    short_number(text)
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

//! Rendering a report that ran: Markdown (the tables people write by hand today), JSON
//! (`{report, params, generated_at, queries: {NAME: [rows]}, alerts: [...]}`) and CSV (one
//! file per query).

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::json::ArrayWriter;
use datafusion::common::ScalarValue;
use serde_json::{Map, Value, json};

use crate::{Rendered, cell_number, row_strings};

/// Rows shown per query in Markdown and HTML; JSON and CSV hold them all.
pub const SHOWN_ROWS: usize = 50;

/// The report as Markdown: title, description, parameters, fired alerts, then one table
/// per query (its first [`SHOWN_ROWS`] rows).
pub fn markdown(r: &Rendered) -> String {
    let mut out = format!("# {}\n\n", r.report.title);
    if !r.report.description.trim().is_empty() {
        out.push_str(r.report.description.trim());
        out.push_str("\n\n");
    }
    if !r.params.is_empty() {
        let params: Vec<String> = r
            .params
            .iter()
            .map(|(k, v)| format!("`{k}` = {}", scalar_text(v)))
            .collect();
        out.push_str(&format!("Parameters: {}\n\n", params.join(", ")));
    }
    if r.alerts.is_empty() {
        if !r.report.alerts.is_empty() {
            out.push_str("No alerts fired.\n\n");
        }
    } else {
        out.push_str("## Alerts\n\n");
        for a in &r.alerts {
            out.push_str(&format!("- **{}**: {}\n", a.severity.name(), a.message));
        }
        out.push('\n');
    }
    for q in &r.results {
        if !r.shows_table(&q.name) {
            let rows: usize = q.batches.iter().map(|b| b.num_rows()).sum();
            out.push_str(&format!(
                "## {}\n\n{rows} row{} (charted in --format html; all rows in csv or json)\n\n",
                q.name,
                if rows == 1 { "" } else { "s" }
            ));
            continue;
        }
        out.push_str(&format!("## {}\n\n", q.name));
        let columns: Vec<String> = q.schema.fields().iter().map(|f| f.name().clone()).collect();
        out.push_str(&format!("| {} |\n", columns.join(" | ")));
        out.push_str(&format!(
            "|{}|\n",
            columns.iter().map(|_| "---").collect::<Vec<_>>().join("|")
        ));
        let mut rows = 0;
        for batch in &q.batches {
            for row in 0..batch.num_rows() {
                rows += 1;
                if rows > SHOWN_ROWS {
                    continue;
                }
                let values = row_strings(batch, row);
                let cells: Vec<String> = columns
                    .iter()
                    .map(|c| {
                        cell_number(c, values.get(c).map_or("", String::as_str)).replace('|', "\\|")
                    })
                    .collect();
                out.push_str(&format!("| {} |\n", cells.join(" | ")));
            }
        }
        out.push_str(&format!("\n{rows} row{}", if rows == 1 { "" } else { "s" }));
        if rows > SHOWN_ROWS {
            out.push_str(&format!(
                " (the first {SHOWN_ROWS} shown; --format csv or json has them all)"
            ));
        }
        out.push_str("\n\n");
    }
    out.push_str(&format!("_Generated {} by runlake._\n", r.generated_at));
    out
}

/// The report as one JSON document. Numbers keep full precision; NaN and the infinities
/// are the strings "NaN", "Infinity", "-Infinity".
pub fn json(r: &Rendered) -> String {
    let mut queries = Map::new();
    for q in &r.results {
        queries.insert(q.name.clone(), Value::Array(rows_json(&q.batches)));
    }
    let params: Map<String, Value> = r
        .params
        .iter()
        .map(|(k, v)| (k.clone(), scalar_json(v)))
        .collect();
    let alerts: Vec<Value> = r
        .alerts
        .iter()
        .map(|a| {
            json!({
                "query": a.query,
                "when": a.when,
                "severity": a.severity.name(),
                "message": a.message,
                "row": a.row,
            })
        })
        .collect();
    let doc = json!({
        "report": r.report.name,
        "title": r.report.title,
        "params": params,
        "generated_at": r.generated_at,
        "queries": queries,
        "alerts": alerts,
    });
    serde_json::to_string_pretty(&doc).expect("JSON") + "\n"
}

/// One CSV text per query: (query name, CSV).
pub fn csv(r: &Rendered) -> Vec<(String, String)> {
    r.results
        .iter()
        .map(|q| {
            let mut bytes = Vec::new();
            {
                let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut bytes);
                if q.batches.is_empty() {
                    let empty = RecordBatch::new_empty(q.schema.clone());
                    let _ = writer.write(&empty);
                }
                for b in &q.batches {
                    let _ = writer.write(b);
                }
            }
            (q.name.clone(), String::from_utf8_lossy(&bytes).into_owned())
        })
        .collect()
}

pub(crate) fn rows_json(batches: &[RecordBatch]) -> Vec<Value> {
    let mut bytes = Vec::new();
    {
        let mut writer = ArrayWriter::new(&mut bytes);
        for b in batches {
            let _ = writer.write(b);
        }
        let _ = writer.finish();
    }
    let mut rows: Vec<Value> = if bytes.is_empty() {
        Vec::new()
    } else {
        serde_json::from_slice(&bytes).unwrap_or_default()
    };
    // Arrow's JSON writer leaves out NULLs and writes non-finite floats as null: restore
    // both from the batches.
    let mut i = 0;
    for batch in batches {
        for row in 0..batch.num_rows() {
            if let Some(Value::Object(obj)) = rows.get_mut(i) {
                for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
                    let value = ScalarValue::try_from_array(column, row).ok();
                    let fixed = match value {
                        Some(ScalarValue::Float64(Some(f))) if !f.is_finite() => Some(special(f)),
                        Some(ScalarValue::Float32(Some(f))) if !f.is_finite() => {
                            Some(special(f64::from(f)))
                        }
                        Some(v) if v.is_null() => Some(Value::Null),
                        _ => None,
                    };
                    if let Some(v) = fixed {
                        obj.insert(field.name().clone(), v);
                    }
                }
            }
            i += 1;
        }
    }
    rows
}

fn special(f: f64) -> Value {
    Value::String(
        if f.is_nan() {
            "NaN"
        } else if f > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        }
        .into(),
    )
}

fn scalar_json(v: &ScalarValue) -> Value {
    match v {
        ScalarValue::Int64(Some(i)) => json!(i),
        ScalarValue::Float64(Some(f)) if f.is_finite() => json!(f),
        ScalarValue::Float64(Some(f)) => special(*f),
        ScalarValue::Boolean(Some(b)) => json!(b),
        ScalarValue::Utf8(Some(s)) => json!(s),
        _ => Value::Null,
    }
}

fn scalar_text(v: &ScalarValue) -> String {
    match v {
        ScalarValue::Utf8(Some(s)) => format!("'{s}'"),
        other => other.to_string(),
    }
}

fn esc(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A self-contained HTML document around `body`.
fn page(title: &str, body: &str) -> String {
    let mut out =
        String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    out.push_str(&format!("<title>{}</title>\n", esc(title)));
    out.push_str(
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}\
         table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}\
         th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}\
         section{margin-bottom:3em}nav li{margin:.2em 0}\
         .alert-warning{color:#a15c00}.alert-critical{color:#b00020}.alert-info{color:#555}</style>\n",
    );
    out.push_str("</head><body>\n");
    out.push_str(body);
    out.push_str("</body></html>\n");
    out
}

/// The report as one self-contained HTML page (no network): title, parameters, alerts,
/// charts, one table per query.
pub fn html(r: &Rendered) -> String {
    let mut body = format!("<h1>{}</h1>\n", esc(&r.report.title));
    body.push_str(&html_body(r, "h2"));
    body.push_str(&format!(
        "<p><small>Generated {} by runlake.</small></p>\n",
        esc(&r.generated_at)
    ));
    page(&r.report.title, &body)
}

/// Several reports on one self-contained page, with a table of contents.
pub fn html_all(title: &str, reports: &[Rendered]) -> String {
    let mut body = format!("<h1>{}</h1>\n<nav><ul>\n", esc(title));
    for r in reports {
        body.push_str(&format!(
            "<li><a href=\"#{}\">{}</a>{}</li>\n",
            esc(&r.report.name),
            esc(&r.report.title),
            if r.alerts.is_empty() {
                String::new()
            } else {
                format!(" ({} alerts)", r.alerts.len())
            }
        ));
    }
    body.push_str("</ul></nav>\n");
    for r in reports {
        body.push_str(&format!(
            "<section id=\"{}\"><h2>{}</h2>\n",
            esc(&r.report.name),
            esc(&r.report.title)
        ));
        body.push_str(&html_body(r, "h3"));
        body.push_str("</section>\n");
    }
    if let Some(r) = reports.first() {
        body.push_str(&format!(
            "<p><small>Generated {} by runlake.</small></p>\n",
            esc(&r.generated_at)
        ));
    }
    page(title, &body)
}

/// A report's description, parameters, alerts, charts and tables; `h` is the heading
/// tag of its parts.
fn html_body(r: &Rendered, h: &str) -> String {
    let mut out = String::new();
    if !r.report.description.trim().is_empty() {
        out.push_str(&format!("<p>{}</p>\n", esc(r.report.description.trim())));
    }
    if !r.params.is_empty() {
        let params: Vec<String> = r
            .params
            .iter()
            .map(|(k, v)| format!("<code>{}</code> = {}", esc(k), esc(&scalar_text(v))))
            .collect();
        out.push_str(&format!("<p>Parameters: {}</p>\n", params.join(", ")));
    }
    if !r.alerts.is_empty() {
        out.push_str(&format!("<{h}>Alerts</{h}>\n<ul>\n"));
        for a in &r.alerts {
            out.push_str(&format!(
                "<li class=\"alert-{0}\"><b>{0}</b>: {1}</li>\n",
                a.severity.name(),
                esc(&a.message)
            ));
        }
        out.push_str("</ul>\n");
    }
    for chart in &r.report.charts {
        let Some(result) = r.results.iter().find(|q| q.name == chart.query) else {
            continue;
        };
        match crate::charts::svg(chart, result) {
            Ok(svg) => {
                out.push_str("<figure>");
                out.push_str(&svg);
                out.push_str("</figure>\n");
            }
            Err(e) => out.push_str(&format!(
                "<p class=\"chart-error\">chart of {}: {}</p>\n",
                esc(&chart.query),
                esc(&e)
            )),
        }
    }
    for q in r.results.iter().filter(|q| r.shows_table(&q.name)) {
        out.push_str(&format!("<{h}>{}</{h}>\n<table><thead><tr>", esc(&q.name)));
        let columns: Vec<String> = q.schema.fields().iter().map(|f| f.name().clone()).collect();
        for c in &columns {
            out.push_str(&format!("<th>{}</th>", esc(c)));
        }
        out.push_str("</tr></thead><tbody>\n");
        let mut rows = 0;
        for batch in &q.batches {
            for row in 0..batch.num_rows() {
                rows += 1;
                if rows > SHOWN_ROWS {
                    continue;
                }
                let values = row_strings(batch, row);
                out.push_str("<tr>");
                for c in &columns {
                    let v = cell_number(c, values.get(c).map_or("", String::as_str));
                    out.push_str(&format!("<td>{}</td>", esc(&v)));
                }
                out.push_str("</tr>\n");
            }
        }
        out.push_str("</tbody></table>\n");
        if rows > SHOWN_ROWS {
            out.push_str(&format!(
                "<p><small>{rows} rows; the first {SHOWN_ROWS} shown.</small></p>\n"
            ));
        }
    }
    out
}

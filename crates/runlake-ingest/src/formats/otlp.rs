//! OpenTelemetry traces as OTLP/JSON: one `ExportTraceServiceRequest` document
//! (`resourceSpans[].scopeSpans[].spans[]`), or the Collector file exporter's JSON lines
//! (one such document per line). One `spans` row per span: ids in hex, times from the
//! string-encoded nanoseconds, `duration_ms`, the `service.name` of its resource, the
//! status, and the attributes flattened to a JSON object (`{"gen_ai.usage.input_tokens":
//! 812, ...}`) that SQL reads with `json_get`-style functions or `LIKE`.

use serde_json::{Map, Value};

use super::{Record, json_stream, s, spans_table};
use crate::value::{Cell, as_f64, as_i64};
use crate::{Format, Parsed, Reject, Result, Source, TableData};

pub fn read(source: &Source) -> Result<Parsed> {
    let documents = json_stream(source)?;
    let single = documents.len() == 1;
    let mut spans = spans_table();
    let mut rejects = Vec::new();
    let mut ordinal = 0u64;
    for (line, doc, _) in &documents {
        let Some(resources) = doc.get("resourceSpans").and_then(Value::as_array) else {
            return Err(super::not_format(
                source,
                Format::Otlp,
                &format!("line {line}: no resourceSpans"),
            ));
        };
        for rs in resources {
            let resource = attributes(rs.get("resource").and_then(|r| r.get("attributes")));
            let service = resource.get("service.name").and_then(Value::as_str);
            let scopes = rs
                .get("scopeSpans")
                .or_else(|| rs.get("instrumentationLibrarySpans"))
                .and_then(Value::as_array);
            for scope_spans in scopes.into_iter().flatten() {
                let scope = scope_spans
                    .get("scope")
                    .or_else(|| scope_spans.get("instrumentationLibrary"))
                    .and_then(|s| s.get("name"))
                    .and_then(Value::as_str);
                let list = scope_spans.get("spans").and_then(Value::as_array);
                for span in list.into_iter().flatten() {
                    let Value::Object(o) = span else { continue };
                    ordinal += 1;
                    let at = if single { ordinal } else { *line };
                    match span_row(o, service, scope) {
                        Ok(row) => spans.push(at, row),
                        Err(reason) => rejects.push(Reject {
                            line: at,
                            column: None,
                            reason,
                            raw: Value::Object(o.clone())
                                .to_string()
                                .chars()
                                .take(2000)
                                .collect(),
                        }),
                    }
                }
            }
        }
    }
    Ok(Parsed {
        format: Format::Otlp,
        tables: vec![TableData::Rows(spans)],
        rejects,
        renamed: Vec::new(),
        records: ordinal as usize,
    })
}

/// One span's row, or why it is refused: OTLP times are unsigned nanoseconds since the
/// epoch, so a negative one is not a time, and a duration that does not fit is refused
/// rather than wrapped.
fn span_row(
    o: &Map<String, Value>,
    service: Option<&str>,
    scope: Option<&str>,
) -> std::result::Result<Vec<(String, Cell)>, String> {
    let ns = |k: &str| -> std::result::Result<Option<i64>, String> {
        match (o.get(k), o.get(k).and_then(as_i64)) {
            (_, Some(t)) if t < 0 => Err(format!("{k} is negative ({t}): not a time")),
            (Some(v), None) if !v.is_null() && !v.as_str().is_some_and(str::is_empty) => Err(
                format!("{k} is not a time in nanoseconds that fits 64 bits: {v}"),
            ),
            (_, t) => Ok(t),
        }
    };
    let start = ns("startTimeUnixNano")?;
    let end = ns("endTimeUnixNano")?;
    let duration_ns = match start.zip(end) {
        Some((a, b)) => Some(
            b.checked_sub(a)
                .ok_or_else(|| format!("the span's duration ({b} - {a} ns) is out of range"))?,
        ),
        None => None,
    };
    // The code as a number (OTLP/JSON) or as the enum's name (some exporters).
    let status = o.get("status").map(|st| match st.get("code") {
        Some(Value::Number(n)) => match n.as_i64() {
            Some(1) => "ok",
            Some(2) => "error",
            _ => "unset",
        },
        Some(Value::String(c)) if c.contains("ERROR") => "error",
        Some(Value::String(c)) if c.contains("OK") => "ok",
        _ => "unset",
    });
    let mut r = Record::default();
    r.str("trace_id", s(o, "traceId"));
    r.str("span_id", s(o, "spanId"));
    r.str(
        "parent_span_id",
        s(o, "parentSpanId").filter(|p| !p.is_empty()),
    );
    r.str("name", s(o, "name"));
    r.str("service", service.map(str::to_string));
    r.set(
        "start_time",
        start.map_or(Cell::Null, |t| Cell::Ts(t / 1000)),
    );
    r.set("end_time", end.map_or(Cell::Null, |t| Cell::Ts(t / 1000)));
    r.f64("duration_ms", duration_ns.map(|d| d as f64 / 1e6));
    r.str("status", status.map(str::to_string));
    if let Some(message) = o
        .get("status")
        .and_then(|st| st.get("message"))
        .filter(|m| m.as_str().is_some_and(|m| !m.is_empty()))
    {
        r.extra.insert("status_message".into(), message.clone());
    }
    let attrs = attributes(o.get("attributes"));
    r.set(
        "attributes",
        if attrs.is_empty() {
            Cell::Null
        } else {
            Cell::Json(Value::Object(attrs).to_string())
        },
    );
    r.str("scope", scope.map(str::to_string));
    r.str(
        "kind",
        o.get("kind").map(|k| match k.as_i64() {
            Some(1) => "internal".to_string(),
            Some(2) => "server".to_string(),
            Some(3) => "client".to_string(),
            Some(4) => "producer".to_string(),
            Some(5) => "consumer".to_string(),
            _ => k.as_str().unwrap_or("unspecified").to_ascii_lowercase(),
        }),
    );
    if let Some(events) = o
        .get("events")
        .and_then(Value::as_array)
        .filter(|e| !e.is_empty())
    {
        let events: Vec<Value> = events
            .iter()
            .map(|e| {
                let mut m = Map::new();
                m.insert("name".into(), e.get("name").cloned().unwrap_or(Value::Null));
                if let Some(t) = e.get("timeUnixNano").and_then(as_i64) {
                    m.insert("time_unix_nano".into(), t.into());
                }
                let a = attributes(e.get("attributes"));
                if !a.is_empty() {
                    m.insert("attributes".into(), Value::Object(a));
                }
                Value::Object(m)
            })
            .collect();
        r.extra.insert("events".into(), Value::Array(events));
    }
    for (k, v) in o {
        if !matches!(
            k.as_str(),
            "traceId"
                | "spanId"
                | "parentSpanId"
                | "name"
                | "startTimeUnixNano"
                | "endTimeUnixNano"
                | "status"
                | "attributes"
                | "kind"
                | "events"
                | "flags"
                | "droppedAttributesCount"
                | "droppedEventsCount"
                | "droppedLinksCount"
        ) {
            r.extra.insert(k.clone(), v.clone());
        }
    }
    Ok(r.into_cells(false))
}

/// OTLP `KeyValue` lists as one JSON object, values unwrapped from `AnyValue`.
fn attributes(list: Option<&Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for kv in list.and_then(Value::as_array).into_iter().flatten() {
        if let Some(key) = kv.get("key").and_then(Value::as_str) {
            out.insert(
                key.to_string(),
                kv.get("value").map_or(Value::Null, any_value),
            );
        }
    }
    out
}

fn any_value(v: &Value) -> Value {
    let Value::Object(o) = v else {
        return v.clone();
    };
    if let Some(x) = o.get("stringValue") {
        x.clone()
    } else if let Some(x) = o.get("intValue") {
        // int64 travels as a string in OTLP/JSON.
        as_i64(x).map_or(Value::Null, Value::from)
    } else if let Some(x) = o.get("doubleValue") {
        as_f64(x)
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| x.clone(), Value::Number)
    } else if let Some(x) = o.get("boolValue") {
        x.clone()
    } else if let Some(x) = o.get("arrayValue") {
        Value::Array(
            x.get("values")
                .and_then(Value::as_array)
                .map(|vs| vs.iter().map(any_value).collect())
                .unwrap_or_default(),
        )
    } else if let Some(x) = o.get("kvlistValue") {
        Value::Object(attributes(x.get("values")))
    } else if let Some(x) = o.get("bytesValue") {
        x.clone()
    } else {
        Value::Null
    }
}

//! NVIDIA GenAI-Perf (`genai-perf profile`) and the summary half of its successor AIPerf.
//!
//! - `profile_export.json` (raw, from Perf Analyzer): `experiments[]`, each one run with
//!   its `requests[]`: `timestamp` and `response_timestamps[]` in nanoseconds. TTFT is the
//!   first response minus the request, the inter-token gaps are the diffs, e2e the last
//!   response; output tokens come from the last chunk's `usage` when the server sent it,
//!   else the number of chunks.
//! - `profile_export_genai_perf.json` / `profile_export_aiperf.json` (summaries): one
//!   `runs` row from the metric objects `{unit, avg, p50, p90, p95, p99, std, ...}`, each
//!   converted from its own unit.
//! - `profile_export_genai_perf.csv` / `profile_export_aiperf.csv` (the same summaries
//!   as the tools print them): a `Metric,avg,min,max,p..` section of statistics and a
//!   `Metric,Value` section of single values, the unit in each metric's name
//!   (`Time To First Token (ms)`), numbers with thousands separators (`"1,019.69"`).

use serde_json::{Map, Value};

use super::{Record, f, i, parsed, requests_table, run_id_of, runs_table, s, tpot};
use crate::value::{Cell, as_f64, as_i64};
use crate::{Format, Parsed, Result, Source};

pub fn read(source: &Source) -> Result<Parsed> {
    let text = source.text()?;
    if is_csv_summary(text) {
        return read_csv_summary(source, Format::GenaiPerf);
    }
    let doc = crate::value::parse_json(text)
        .map_err(|e| super::not_format(source, Format::GenaiPerf, &e.to_string()))?;
    let Value::Object(o) = doc else {
        return Err(super::not_format(
            source,
            Format::GenaiPerf,
            "expected a JSON object",
        ));
    };
    if let Some(experiments) = o.get("experiments").and_then(Value::as_array) {
        return raw(&o, experiments);
    }
    let mut runs = runs_table();
    runs.push(1, summary(&o, "genai-perf", &run_id_of(text)));
    Ok(parsed(Format::GenaiPerf, vec![runs], 1))
}

/// Whether `text` is a GenAI-Perf / AIPerf summary CSV: its first line is the header of
/// the statistics section.
pub fn is_csv_summary(text: &str) -> bool {
    let header = text
        .trim_start_matches('\u{feff}')
        .lines()
        .next()
        .unwrap_or_default();
    let cols: Vec<&str> = header.trim_end().split(',').collect();
    cols.first() == Some(&"Metric") && cols.contains(&"avg") && cols.contains(&"p50")
}

/// Whether a summary CSV is AIPerf's (it has metrics GenAI-Perf never wrote).
pub fn csv_is_aiperf(text: &str) -> bool {
    text.lines().any(|l| {
        l.starts_with("Benchmark Duration")
            || l.starts_with("Time to Second Token")
            || l.starts_with("Inter Chunk Latency")
            || l.starts_with("Error Request Count")
    })
}

/// A summary CSV as the summary JSON's `{metric: {unit, avg, p50, ...}}` object, then
/// one `runs` row from it.
pub fn read_csv_summary(source: &Source, format: Format) -> Result<Parsed> {
    let text = source.text()?;
    let bad = |line: usize, what: String| crate::Error::Format {
        source_name: source.name.clone(),
        message: format!("line {}: {what}", line + 1),
    };
    let mut doc = Map::new();
    let mut stats: Vec<String> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<String> = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(line.as_bytes())
            .records()
            .next()
            .transpose()
            .map_err(|e| bad(n, e.to_string()))?
            .map(|r| r.iter().map(str::to_string).collect())
            .unwrap_or_default();
        if fields.first().map(String::as_str) == Some("Metric") {
            stats = fields[1..].to_vec();
            continue;
        }
        if stats.is_empty() {
            return Err(bad(n, "expected a `Metric,...` header".into()));
        }
        if fields.len() != stats.len() + 1 {
            return Err(bad(
                n,
                format!(
                    "expected {} fields as in its section's header, found {}",
                    stats.len() + 1,
                    fields.len()
                ),
            ));
        }
        let (key, unit) = csv_metric(&fields[0]);
        let mut metric = Map::new();
        if let Some(unit) = unit {
            metric.insert("unit".into(), Value::String(unit));
        }
        for (stat, text) in stats.iter().zip(&fields[1..]) {
            let value = csv_number(text)
                .map_err(|e| bad(n, format!("column '{stat}' of '{}': {e}", fields[0])))?;
            // A `Metric,Value` section's one value is the metric's `avg`.
            let stat = if stat == "Value" {
                "avg"
            } else {
                stat.as_str()
            };
            metric.insert(
                stat.to_string(),
                value.map_or(Value::Null, |v| {
                    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
                }),
            );
        }
        doc.insert(key, Value::Object(metric));
    }
    if doc.is_empty() {
        return Err(super::not_format(source, format, "no metric rows"));
    }
    let tool = if format == Format::Aiperf {
        "aiperf"
    } else {
        "genai-perf"
    };
    let mut runs = runs_table();
    runs.push(1, summary(&doc, tool, &run_id_of(text)));
    Ok(parsed(format, vec![runs], 1))
}

/// `Time To First Token (ms)` -> (`time_to_first_token`, `ms`); the few names whose JSON
/// key is not their words are mapped to it.
fn csv_metric(name: &str) -> (String, Option<String>) {
    let (words, unit) = match name.rsplit_once('(') {
        Some((w, u)) => (w.trim(), Some(u.trim_end_matches(')').trim().to_string())),
        None => (name.trim(), None),
    };
    let key = words.to_ascii_lowercase().replace(' ', "_");
    let key = match key.as_str() {
        "minimum_request_timestamp" => "min_request_timestamp".to_string(),
        "maximum_response_timestamp" => "max_response_timestamp".to_string(),
        "total_input_sequence_length" => "total_isl".to_string(),
        "total_output_sequence_length" => "total_osl".to_string(),
        _ => key,
    };
    // Throughputs carry a rate (`per sec`, `tokens/sec`), not a time unit.
    (key, unit)
}

/// A number as the summary CSVs print it: plain, or with thousands separators
/// (`1,019.69`); empty is NULL.
fn csv_number(text: &str) -> std::result::Result<Option<f64>, String> {
    let t = text.trim();
    let grouped = t.contains(',')
        && t.split('.').next().is_some_and(|whole| {
            let mut groups = whole.trim_start_matches('-').split(',');
            groups.next().is_some_and(|g| {
                (1..=3).contains(&g.len()) && g.bytes().all(|b| b.is_ascii_digit())
            }) && groups.all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit()))
        });
    let plain = if grouped {
        t.replace(',', "")
    } else {
        t.to_string()
    };
    crate::value::parse_number(&plain).map_err(|e| e.describe(t))
}

fn raw(doc: &Map<String, Value>, experiments: &[Value]) -> Result<Parsed> {
    let mut runs = runs_table();
    let mut requests = requests_table();
    let mut records = 0;
    for (e, experiment) in experiments.iter().enumerate() {
        let run_id = run_id_of(&experiment.to_string());
        let list = experiment
            .get("requests")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut model = None;
        let (mut first, mut last, mut failed) = (i64::MAX, i64::MIN, 0);
        for (idx, q) in list.iter().enumerate() {
            records += 1;
            let start = q.get("timestamp").and_then(as_i64);
            let stamps: Vec<i64> = q
                .get("response_timestamps")
                .and_then(Value::as_array)
                .map(|v| v.iter().filter_map(as_i64).collect())
                .unwrap_or_default();
            let payload = q
                .get("request_inputs")
                .and_then(|r| r.get("payload"))
                .and_then(Value::as_str)
                .and_then(|p| serde_json::from_str::<Value>(p).ok());
            if model.is_none() {
                model = payload
                    .as_ref()
                    .and_then(|p| p.get("model"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
            let usage = last_usage(q);
            let ms = |a: i64, b: i64| (b - a) as f64 / 1e6;
            let ttft = start.zip(stamps.first().copied()).map(|(a, b)| ms(a, b));
            let e2e = start.zip(stamps.last().copied()).map(|(a, b)| ms(a, b));
            let itl: Vec<Option<f64>> = stamps.windows(2).map(|w| Some(ms(w[0], w[1]))).collect();
            let output_tokens = usage
                .as_ref()
                .and_then(|u| u.get("completion_tokens"))
                .and_then(as_i64)
                .or((!stamps.is_empty()).then_some(stamps.len() as i64));
            let success = !stamps.is_empty();
            if !success {
                failed += 1;
            }
            if let Some(t) = start {
                first = first.min(t);
                last = last.max(stamps.last().copied().unwrap_or(t));
            }
            let mut r = Record::default();
            r.str("run_id", Some(run_id.clone()));
            r.i64("request_index", Some(idx as i64));
            r.str("model", model.clone());
            r.i64(
                "input_tokens",
                usage
                    .as_ref()
                    .and_then(|u| u.get("prompt_tokens"))
                    .and_then(as_i64),
            );
            r.i64("output_tokens", output_tokens);
            r.f64("ttft_ms", ttft);
            r.f64("tpot_ms", tpot(e2e, ttft, output_tokens));
            r.f64("e2e_ms", e2e);
            r.set(
                "itl_ms",
                if stamps.is_empty() {
                    Cell::Null
                } else {
                    Cell::FloatList(itl)
                },
            );
            r.set("started_at", epoch_ns(start));
            r.set("success", Cell::Bool(success));
            r.str("error", (!success).then(|| "no response".to_string()));
            requests.push(records as u64, r.into_cells(false));
        }
        let mut r = Record::default();
        r.str("run_id", Some(run_id));
        r.str("tool", Some("genai-perf".into()));
        r.str("tool_version", s(doc, "version").filter(|v| !v.is_empty()));
        r.str("backend", s(doc, "service_kind"));
        r.str("model", model);
        let mode = experiment.get("experiment");
        let kind = mode.and_then(|m| m.get("mode")).and_then(Value::as_str);
        let value = mode.and_then(|m| m.get("value"));
        match kind {
            Some("concurrency") => r.i64("max_concurrency", value.and_then(as_i64)),
            Some("request_rate") => r.f64("request_rate", value.and_then(as_f64)),
            _ => {}
        }
        r.i64("num_requests", Some(list.len() as i64));
        r.i64("completed", Some(list.len() as i64 - failed));
        r.i64("failed", Some(failed));
        if first <= last {
            r.set("started_at", epoch_ns(Some(first)));
            r.f64("duration_ms", Some((last - first) as f64 / 1e6));
        }
        for k in ["service_kind", "endpoint"] {
            if let Some(v) = doc.get(k) {
                r.config.insert(k.into(), v.clone());
            }
        }
        if let Some(m) = mode {
            r.config.insert("experiment".into(), m.clone());
        }
        if let Some(w) = experiment.get("window_boundaries") {
            r.extra.insert("window_boundaries".into(), w.clone());
        }
        runs.push(e as u64 + 1, r.into_cells(true));
    }
    Ok(parsed(Format::GenaiPerf, vec![requests, runs], records))
}

/// The `usage` object of a request's last streamed chunk (`data: {...}`), if any.
fn last_usage(q: &Value) -> Option<Value> {
    let outputs = q.get("response_outputs")?.as_array()?;
    outputs.iter().rev().find_map(|out| {
        let text = out.get("response")?.as_str()?;
        text.lines().find_map(|line| {
            let body = line.trim().strip_prefix("data:")?.trim();
            let chunk: Value = serde_json::from_str(body).ok()?;
            chunk.get("usage").filter(|u| u.is_object()).cloned()
        })
    })
}

/// A nanosecond timestamp as a `TIMESTAMP`, when it is on the Unix epoch (Perf
/// Analyzer's clock may be a steady clock: those stay NULL).
fn epoch_ns(ns: Option<i64>) -> Cell {
    match ns {
        Some(t) if t > 1_000_000_000_000_000_000 => Cell::Ts(t / 1000),
        _ => Cell::Null,
    }
}

/// A value in `unit`, in milliseconds (`None` when the unit is not a time).
pub fn to_ms(value: f64, unit: &str) -> Option<f64> {
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "ns" | "nanoseconds" => 1e-6,
        "us" | "µs" | "microseconds" => 1e-3,
        "ms" | "milliseconds" => 1.0,
        "s" | "sec" | "secs" | "seconds" => 1e3,
        _ => return None,
    };
    Some(value * scale)
}

/// One `runs` row from a GenAI-Perf / AIPerf summary (`{metric: {unit, avg, p50, ...}}`).
pub fn summary(o: &Map<String, Value>, tool: &str, run_id: &str) -> Vec<(String, Cell)> {
    const LATENCIES: &[(&str, &str)] = &[
        ("time_to_first_token", "ttft"),
        // AIPerf's name for it since 2025.
        ("ttft", "ttft"),
        ("request_latency", "e2e"),
        ("inter_token_latency", "tpot"),
        ("inter_chunk_latency", "itl"),
    ];
    let metric = |k: &str| o.get(k).and_then(Value::as_object);
    let stat = |k: &str, st: &str| metric(k).and_then(|m| f(m, st));
    let mut r = Record::default();
    r.str("run_id", Some(run_id.to_string()));
    r.str("tool", Some(tool.to_string()));
    let config = o.get("input_config").and_then(Value::as_object);
    let model = config.and_then(|c| c.get("model").or_else(|| c.get("model_names")));
    let model = match model {
        Some(Value::Array(names)) => names.first().and_then(Value::as_str).map(str::to_string),
        Some(Value::String(name)) => Some(name.clone()),
        _ => config
            .and_then(|c| c.get("endpoint"))
            .and_then(|e| e.get("model_names"))
            .and_then(Value::as_array)
            .and_then(|n| n.first())
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    r.str("model", model);
    let mut used: Vec<&str> = vec!["input_config"];
    for (key, name) in LATENCIES {
        let Some(m) = metric(key) else { continue };
        let unit = m.get("unit").and_then(Value::as_str).unwrap_or("ms");
        for (st, col) in [
            ("avg", "mean"),
            ("std", "std"),
            ("p50", "p50"),
            ("p50", "median"),
            ("p90", "p90"),
            ("p95", "p95"),
            ("p99", "p99"),
        ] {
            if let Some(v) = f(m, st).and_then(|v| to_ms(v, unit)) {
                r.f64(&format!("{col}_{name}_ms"), Some(v));
            }
        }
        used.push(key);
    }
    let avg = |k: &str| stat(k, "avg");
    r.f64("request_throughput", avg("request_throughput"));
    r.f64("output_throughput", avg("output_token_throughput"));
    r.i64(
        "num_requests",
        avg("request_count")
            .map(|c| c as i64)
            .or_else(|| i(o, "request_count")),
    );
    r.i64("failed", avg("error_request_count").map(|c| c as i64));
    if tool == "aiperf" {
        // AIPerf's request_count counts the requests that succeeded; the errors are
        // counted apart.
        let ok = avg("request_count").map(|c| c as i64);
        let errors = avg("error_request_count").map_or(0, |c| c as i64);
        r.i64("completed", ok);
        r.i64("num_requests", ok.map(|n| n + errors));
    }
    r.i64("total_input_tokens", avg("total_isl").map(|c| c as i64));
    r.i64("total_output_tokens", avg("total_osl").map(|c| c as i64));
    if let Some(m) = metric("benchmark_duration") {
        let unit = m.get("unit").and_then(Value::as_str).unwrap_or("sec");
        r.f64("duration_ms", f(m, "avg").and_then(|v| to_ms(v, unit)));
    }
    if let Some(m) = metric("min_request_timestamp") {
        r.set("started_at", epoch_ns(f(m, "avg").map(|v| v as i64)));
    }
    used.extend([
        "request_throughput",
        "output_token_throughput",
        "request_count",
        "error_request_count",
        "total_isl",
        "total_osl",
        "benchmark_duration",
        "min_request_timestamp",
    ]);
    if let Some(c) = config {
        for (k, v) in c {
            r.config.insert(k.clone(), v.clone());
        }
    }
    for (k, v) in o {
        if !used.contains(&k.as_str()) {
            r.extra.insert(k.clone(), v.clone());
        }
    }
    r.into_cells(true)
}

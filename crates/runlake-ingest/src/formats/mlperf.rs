//! MLPerf Inference LoadGen logs: `mlperf_log_summary.txt` (`Key : value` text) and
//! `mlperf_log_detail.txt` (`:::MLLOG {json}` lines). One `runs` row per file; latencies
//! are nanoseconds in the files. The run's id is a hash of the file's content.

use serde_json::{Map, Value};

use super::{Record, parsed, run_id_of, runs_table};
use crate::value::{parse_json, parse_number};
use crate::{Format, Parsed, Reject, Result, Source};

pub fn read(source: &Source) -> Result<Parsed> {
    let text = source.text()?;
    let (values, kind, rejects) = if text.trim_start().starts_with(":::MLLOG") {
        (detail(text), "detail", Vec::new())
    } else {
        let (values, rejects) = summary(text);
        (values, "summary", rejects)
    };
    if values.is_empty() {
        return Err(super::not_format(
            source,
            Format::Mlperf,
            "no `Key : value` lines or `:::MLLOG` events",
        ));
    }
    let get = |k: &str| values.get(k).cloned();
    let num = |k: &str| values.get(k).and_then(crate::value::as_f64);
    let ms = |k: &str| num(k).map(|ns| ns / 1e6);
    let mut r = Record::default();
    r.str("run_id", Some(run_id_of(text)));
    r.str("tool", Some("mlperf".into()));
    r.str(
        "tool_version",
        get("loadgen_version").and_then(|v| crate::value::as_str(&v)),
    );
    // The SUT name is the submitter's name for the system under test (often the model
    // and scenario, not hardware): it stays in `extra` as `sut_name`.
    // Offline runs print `Samples per second`, Server runs `Completed samples per second`.
    r.f64(
        "request_throughput",
        num("completed_samples_per_sec").or_else(|| num("samples_per_sec")),
    );
    r.f64(
        "output_throughput",
        num("completed_tokens_per_sec").or_else(|| num("tokens_per_sec")),
    );
    r.i64("num_requests", num("query_count").map(|v| v as i64));
    r.f64("request_rate", num("target_qps"));
    for (stat, key) in [
        ("mean", "mean"),
        ("p50", "50.00"),
        ("p90", "90.00"),
        ("p95", "95.00"),
        ("p99", "99.00"),
    ] {
        r.f64(&format!("{stat}_e2e_ms"), ms(&format!("latency_{key}_ns")));
        r.f64(
            &format!("{stat}_ttft_ms"),
            ms(&format!("first_token_latency_{key}_ns")),
        );
        r.f64(
            &format!("{stat}_tpot_ms"),
            ms(&format!("time_to_output_token_{key}_ns")),
        );
    }
    let mut extra = Map::new();
    let mut config = Map::new();
    for (k, v) in &values {
        if k.starts_with("requested_") || k.starts_with("effective_") || k.starts_with("param_") {
            config.insert(k.clone(), v.clone());
        } else {
            extra.insert(k.clone(), v.clone());
        }
    }
    extra.insert("mlperf_file".into(), Value::String(kind.into()));
    r.config = config;
    r.extra = extra;
    let mut runs = runs_table();
    runs.push(1, r.into_cells(true));
    let mut p = parsed(Format::Mlperf, vec![runs], 1);
    p.rejects = rejects;
    Ok(p)
}

/// Normalises a summary key: `Min latency (ns)` -> `latency_min_ns`, `99.00 percentile
/// first token latency (ns)` -> `first_token_latency_99.00_ns`, `Completed samples per
/// second` -> `completed_samples_per_sec`.
fn summary_key(key: &str) -> String {
    let lower = key.trim().to_ascii_lowercase();
    let (name, unit) = match lower.rsplit_once('(') {
        Some((n, u)) => (
            n.trim().to_string(),
            format!("_{}", u.trim_end_matches(')').trim()),
        ),
        None => (lower.clone(), String::new()),
    };
    let name = name.replace("per second", "per sec");
    let words: Vec<&str> = name.split_whitespace().collect();
    let joined = |w: &[&str]| w.join("_");
    let key = match words.as_slice() {
        [p, "percentile", rest @ ..] => format!("{}_{p}", joined(rest)),
        ["min" | "max" | "mean", rest @ ..] => format!("{}_{}", joined(rest), words[0]),
        _ => joined(&words),
    };
    format!("{key}{unit}")
}

/// The summary's `Key : value` lines, and a bad row for each value that must be a number
/// (a key with a unit, a rate, a count, a seed) and is not.
fn summary(text: &str) -> (Map<String, Value>, Vec<Reject>) {
    let mut out = Map::new();
    let mut rejects = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().trim_start_matches("* ").trim(), v.trim());
        if k.is_empty() || v.is_empty() {
            continue;
        }
        let key = summary_key(k);
        let numeric = k.ends_with(')')
            || ["_per_sec", "_seed", "_count", "_qps", "_query"]
                .iter()
                .any(|s| key.ends_with(s));
        // Integers exactly as written (64-bit seeds do not fit a double).
        let value = if let Ok(i) = v.parse::<i64>() {
            Value::from(i)
        } else if let Ok(u) = v.parse::<u64>() {
            Value::from(u)
        } else {
            match parse_number(v) {
                Ok(Some(n)) => {
                    serde_json::Number::from_f64(n).map_or(Value::String(v.into()), Value::Number)
                }
                Err(e) if numeric => {
                    rejects.push(Reject {
                        line: n as u64 + 1,
                        column: Some(k.to_string()),
                        reason: e.describe(v),
                        raw: line.chars().take(2000).collect(),
                    });
                    continue;
                }
                _ => Value::String(v.to_string()),
            }
        };
        let key = match key.as_str() {
            "completed_samples_per_sec"
            | "completed_tokens_per_sec"
            | "scheduled_samples_per_sec" => key,
            "ttft_latency_ns" | "tpot_latency_ns" | "target_qps" | "min_duration_ms"
            | "max_duration_ms" | "min_query_count" | "max_query_count" | "samples_per_query"
            | "max_async_queries" => {
                format!("param_{key}")
            }
            _ => key,
        };
        out.entry(key).or_insert(value);
    }
    if let Some(v) = out.get("param_target_qps").cloned() {
        out.insert("target_qps".into(), v);
    }
    (out, rejects)
}

/// The detail log's result keys, renamed to the summary's: `result_mean_latency_ns` ->
/// `latency_mean_ns`, `result_first_token_99.00_percentile_latency_ns` ->
/// `first_token_latency_99.00_ns`.
fn detail(text: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for line in text.lines() {
        let Some(json) = line.trim().strip_prefix(":::MLLOG") else {
            continue;
        };
        let Ok(Value::Object(event)) = parse_json(json.trim()) else {
            continue;
        };
        let (Some(Value::String(key)), Some(value)) = (event.get("key"), event.get("value")) else {
            continue;
        };
        let renamed = detail_key(key);
        out.insert(renamed, value.clone());
    }
    if let Some(v) = out.get("effective_target_qps").cloned() {
        out.insert("target_qps".into(), v);
    }
    out
}

fn detail_key(key: &str) -> String {
    let Some(rest) = key.strip_prefix("result_") else {
        return key.to_string();
    };
    let (body, unit) = match rest.rsplit_once('_') {
        Some((b, "ns")) => (b, "_ns"),
        _ => (rest, ""),
    };
    let body = body.replace("time_per_output_token", "time_to_output_token");
    let parts: Vec<&str> = body.split('_').collect();
    let renamed = match parts.as_slice() {
        [stat @ ("min" | "max" | "mean"), rest @ ..] => format!("{}_{stat}", rest.join("_")),
        ["first", "token", stat @ ("min" | "max" | "mean"), rest @ ..] => {
            format!("first_token_{}_{stat}", rest.join("_"))
        }
        ["first", "token", p, "percentile", rest @ ..] => {
            format!("first_token_{}_{p}", rest.join("_"))
        }
        [
            "time",
            "to",
            "output",
            "token",
            stat @ ("min" | "max" | "mean"),
        ] => format!("time_to_output_token_{stat}"),
        ["time", "to", "output", "token", p, "percentile"] => format!("time_to_output_token_{p}"),
        [p, "percentile", rest @ ..] => format!("{}_{p}", rest.join("_")),
        _ => body.clone(),
    };
    match renamed.as_str() {
        "completed_samples_per_sec" | "completed_tokens_per_second" => {
            "completed_".to_string()
                + if renamed.contains("samples") {
                    "samples_per_sec"
                } else {
                    "tokens_per_sec"
                }
        }
        // LoadGen writes these without a unit suffix; they are nanoseconds too.
        r if r.starts_with("time_to_output_token") && unit.is_empty() => format!("{r}_ns"),
        _ => format!("{renamed}{unit}"),
    }
}

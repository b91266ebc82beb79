//! GuideLLM `benchmarks.json` (v0.3 `GenerativeBenchmarksReport`, and v0.4+ with
//! `scheduler_metrics` and per-request `info.timings`): one `runs` row per benchmark (a
//! strategy of the sweep), one `requests` row per successful, errored or incomplete
//! request. `request_latency` is seconds, the `*_ms` metrics milliseconds.

use serde_json::{Map, Value};

use super::{Record, f, i, parsed, requests_table, run_id_of, runs_table, s};
use crate::value::{Cell, epoch_s_to_us};
use crate::{Format, Parsed, Result, Source};

pub fn read(source: &Source) -> Result<Parsed> {
    let doc = crate::value::parse_json(source.text()?)
        .map_err(|e| super::not_format(source, Format::Guidellm, &e.to_string()))?;
    let Some(benchmarks) = doc.get("benchmarks").and_then(Value::as_array) else {
        return Err(super::not_format(
            source,
            Format::Guidellm,
            "no \"benchmarks\" list",
        ));
    };
    let version = doc
        .pointer("/metadata/guidellm_version")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut runs = runs_table();
    let mut requests = requests_table();
    for (n, b) in benchmarks.iter().enumerate() {
        let Value::Object(bo) = b else { continue };
        let line = n as u64 + 1;
        let run_id = run_id_of(&b.to_string());
        let model = b
            .get("worker")
            .and_then(|w| w.get("backend_model"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| {
                doc.pointer("/config/model")
                    .or_else(|| doc.pointer("/args/model"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
        let stats = b.get("run_stats").or_else(|| b.get("scheduler_metrics"));
        let made = stats.and_then(|s| s.get("requests_made"));
        let metric = |name: &str, stat: &str| -> Option<f64> {
            b.pointer(&format!("/metrics/{name}/successful/{stat}"))
                .and_then(crate::value::as_f64)
        };
        let pct = |name: &str, p: &str| -> Option<f64> {
            b.pointer(&format!("/metrics/{name}/successful/percentiles/{p}"))
                .and_then(crate::value::as_f64)
        };
        let mut r = Record::default();
        r.str("run_id", Some(run_id.clone()));
        r.str("tool", Some("guidellm".into()));
        r.str("tool_version", version.clone());
        r.str(
            "backend",
            b.get("worker")
                .and_then(|w| w.get("backend_type"))
                .and_then(Value::as_str)
                .map(str::to_string),
        );
        r.str("model", model.clone());
        r.set(
            "started_at",
            epoch_s_to_us(f(bo, "start_time").or_else(|| {
                stats
                    .and_then(|s| s.get("start_time"))
                    .and_then(crate::value::as_f64)
            }))
            .map_or(Cell::Null, Cell::Ts),
        );
        // v0.3 writes `duration`; v0.4+ only the scheduler's times (the measured window
        // when it has one).
        let stat_f = |k: &str| stats.and_then(|s| s.get(k)).and_then(crate::value::as_f64);
        let window = stat_f("measure_end_time")
            .zip(stat_f("measure_start_time"))
            .or_else(|| stat_f("end_time").zip(stat_f("start_time")))
            .map(|(end, start)| end - start);
        r.f64(
            "duration_ms",
            f(bo, "duration").or(window).map(|d| d * 1000.0),
        );
        // The tool's own counts: `metrics.request_totals` (v0.4+: the measured window,
        // without warm-up and cool-down), else the scheduler's requests made.
        let totals = b.pointer("/metrics/request_totals").or(made);
        let count = |k: &str| totals.and_then(|m| m.get(k)).and_then(crate::value::as_i64);
        let total = count("total").or_else(|| {
            let parts = [count("successful"), count("errored"), count("incomplete")];
            parts
                .iter()
                .any(Option::is_some)
                .then(|| parts.iter().flatten().sum())
        });
        r.i64("num_requests", total);
        r.i64("completed", count("successful"));
        r.i64("failed", count("errored"));
        r.f64(
            "request_rate",
            b.pointer("/args/strategy/rate")
                .or_else(|| b.pointer("/config/strategy/rate"))
                .or_else(|| b.pointer("/scheduler_state/strategy/rate"))
                .and_then(crate::value::as_f64),
        );
        r.f64("request_throughput", metric("requests_per_second", "mean"));
        r.f64(
            "output_throughput",
            metric("output_tokens_per_second", "mean"),
        );
        for (name, m, scale) in [
            ("time_to_first_token_ms", "ttft", 1.0),
            ("time_per_output_token_ms", "tpot", 1.0),
            ("inter_token_latency_ms", "itl", 1.0),
            ("request_latency", "e2e", 1000.0),
        ] {
            let scaled = |v: Option<f64>| v.map(|v| v * scale);
            r.f64(&format!("mean_{m}_ms"), scaled(metric(name, "mean")));
            r.f64(&format!("median_{m}_ms"), scaled(metric(name, "median")));
            r.f64(&format!("std_{m}_ms"), scaled(metric(name, "std_dev")));
            r.f64(&format!("p50_{m}_ms"), scaled(metric(name, "median")));
            for p in ["p90", "p95", "p99"] {
                r.f64(&format!("{p}_{m}_ms"), scaled(pct(name, p)));
            }
        }
        if let Some(args) = b.get("args").or_else(|| b.get("config")) {
            r.config.insert("args".into(), args.clone());
        }
        for (k, v) in bo {
            if matches!(
                k.as_str(),
                "type_" | "id_" | "run_id" | "worker" | "extras" | "request_loader"
            ) {
                r.extra.insert(k.clone(), v.clone());
            }
        }
        runs.push(line, r.into_cells(true));

        // Requests outside the measured window are the warm-up and cool-down ones: kept,
        // flagged in `phase`, so an average over `phase = 'measure'` is the tool's.
        let window = stat_f("measure_start_time").zip(stat_f("measure_end_time"));
        let mut index = 0i64;
        for status in ["successful", "errored", "incomplete"] {
            let Some(list) = b
                .pointer(&format!("/requests/{status}"))
                .and_then(Value::as_array)
            else {
                continue;
            };
            for req in list {
                let Value::Object(q) = req.clone() else {
                    continue;
                };
                requests.push(
                    line,
                    request(&q, &run_id, index, status, model.clone(), window),
                );
                index += 1;
            }
        }
    }
    Ok(parsed(
        Format::Guidellm,
        vec![requests, runs],
        benchmarks.len(),
    ))
}

fn request(
    q: &Map<String, Value>,
    run_id: &str,
    index: i64,
    status: &str,
    model: Option<String>,
    window: Option<(f64, f64)>,
) -> Vec<(String, Cell)> {
    let mut r = Record::default();
    r.str("run_id", Some(run_id.to_string()));
    r.i64("request_index", Some(index));
    r.str("model", model);
    let tokens = |computed: &str, metrics: &str| {
        i(q, computed).or_else(|| {
            q.get(metrics)
                .and_then(|m| m.get("text_tokens"))
                .and_then(crate::value::as_i64)
        })
    };
    r.i64("input_tokens", tokens("prompt_tokens", "input_metrics"));
    r.i64("output_tokens", tokens("output_tokens", "output_metrics"));
    r.f64("ttft_ms", f(q, "time_to_first_token_ms"));
    r.f64("tpot_ms", f(q, "time_per_output_token_ms"));
    r.f64("e2e_ms", f(q, "request_latency").map(|s| s * 1000.0));
    let start = f(q, "start_time")
        .or_else(|| f(q, "request_start_time"))
        .or_else(|| {
            q.get("scheduler_info")
                .and_then(|s| s.get("request_start"))
                .and_then(crate::value::as_f64)
        })
        .or_else(|| {
            q.get("info")
                .and_then(|i| i.pointer("/timings/request_start"))
                .and_then(crate::value::as_f64)
        });
    r.set(
        "started_at",
        epoch_s_to_us(start).map_or(Cell::Null, Cell::Ts),
    );
    r.set("success", Cell::Bool(status == "successful"));
    // By when the request started, as GuideLLM counts them in `request_totals`.
    if let Some((from, to)) = window {
        let phase = match start {
            Some(s) if s < from => "warmup",
            Some(s) if s > to => "cooldown",
            _ => "measure",
        };
        r.str("phase", Some(phase.into()));
    }
    let error = s(q, "error").or_else(|| (status != "successful").then(|| status.to_string()));
    r.str("error", error);
    r.extra.insert(
        "request_id".into(),
        q.get("request_id").cloned().unwrap_or(Value::Null),
    );
    r.extra
        .insert("status".into(), Value::String(status.into()));
    r.into_cells(false)
}

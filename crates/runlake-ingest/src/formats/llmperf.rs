//! ray-project llmperf: `*_summary.json` (one `runs` row) and
//! `*_individual_responses.json` (a JSON array: one `requests` row each). Seconds in the
//! files. The two files of one run share no key, so both take their `run_id` from the
//! file name's stem before `_summary` / `_individual_responses`: they join on it.

use serde_json::{Map, Value};

use super::{Record, f, i, parsed, requests_table, runs_table, s};
use crate::value::{Cell, short_hash};
use crate::{Format, Parsed, Result, Source};

const SUMMARY: &[(&str, &str)] = &[
    ("ttft_s", "ttft"),
    ("end_to_end_latency_s", "e2e"),
    ("inter_token_latency_s", "itl"),
];

pub fn run_id(source_name: &str) -> String {
    let base = source_name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(source_name);
    let stem = base
        .split("_individual_responses")
        .next()
        .and_then(|s| s.split("_summary").next())
        .unwrap_or(base);
    short_hash(&format!("llmperf:{stem}"))
}

pub fn read(source: &Source) -> Result<Parsed> {
    let doc = crate::value::parse_json(source.text()?)
        .map_err(|e| super::not_format(source, Format::Llmperf, &e.to_string()))?;
    let run_id = run_id(&source.name);
    match doc {
        Value::Array(items) => {
            let mut requests = requests_table();
            let count = items.len();
            for (n, item) in items.iter().enumerate() {
                let Value::Object(o) = item else { continue };
                requests.push(n as u64 + 1, request(o, &run_id, n));
            }
            Ok(parsed(Format::Llmperf, vec![requests], count))
        }
        Value::Object(o) => {
            let mut runs = runs_table();
            runs.push(1, summary(&o, &run_id));
            Ok(parsed(Format::Llmperf, vec![runs], 1))
        }
        _ => Err(super::not_format(
            source,
            Format::Llmperf,
            "expected a JSON object or array",
        )),
    }
}

fn request(o: &Map<String, Value>, run_id: &str, index: usize) -> Vec<(String, Cell)> {
    let ms = |k: &str| f(o, k).map(|s| s * 1000.0);
    let error = s(o, "error_msg").filter(|e| !e.is_empty());
    // A number (an HTTP status) or a name (`API_ERROR`), as the tool wrote it.
    let code = s(o, "error_code").filter(|c| !c.is_empty());
    let success = error.is_none() && code.is_none();
    // A failed request's numbers are llmperf's placeholders (all 0): not measured.
    let measured = |v: Option<f64>| v.filter(|_| success);
    let mut r = Record::default();
    r.str("run_id", Some(run_id.to_string()));
    r.i64("request_index", Some(index as i64));
    r.i64(
        "input_tokens",
        i(o, "number_input_tokens").filter(|_| success),
    );
    r.i64(
        "output_tokens",
        i(o, "number_output_tokens").filter(|_| success),
    );
    r.f64("ttft_ms", measured(ms("ttft_s")));
    // llmperf's per-request inter-token latency is the mean gap: the TPOT.
    r.f64("tpot_ms", measured(ms("inter_token_latency_s")));
    r.f64("e2e_ms", measured(ms("end_to_end_latency_s")));
    r.set("success", Cell::Bool(success));
    r.str(
        "error",
        error.or_else(|| code.as_ref().map(|c| format!("error code {c}"))),
    );
    if let Some(code) = code {
        r.extra.insert("error_code".into(), Value::String(code));
    }
    for (k, v) in o {
        // A failed request's token counts and throughput are placeholders too.
        if !success && (k.ends_with("_tokens") || k.ends_with("_per_s")) {
            continue;
        }
        if !matches!(
            k.as_str(),
            "error_code"
                | "error_msg"
                | "ttft_s"
                | "end_to_end_latency_s"
                | "inter_token_latency_s"
                | "number_input_tokens"
                | "number_output_tokens"
        ) {
            r.extra.insert(k.clone(), v.clone());
        }
    }
    r.into_cells(false)
}

fn summary(o: &Map<String, Value>, run_id: &str) -> Vec<(String, Cell)> {
    let mut r = Record::default();
    let mut used: Vec<String> = Vec::new();
    r.str("run_id", Some(run_id.to_string()));
    r.str("tool", Some("llmperf".into()));
    r.str("tool_version", s(o, "version"));
    r.str("framework", s(o, "framework"));
    r.str("model", s(o, "model"));
    r.str("hardware", s(o, "hardware"));
    let started = f(o, "timestamp").and_then(|t| crate::value::epoch_s_to_us(Some(t)));
    r.set("started_at", started.map_or(Cell::Null, Cell::Ts));
    r.i64("num_requests", i(o, "results_num_requests_started"));
    r.i64("completed", i(o, "results_num_completed_requests"));
    r.i64("failed", i(o, "results_number_errors"));
    r.i64("max_concurrency", i(o, "num_concurrent_requests"));
    r.f64(
        "output_throughput",
        f(o, "results_mean_output_throughput_token_per_s"),
    );
    used.extend(
        [
            "version",
            "framework",
            "model",
            "hardware",
            "timestamp",
            "results_num_requests_started",
            "results_num_completed_requests",
            "results_number_errors",
            "num_concurrent_requests",
            "results_mean_output_throughput_token_per_s",
        ]
        .map(String::from),
    );
    for (key, metric) in SUMMARY {
        for (stat, suffix) in [
            ("mean", "mean"),
            ("std", "stddev"),
            ("p50", "quantiles_p50"),
            ("median", "quantiles_p50"),
            ("p90", "quantiles_p90"),
            ("p95", "quantiles_p95"),
            ("p99", "quantiles_p99"),
        ] {
            let k = format!("results_{key}_{suffix}");
            if let Some(v) = f(o, &k) {
                // llmperf's inter-token latency is per-request mean gaps: TPOT-like.
                let metric = if *metric == "itl" { "tpot" } else { metric };
                r.f64(&format!("{stat}_{metric}_ms"), Some(v * 1000.0));
                used.push(k);
            }
        }
    }
    for (k, v) in o {
        if k.starts_with("mean_")
            || k.starts_with("stddev_")
            || k == "name"
            || k == "num_concurrent_requests"
        {
            r.config.insert(k.clone(), v.clone());
        } else if !used.contains(k) {
            r.extra.insert(k.clone(), v.clone());
        }
    }
    r.into_cells(true)
}

//! `vllm bench serve` / `benchmark_serving.py` result JSON (one object, or several
//! appended with `--append-result`) and SGLang `bench_serving` JSONL: one `runs` row per
//! object, one `requests` row per request when the per-request lists are there
//! (`--save-detailed` / `--output-details`; `ttfts` and `itls` are seconds in the file).

use serde_json::{Map, Value};

use super::{METRICS, Record, f, i, json_stream, parsed, requests_table, run_id_of, runs_table, s};
use crate::table::parse_timestamp_us;
use crate::value::{Cell, as_f64, as_i64, epoch_s_to_us};
use crate::{Format, Options, Parsed, Result, Source};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Vllm,
    Sglang,
}

/// Keys that are benchmark flags: kept in `config`.
const CONFIG_KEYS: &[&str] = &[
    "endpoint_type",
    "tokenizer_id",
    "num_prompts",
    "burstiness",
    "ramp_up_strategy",
    "ramp_up_start_rps",
    "ramp_up_end_rps",
    "dataset_name",
    "sharegpt_output_len",
    "random_input_len",
    "random_output_len",
    "random_range_ratio",
    "request_rate",
    "max_concurrency",
];

/// Keys read into canonical columns (of `runs` or `requests`).
const CANONICAL_KEYS: &[&str] = &[
    "date",
    "backend",
    "label",
    "model_id",
    "kind",
    "framework",
    "hardware",
    "num_prompts",
    "request_rate",
    "max_concurrency",
    "duration",
    "completed",
    "failed",
    "total_input_tokens",
    "total_output_tokens",
    "request_throughput",
    "output_throughput",
    "input_throughput",
    "total_token_throughput",
    "total_throughput",
    "input_lens",
    "output_lens",
    "ttfts",
    "itls",
    "errors",
    "e2els",
    "start_times",
    "generated_texts",
];

pub fn read(source: &Source, tool: Tool, options: &Options) -> Result<Parsed> {
    // `vllm bench sweep` writes its runs' results as one JSON array (`summary.json`).
    let mut values = Vec::new();
    for (line, value, raw) in json_stream(source)? {
        match value {
            Value::Array(items) => values.extend(items.into_iter().map(|item| {
                let raw = item.to_string();
                (line, item, raw)
            })),
            other => values.push((line, other, raw)),
        }
    }
    let format = match tool {
        Tool::Vllm => Format::VllmBench,
        Tool::Sglang => Format::SglangBench,
    };
    let mut runs = runs_table();
    let mut requests = requests_table();
    requests.push_column("generated_text");
    let records = values.len();
    for (line, value, raw) in values {
        let Value::Object(o) = value else {
            return Err(super::not_format(
                source,
                format,
                &format!("line {line} is not a JSON object"),
            ));
        };
        let run_id = run_id_of(&raw);
        let mut r = Record::default();
        r.str("run_id", Some(run_id.clone()));
        r.str("tool", Some(format.name().to_string()));
        r.str(
            "tool_version",
            s(&o, "version").or_else(|| s(&o, "vllm_version")),
        );
        let backend = s(&o, "backend");
        let framework = s(&o, "framework")
            .or_else(|| s(&o, "kind"))
            .or_else(|| match tool {
                Tool::Sglang => backend
                    .as_deref()
                    .and_then(sglang_framework)
                    .map(str::to_string),
                Tool::Vllm => None,
            });
        r.str("framework", framework.clone());
        r.str("backend", backend);
        r.str("label", s(&o, "label"));
        // SGLang since late 2025: the model is in the server's arguments it records.
        let server_model = || {
            let info = o.get("server_info")?;
            let model = |v: &Value| {
                v.get("served_model_name")
                    .or_else(|| v.get("model_path"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            model(info).or_else(|| model(info.get("internal_states")?.get(0)?))
        };
        let model = s(&o, "model_id")
            .or_else(|| s(&o, "model"))
            .or_else(server_model);
        r.str("model", model.clone());
        r.str("hardware", s(&o, "hardware"));
        let started = s(&o, "date").and_then(|d| parse_timestamp_us(&d, options.timezone_offset_s));
        r.set("started_at", started.map_or(Cell::Null, Cell::Ts));
        r.f64("duration_ms", f(&o, "duration").map(|d| d * 1000.0));
        r.i64("num_requests", i(&o, "num_prompts"));
        r.i64("completed", i(&o, "completed"));
        r.i64("failed", i(&o, "failed"));
        r.f64("request_rate", f(&o, "request_rate"));
        r.i64("max_concurrency", i(&o, "max_concurrency"));
        r.i64("total_input_tokens", i(&o, "total_input_tokens"));
        r.i64("total_output_tokens", i(&o, "total_output_tokens"));
        r.f64("request_throughput", f(&o, "request_throughput"));
        r.f64("output_throughput", f(&o, "output_throughput"));
        r.f64("input_throughput", f(&o, "input_throughput"));
        r.f64(
            "total_token_throughput",
            f(&o, "total_token_throughput").or_else(|| f(&o, "total_throughput")),
        );
        // With no request completed the tool writes 0.0 for every latency statistic: it
        // measured none, so they are NULL.
        let measured = i(&o, "completed") != Some(0);
        let mut used: Vec<String> = Vec::new();
        for (key, value) in &o {
            if let Some(column) = summary_column(key) {
                r.f64(&column, as_f64(value).filter(|_| measured));
                used.push(key.clone());
            }
        }
        check_lists(source, &o, line)?;
        for (key, value) in &o {
            if CONFIG_KEYS.contains(&key.as_str()) {
                r.config.insert(key.clone(), value.clone());
            }
            if !CANONICAL_KEYS.contains(&key.as_str())
                && !CONFIG_KEYS.contains(&key.as_str())
                && !used.contains(key)
            {
                // Unknown keys (incl. `--metadata`) are kept; the historical
                // "request_goodput:" typo is read under its intended name.
                let name = key.trim_end_matches(':').to_string();
                r.extra.insert(name, value.clone());
            }
        }
        runs.push(line, r.into_cells(true));
        add_requests(&mut requests, &o, line, &run_id, framework, model);
    }
    Ok(parsed(format, vec![requests, runs], records))
}

/// SGLang's `backend` names the server it benchmarked.
fn sglang_framework(backend: &str) -> Option<&'static str> {
    Some(match backend {
        "sglang" | "sglang-native" | "sglang-oai" | "sglang-oai-chat" => "SGLang",
        "vllm" | "vllm-chat" => "vLLM",
        "lmdeploy" => "LMDeploy",
        "trt" => "TensorRT-LLM",
        _ => return None,
    })
}

/// The `runs` column of a summary-latency key: `mean_ttft_ms` -> itself,
/// `p99_e2el_ms` / `p99_e2e_latency_ms` -> `p99_e2e_ms`; percentiles other than
/// 50/90/95/99 stay in `extra`.
fn summary_column(key: &str) -> Option<String> {
    let body = key.strip_suffix("_ms")?;
    let (stat, metric) = body.split_once('_')?;
    let metric = match metric {
        "e2el" | "e2e_latency" => "e2e",
        m if METRICS.contains(&m) => m,
        _ => return None,
    };
    matches!(
        stat,
        "mean" | "median" | "std" | "p50" | "p90" | "p95" | "p99"
    )
    .then(|| format!("{stat}_{metric}_ms"))
}

/// The per-request lists, which must line up: one entry per request each.
const PER_REQUEST: &[&str] = &[
    "ttfts",
    "input_lens",
    "output_lens",
    "itls",
    "errors",
    "e2els",
    "start_times",
    "generated_texts",
];

/// Refuses a result whose per-request lists differ in length (a request's values would
/// be paired with another's), naming the lists and their lengths.
fn check_lists(source: &Source, o: &Map<String, Value>, line: u64) -> Result<()> {
    let lengths: Vec<(&str, usize)> = PER_REQUEST
        .iter()
        .filter_map(|k| Some((*k, o.get(*k)?.as_array()?.len())))
        .collect();
    if lengths.windows(2).all(|w| w[0].1 == w[1].1) {
        return Ok(());
    }
    let said: Vec<String> = lengths.iter().map(|(k, n)| format!("{k} {n}")).collect();
    Err(crate::Error::Format {
        source_name: source.name.clone(),
        message: format!(
            "line {line}: the per-request lists differ in length ({}): each must hold one \
             entry per request",
            said.join(", ")
        ),
    })
}

fn at(l: Option<&Vec<Value>>, idx: usize) -> Option<&Value> {
    l.and_then(|l| l.get(idx))
}

fn add_requests(
    requests: &mut crate::TableRows,
    o: &Map<String, Value>,
    line: u64,
    run_id: &str,
    framework: Option<String>,
    model: Option<String>,
) {
    let list = |k: &str| o.get(k).and_then(Value::as_array);
    let Some(ttfts) = list("ttfts") else {
        return;
    };
    let inputs = list("input_lens");
    let outputs = list("output_lens");
    let itls = list("itls");
    let errors = list("errors");
    let e2els = list("e2els");
    let starts = list("start_times");
    let texts = list("generated_texts");
    for (idx, ttft) in ttfts.iter().enumerate() {
        let ttft_ms = as_f64(ttft).map(|s| s * 1000.0);
        let itl_ms: Option<Vec<Option<f64>>> = at(itls, idx)
            .and_then(Value::as_array)
            .map(|v| v.iter().map(|x| as_f64(x).map(|s| s * 1000.0)).collect());
        let output_tokens = at(outputs, idx).and_then(as_i64);
        let error = at(errors, idx)
            .and_then(Value::as_str)
            .filter(|e| !e.is_empty())
            .map(str::to_string);
        // e2e: the tool's own value when written, else TTFT plus the inter-token gaps.
        let e2e_ms = at(e2els, idx)
            .and_then(as_f64)
            .map(|s| s * 1000.0)
            .or_else(|| {
                let gaps: f64 = itl_ms.as_ref()?.iter().flatten().sum();
                ttft_ms.map(|t| t + gaps)
            });
        let success = error.is_none() && ttft_ms.is_some_and(|t| t > 0.0);
        // A failed request's latencies are the tool's placeholders (0.0 and empty
        // lists): not measured, so NULL.
        let (ttft_ms, e2e_ms, itl_ms) = if success {
            (ttft_ms, e2e_ms, itl_ms)
        } else {
            (None, None, None)
        };
        let tpot_ms = super::tpot(e2e_ms, ttft_ms, output_tokens);
        let mut r = Record::default();
        r.str("run_id", Some(run_id.to_string()));
        r.i64("request_index", Some(idx as i64));
        r.str("framework", framework.clone());
        r.str("model", model.clone());
        r.i64("input_tokens", at(inputs, idx).and_then(as_i64));
        r.i64("output_tokens", output_tokens);
        r.f64("ttft_ms", ttft_ms);
        r.f64("tpot_ms", tpot_ms);
        r.f64("e2e_ms", e2e_ms);
        r.set("itl_ms", itl_ms.map_or(Cell::Null, Cell::FloatList));
        let started = at(starts, idx).and_then(as_f64);
        r.set(
            "started_at",
            epoch_s_to_us(started).map_or(Cell::Null, Cell::Ts),
        );
        r.set("success", Cell::Bool(success));
        r.str("error", error);
        r.str(
            "generated_text",
            at(texts, idx).and_then(Value::as_str).map(str::to_string),
        );
        let mut cells = r.cells;
        cells.retain(|(n, _)| n != "extra");
        requests.push(line, cells);
    }
}

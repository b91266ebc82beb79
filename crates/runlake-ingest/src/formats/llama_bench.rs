//! `llama-bench -o json|jsonl|csv`: one `runs` row per test (`pp512`, `tg128`, ...).
//! Times are nanoseconds in the file: `duration_ms` is the mean time of one repetition;
//! the test's size is `total_input_tokens` (n_prompt) and `total_output_tokens` (n_gen),
//! its speed (avg_ts, tokens/s) `input_throughput` for a prompt test, `output_throughput`
//! for a generation test, `total_token_throughput` for a combined one; the repetitions
//! are `num_requests`.

use serde_json::{Map, Value};

use super::{Record, f, i, json_stream, parsed, run_id_of, runs_table, s};
use crate::table::parse_timestamp_us;
use crate::value::Cell;
use crate::{Format, Parsed, Result, Source};

const CONFIG: &[&str] = &[
    "n_batch",
    "n_ubatch",
    "n_threads",
    "cpu_mask",
    "cpu_strict",
    "poll",
    "type_k",
    "type_v",
    "n_gpu_layers",
    "n_cpu_moe",
    "split_mode",
    "main_gpu",
    "no_kv_offload",
    "flash_attn",
    "devices",
    "tensor_split",
    "tensor_buft_overrides",
    "use_mmap",
    "use_direct_io",
    "embeddings",
    "no_op_offload",
    "no_host",
    "repack",
    "fit_target",
    "fit_min_ctx",
    "load_mode",
    "moe_cache",
    "n_gen_warmup",
    "backends",
    "n_depth",
];
const CANONICAL: &[&str] = &[
    "build_commit",
    "build_number",
    "gpu_info",
    "cpu_info",
    "model_filename",
    "test_time",
    "avg_ns",
    "n_prompt",
    "n_gen",
    "avg_ts",
    "samples_ns",
];

pub fn read(source: &Source) -> Result<Parsed> {
    let records: Vec<Rec> = if source.text()?.trim_start().starts_with(['[', '{']) {
        let mut out = Vec::new();
        for (line, value, raw) in json_stream(source)? {
            match value {
                Value::Array(items) => {
                    for (n, item) in items.into_iter().enumerate() {
                        if let Value::Object(o) = item {
                            let raw = Value::Object(o.clone()).to_string();
                            out.push((n as u64 + 1, o, raw));
                        }
                    }
                }
                Value::Object(o) => out.push((line, o, raw)),
                _ => {
                    return Err(super::not_format(
                        source,
                        Format::LlamaBench,
                        "expected JSON objects",
                    ));
                }
            }
        }
        out
    } else if has_markdown_table(source.text()?) {
        markdown_records(source.text()?)
    } else {
        csv_records(source)?
    };
    let mut runs = runs_table();
    let count = records.len();
    for (line, o, raw) in records {
        let mut r = Record::default();
        r.str("run_id", Some(run_id_of(&raw)));
        r.str("tool", Some("llama-bench".into()));
        let version = match (s(&o, "build_commit"), s(&o, "build_number")) {
            (Some(c), Some(n)) => Some(format!("{n} ({c})")),
            (c, n) => c.or(n),
        };
        r.str("tool_version", version);
        r.str("framework", Some("llama.cpp".into()));
        r.str(
            "model",
            s(&o, "model_filename").or_else(|| s(&o, "model_type")),
        );
        r.str(
            "hardware",
            s(&o, "gpu_info")
                .filter(|g| !g.is_empty())
                .or_else(|| s(&o, "cpu_info")),
        );
        let started = s(&o, "test_time").and_then(|t| parse_timestamp_us(&t, 0));
        r.set("started_at", started.map_or(Cell::Null, Cell::Ts));
        r.f64("duration_ms", f(&o, "avg_ns").map(|ns| ns / 1e6));
        r.i64("total_input_tokens", i(&o, "n_prompt"));
        r.i64("total_output_tokens", i(&o, "n_gen"));
        // avg_ts is tokens per second of the test's own tokens: prompt tokens for a
        // prompt test (`pp512`: n_gen 0), generated ones for a generation test
        // (`tg128`: n_prompt 0), both for a combined test (`pp512+tg128`).
        let throughput = match (i(&o, "n_prompt"), i(&o, "n_gen")) {
            (_, Some(0)) => "input_throughput",
            (Some(0), _) => "output_throughput",
            _ => "total_token_throughput",
        };
        r.f64(throughput, f(&o, "avg_ts"));
        let reps = o
            .get("samples_ns")
            .and_then(Value::as_array)
            .map(|v| v.len() as i64);
        r.i64("num_requests", reps);
        for (k, v) in &o {
            if CONFIG.contains(&k.as_str()) {
                r.config.insert(k.clone(), v.clone());
            } else if !CANONICAL.contains(&k.as_str()) {
                r.extra.insert(k.clone(), v.clone());
            }
        }
        runs.push(line, r.into_cells(true));
    }
    Ok(parsed(Format::LlamaBench, vec![runs], count))
}

/// Whether `text` holds llama-bench's default output, a markdown table whose header
/// starts with `| model` and has a `t/s` column (inside other text too).
pub fn has_markdown_table(text: &str) -> bool {
    text.lines().any(is_markdown_header)
}

fn is_markdown_header(line: &str) -> bool {
    let cells = markdown_cells(line);
    cells.first().map(String::as_str) == Some("model") && cells.iter().any(|c| c == "t/s")
}

fn markdown_cells(line: &str) -> Vec<String> {
    let line = line.trim();
    if !line.starts_with('|') {
        return Vec::new();
    }
    line.trim_matches('|')
        .split('|')
        .map(|c| c.trim().to_string())
        .collect()
}

/// The rows of llama-bench's markdown tables (`| model | size | params | backend | ngl |
/// test | t/s |`, more columns for non-default flags), each as the JSON output's fields:
/// `test` `pp512` is n_prompt 512, `tg128` n_gen 128, `pp512+tg128` both, `@ d1024` a
/// depth; `t/s` `490.97 ± 2.27` is avg_ts and stddev_ts; the `build: <commit> (<n>)`
/// line after a table is its build.
fn markdown_records(text: &str) -> Vec<Rec> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<Rec> = Vec::new();
    let mut n = 0;
    while n < lines.len() {
        if !is_markdown_header(lines[n]) {
            n += 1;
            continue;
        }
        let header = markdown_cells(lines[n]);
        let first_row = out.len();
        n += 1;
        while n < lines.len() && lines[n].trim_start().starts_with('|') {
            let cells = markdown_cells(lines[n]);
            let separator = cells
                .iter()
                .all(|c| c.chars().all(|ch| matches!(ch, '-' | ':')));
            if !separator && cells.len() == header.len() {
                let mut o = Map::new();
                for (name, value) in header.iter().zip(&cells) {
                    markdown_field(&mut o, name, value);
                }
                let raw = format!("{}:{}", n + 1, lines[n].trim());
                out.push((n as u64 + 1, o, raw));
            }
            n += 1;
        }
        // The build line follows the table (after blank lines at most).
        let build = lines[n..]
            .iter()
            .take_while(|l| !l.trim_start().starts_with('|'))
            .take(3)
            .find_map(|l| l.trim().strip_prefix("build: "));
        if let Some(build) = build {
            let (commit, number) = match build.split_once(" (") {
                Some((c, num)) => (c.trim(), num.trim_end_matches(')').trim()),
                None => (build.trim(), ""),
            };
            for (_, o, _) in &mut out[first_row..] {
                o.insert("build_commit".into(), Value::String(commit.to_string()));
                if let Ok(number) = number.parse::<i64>() {
                    o.insert("build_number".into(), Value::from(number));
                }
            }
        }
    }
    out
}

/// One markdown cell as the JSON output's field(s).
fn markdown_field(o: &mut Map<String, Value>, name: &str, value: &str) {
    let int = |v: &str| {
        v.parse::<i64>()
            .map_or(Value::String(v.to_string()), Value::from)
    };
    match name {
        "model" => {
            o.insert("model_type".into(), Value::String(value.into()));
        }
        "t/s" => {
            let (avg, sd) = value.split_once('±').unwrap_or((value, ""));
            let number = |v: &str| {
                crate::value::parse_number(v.trim())
                    .ok()
                    .flatten()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Null, Value::Number)
            };
            o.insert("avg_ts".into(), number(avg));
            if !sd.trim().is_empty() {
                o.insert("stddev_ts".into(), number(sd));
            }
        }
        "test" => {
            let (test, depth) = value.split_once(" @ d").unwrap_or((value, ""));
            let (mut prompt, mut generated) = (0i64, 0i64);
            for part in test.split('+') {
                let part = part.trim();
                if let Some(n) = part.strip_prefix("pp").and_then(|n| n.parse().ok()) {
                    prompt = n;
                } else if let Some(n) = part.strip_prefix("tg").and_then(|n| n.parse().ok()) {
                    generated = n;
                }
            }
            o.insert("n_prompt".into(), Value::from(prompt));
            o.insert("n_gen".into(), Value::from(generated));
            if let Ok(depth) = depth.trim().parse::<i64>() {
                o.insert("n_depth".into(), Value::from(depth));
            }
            o.insert("test".into(), Value::String(value.into()));
        }
        "ngl" => {
            o.insert("n_gpu_layers".into(), int(value));
        }
        "fa" => {
            o.insert("flash_attn".into(), int(value));
        }
        "threads" => {
            o.insert("n_threads".into(), int(value));
        }
        "backend" => {
            o.insert("backends".into(), Value::String(value.into()));
        }
        "size" => {
            o.insert("model_size".into(), Value::String(value.into()));
        }
        "params" => {
            o.insert("model_n_params".into(), Value::String(value.into()));
        }
        other => {
            o.insert(other.to_string(), int(value));
        }
    }
}

/// `llama-bench -o csv` quotes every value: each row becomes a JSON object of strings
/// (numbers are read from them by the typed getters).
/// A record: its line, its fields, its raw text.
type Rec = (u64, Map<String, Value>, String);

fn csv_records(source: &Source) -> Result<Vec<Rec>> {
    let text = source.text()?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| super::not_format(source, Format::LlamaBench, &e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut out = Vec::new();
    for record in reader.records() {
        let record =
            record.map_err(|e| super::not_format(source, Format::LlamaBench, &e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line());
        let o: Map<String, Value> = headers
            .iter()
            .zip(record.iter())
            .map(|(h, v)| (h.clone(), Value::String(v.to_string())))
            .collect();
        let raw: Vec<&str> = record.iter().collect();
        out.push((line, o, raw.join(",")));
    }
    Ok(out)
}

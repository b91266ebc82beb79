//! The tool formats, and the canonical tables they land in.

mod aiperf;
pub(crate) mod genai_perf;
mod guidellm;
pub(crate) mod llama_bench;
mod llmperf;
mod mlperf;
mod otlp;
mod serving;
mod steps;
mod vidur;

use serde_json::{Map, Value};

use crate::generic;
use crate::table::{Kind, TableRows};
use crate::value::{Cell, as_f64, as_i64, as_str, parse_json, short_hash};
use crate::{Error, Format, Options, Parsed, Reject, Result, Source, TableData};

/// Reads `source` as `format`.
pub fn read(format: Format, source: &Source, table: &str, options: &Options) -> Result<Parsed> {
    let parsed = read_as(format, source, table, options)?;
    // A tool reader given something else (a forced `--format`, or a file that only looks
    // like the tool's) finds none of its fields: refused, not committed as empty rows.
    let tool = !matches!(
        format,
        Format::Csv | Format::Tsv | Format::Json | Format::Jsonl | Format::Parquet | Format::Arrow
    );
    let rows: Vec<&TableRows> = parsed
        .tables
        .iter()
        .filter_map(|t| match t {
            TableData::Rows(rows) => Some(rows),
            _ => None,
        })
        .collect();
    if tool && !rows.is_empty() && !rows.iter().any(|t| t.any_measured()) {
        return Err(not_format(
            source,
            format,
            "none of the fields that define it were found (see docs/formats.md)",
        ));
    }
    Ok(parsed)
}

fn read_as(format: Format, source: &Source, table: &str, options: &Options) -> Result<Parsed> {
    match format {
        Format::Csv => generic::read_delimited(source, table, b','),
        Format::Tsv => generic::read_delimited(source, table, b'\t'),
        Format::Json => generic::read_json(source, table),
        Format::Jsonl => generic::read_json_lines(source, table),
        Format::Parquet => generic::read_parquet(source, table),
        Format::Arrow => generic::read_arrow(source, table),
        Format::VllmBench => serving::read(source, serving::Tool::Vllm, options),
        Format::SglangBench => serving::read(source, serving::Tool::Sglang, options),
        Format::SchedSteps => steps::read(source),
        Format::LlamaBench => llama_bench::read(source),
        Format::Guidellm => guidellm::read(source),
        Format::Llmperf => llmperf::read(source),
        Format::Mlperf => mlperf::read(source),
        Format::Vidur => vidur::read(source),
        Format::GenaiPerf => genai_perf::read(source),
        Format::Aiperf => aiperf::read(source),
        Format::Otlp => otlp::read(source),
    }
}

/// The summary-latency columns of `runs`: `{mean,median,std,p50,p90,p95,p99}_{ttft,tpot,itl,e2e}_ms`.
pub const STATS: [&str; 7] = ["mean", "median", "std", "p50", "p90", "p95", "p99"];
pub const METRICS: [&str; 4] = ["ttft", "tpot", "itl", "e2e"];

/// The columns of `runs`, in order.
pub fn runs_table() -> TableRows {
    let mut cols: Vec<(String, Kind)> = [
        ("run_id", Kind::Str),
        ("tool", Kind::Str),
        ("tool_version", Kind::Str),
        ("framework", Kind::Str),
        ("backend", Kind::Str),
        ("label", Kind::Str),
        ("model", Kind::Str),
        ("hardware", Kind::Str),
        ("started_at", Kind::Ts),
        ("duration_ms", Kind::Float),
        ("num_requests", Kind::Int),
        ("completed", Kind::Int),
        ("failed", Kind::Int),
        ("request_rate", Kind::Float),
        ("max_concurrency", Kind::Int),
        ("total_input_tokens", Kind::Int),
        ("total_output_tokens", Kind::Int),
        ("request_throughput", Kind::Float),
        ("output_throughput", Kind::Float),
        ("input_throughput", Kind::Float),
        ("total_token_throughput", Kind::Float),
    ]
    .into_iter()
    .map(|(n, k)| (n.to_string(), k))
    .collect();
    for metric in METRICS {
        for stat in STATS {
            cols.push((format!("{stat}_{metric}_ms"), Kind::Float));
        }
    }
    cols.push(("config".into(), Kind::Json));
    cols.push(("extra".into(), Kind::Json));
    let refs: Vec<(&str, Kind)> = cols.iter().map(|(n, k)| (n.as_str(), *k)).collect();
    TableRows::new("runs", &refs)
}

/// The columns of `requests`, in order.
pub fn requests_table() -> TableRows {
    TableRows::new(
        "requests",
        &[
            ("run_id", Kind::Str),
            ("request_index", Kind::Int),
            ("framework", Kind::Str),
            ("model", Kind::Str),
            ("input_tokens", Kind::Int),
            ("output_tokens", Kind::Int),
            ("ttft_ms", Kind::Float),
            ("tpot_ms", Kind::Float),
            ("e2e_ms", Kind::Float),
            ("itl_ms", Kind::FloatList),
            ("started_at", Kind::Ts),
            ("success", Kind::Bool),
            ("error", Kind::Str),
        ],
    )
}

/// The columns of `steps`, in order.
pub fn steps_table() -> TableRows {
    TableRows::new(
        "steps",
        &[
            ("run_id", Kind::Str),
            ("step", Kind::Int),
            ("ts", Kind::Ts),
            ("schedule_duration_ms", Kind::Float),
            ("model_run_duration_ms", Kind::Float),
            ("total_step_duration_ms", Kind::Float),
            ("total_scheduled_tokens", Kind::Int),
            ("num_running_reqs", Kind::Int),
            ("num_waiting_reqs", Kind::Int),
            ("num_prefill_reqs", Kind::Int),
            ("num_decode_reqs", Kind::Int),
            ("chunk_sizes", Kind::IntList),
            ("computed_tokens", Kind::IntList),
            ("cached_tokens", Kind::IntList),
            ("kv_cache_usage", Kind::Float),
            ("extra", Kind::Json),
        ],
    )
}

/// The columns of `spans`, in order.
pub fn spans_table() -> TableRows {
    TableRows::new(
        "spans",
        &[
            ("trace_id", Kind::Str),
            ("span_id", Kind::Str),
            ("parent_span_id", Kind::Str),
            ("name", Kind::Str),
            ("service", Kind::Str),
            ("start_time", Kind::Ts),
            ("end_time", Kind::Ts),
            ("duration_ms", Kind::Float),
            ("status", Kind::Str),
            ("attributes", Kind::Json),
            ("scope", Kind::Str),
            ("kind", Kind::Str),
            ("extra", Kind::Json),
        ],
    )
}

/// Time per output token when a tool does not write it: (e2e - ttft) / (output tokens - 1),
/// `None` for one output token or fewer.
pub fn tpot(e2e_ms: Option<f64>, ttft_ms: Option<f64>, output_tokens: Option<i64>) -> Option<f64> {
    match (e2e_ms, ttft_ms, output_tokens) {
        (Some(e), Some(t), Some(n)) if n > 1 => Some((e - t) / (n - 1) as f64),
        _ => None,
    }
}

/// The non-empty lines of a JSON-lines log: (1-based line, text, the object or the bad
/// row it makes).
pub fn object_lines(
    text: &str,
) -> impl Iterator<Item = (u64, &str, std::result::Result<Map<String, Value>, Reject>)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            let line_no = n as u64 + 1;
            let object = match parse_json(line) {
                Ok(Value::Object(o)) => Ok(o),
                Ok(_) => Err(line_reject(line_no, "not a JSON object", line)),
                Err(e) => Err(line_reject(
                    line_no,
                    &crate::value::json_line_error(&e),
                    line,
                )),
            };
            (line_no, line, object)
        })
}

/// A bad line of a JSON-lines log.
pub fn line_reject(line: u64, reason: &str, raw: &str) -> Reject {
    Reject {
        line,
        column: None,
        reason: reason.to_string(),
        raw: raw.chars().take(2000).collect(),
    }
}

/// A record under construction: canonical cells plus the leftover keys for `config` and
/// `extra`.
#[derive(Debug, Default)]
pub struct Record {
    pub cells: Vec<(String, Cell)>,
    pub config: Map<String, Value>,
    pub extra: Map<String, Value>,
}

impl Record {
    pub fn set(&mut self, name: impl Into<String>, cell: Cell) {
        let name = name.into();
        if let Some(slot) = self.cells.iter_mut().find(|(n, _)| *n == name) {
            slot.1 = cell;
        } else {
            self.cells.push((name, cell));
        }
    }

    pub fn f64(&mut self, name: &str, v: Option<f64>) {
        self.set(name, Cell::from(v));
    }

    pub fn i64(&mut self, name: &str, v: Option<i64>) {
        self.set(name, Cell::from(v));
    }

    pub fn str(&mut self, name: &str, v: Option<String>) {
        self.set(name, Cell::from(v));
    }

    /// Finishes the record: `config` and `extra` as JSON text (NULL when empty).
    pub fn into_cells(mut self, with_config: bool) -> Vec<(String, Cell)> {
        if with_config {
            let config = (!self.config.is_empty())
                .then(|| Value::Object(std::mem::take(&mut self.config)).to_string());
            self.cells
                .push(("config".into(), config.map_or(Cell::Null, Cell::Json)));
        }
        let extra = (!self.extra.is_empty())
            .then(|| Value::Object(std::mem::take(&mut self.extra)).to_string());
        self.cells
            .push(("extra".into(), extra.map_or(Cell::Null, Cell::Json)));
        self.cells
    }
}

/// Helpers to read typed values from a JSON object.
pub fn f(o: &Map<String, Value>, k: &str) -> Option<f64> {
    o.get(k).and_then(as_f64)
}

pub fn i(o: &Map<String, Value>, k: &str) -> Option<i64> {
    o.get(k).and_then(as_i64)
}

pub fn s(o: &Map<String, Value>, k: &str) -> Option<String> {
    o.get(k).and_then(as_str)
}

/// JSON values concatenated or one per line (vLLM `--append-result`, SGLang JSONL): each
/// with the 1-based line it starts on. A value that does not parse is an error naming the
/// line (a tool file is not a table of independent rows).
pub fn json_stream(source: &Source) -> Result<Vec<(u64, Value, String)>> {
    let text = source.text()?;
    let mut out = Vec::new();
    let mut offset = 0usize;
    let bytes = text.as_bytes();
    let line_of = |pos: usize| bytes[..pos].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    while offset < text.len() {
        let rest = &text[offset..];
        let skip = rest.len() - rest.trim_start().len();
        offset += skip;
        if offset >= text.len() {
            break;
        }
        let rest = &text[offset..];
        let start_line = line_of(offset);
        // The value ends where a streaming parse of the (special-float-quoted) text ends.
        let end = value_end(rest).ok_or_else(|| Error::Format {
            source_name: source.name.clone(),
            message: format!("line {start_line}: an unterminated JSON value"),
        })?;
        let raw = &rest[..end];
        let value = parse_json(raw).map_err(|e| Error::Format {
            source_name: source.name.clone(),
            message: crate::value::json_error_at(&e, start_line),
        })?;
        out.push((start_line, value, raw.to_string()));
        offset += end;
    }
    Ok(out)
}

/// The length of the first JSON value of `text` (which starts with it): the matching
/// close of an object or array, strings skipped.
fn value_end(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let (open, close) = match bytes.first()? {
        b'{' => (b'{', b'}'),
        b'[' => (b'[', b']'),
        _ => return Some(text.find('\n').unwrap_or(text.len())),
    };
    let mut depth = 0i64;
    for i in crate::value::outside_strings(bytes) {
        if bytes[i] == open {
            depth += 1;
        } else if bytes[i] == close {
            depth -= 1;
            if depth == 0 {
                return Some(i + 1);
            }
        }
    }
    None
}

/// The stable id of a run: a hash of its own record's text.
pub fn run_id_of(raw: &str) -> String {
    short_hash(raw.trim())
}

pub fn parsed(format: Format, tables: Vec<TableRows>, records: usize) -> Parsed {
    Parsed {
        format,
        tables: tables
            .into_iter()
            .filter(|t| !t.is_empty())
            .map(TableData::Rows)
            .collect(),
        rejects: Vec::new(),
        renamed: Vec::new(),
        records,
    }
}

pub fn not_format(source: &Source, format: Format, what: &str) -> Error {
    Error::Format {
        source_name: source.name.clone(),
        message: {
            let name = format.to_string();
            let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            format!("not {article} {name} file: {what}")
        },
    }
}

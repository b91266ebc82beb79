//! Format detection by content (the name only breaks ties between CSV and TSV).

use serde_json::Value;

use crate::value::parse_json;
use crate::{Error, Format, Result, Source};

/// Tells a source's format from its bytes.
pub fn detect(source: &Source) -> Result<Format> {
    let bytes = &source.bytes;
    if bytes.starts_with(b"PAR1") {
        return Ok(Format::Parquet);
    }
    if bytes.starts_with(b"ARROW1") {
        return Ok(Format::Arrow);
    }
    let text = source.text()?;
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(Error::Format {
            source_name: source.name.clone(),
            message: "the input is empty".into(),
        });
    }
    if trimmed.starts_with(":::MLLOG") {
        return Ok(Format::Mlperf);
    }
    if trimmed
        .lines()
        .take(5)
        .any(|l| l.contains("MLPerf Results Summary"))
    {
        return Ok(Format::Mlperf);
    }
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let error = match parse_json(trimmed) {
            Ok(doc) => {
                return Ok(match &doc {
                    Value::Array(items) => detect_array(items),
                    Value::Object(_) => detect_record(&doc).unwrap_or(Format::Json),
                    _ => Format::Json,
                });
            }
            Err(e) => e,
        };
        // Not one document: JSON lines (the first line a value of its own) ...
        let first = trimmed.lines().next().unwrap_or_default();
        if let Ok(record) = parse_json(first) {
            return Ok(detect_record(&record).unwrap_or(Format::Jsonl));
        }
        // ... or values one after another (a complete value before where the parse
        // stopped); otherwise one multi-line document that is broken where it says.
        if let Some(end) = offset_of(trimmed, error.line(), error.column())
            && let Ok(record) = parse_json(&trimmed[..end])
        {
            return Ok(detect_record(&record).unwrap_or(Format::Jsonl));
        }
        let skipped = text[..text.len() - trimmed.len()].matches('\n').count() as u64;
        return Err(Error::Format {
            source_name: source.name.clone(),
            message: crate::value::json_error_at(&error, 1 + skipped),
        });
    }
    if crate::formats::genai_perf::is_csv_summary(trimmed) {
        return Ok(if crate::formats::genai_perf::csv_is_aiperf(trimmed) {
            Format::Aiperf
        } else {
            Format::GenaiPerf
        });
    }
    let header = trimmed.lines().next().unwrap_or_default();
    if header.starts_with("Request Id,") && header.contains("request_e2e_time") {
        return Ok(Format::Vidur);
    }
    if header.contains("avg_ns") && header.contains("n_prompt") {
        return Ok(Format::LlamaBench);
    }
    if crate::formats::llama_bench::has_markdown_table(trimmed) {
        return Ok(Format::LlamaBench);
    }
    let tabs = header.matches('\t').count();
    let commas = header.matches(',').count();
    if tabs == 0 && commas == 0 && trimmed.lines().nth(1).is_some() {
        // One column and no delimiter: free text, not a table.
        return Err(Error::Format {
            source_name: source.name.clone(),
            message: "not a delimited file or a run log runlake knows: its first line has no \
                      comma or tab (give --format csv to read each line as one value)"
                .into(),
        });
    }
    let named_tsv = source.name.to_ascii_lowercase().contains(".tsv");
    Ok(if tabs > commas || (named_tsv && tabs > 0) {
        Format::Tsv
    } else {
        Format::Csv
    })
}

/// The byte offset of 1-based `line` and `column` in `text` (serde_json counts columns
/// in bytes), the offset clipped to a character boundary before it.
fn offset_of(text: &str, line: usize, column: usize) -> Option<usize> {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.checked_sub(1)?)
        .map(str::len)
        .sum();
    let mut at = (start + column.saturating_sub(1)).min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    Some(at)
}

fn detect_array(items: &[Value]) -> Format {
    let Some(Value::Object(first)) = items.first() else {
        return Format::Json;
    };
    if first.contains_key("avg_ns") && first.contains_key("n_prompt") {
        Format::LlamaBench
    } else if first.contains_key("ttft_s") || first.contains_key("end_to_end_latency_s") {
        Format::Llmperf
    } else if let Some(format) = detect_record(&Value::Object(first.clone()))
        .filter(|f| matches!(f, Format::VllmBench | Format::SglangBench))
    {
        // `vllm bench sweep`'s summary.json: an array of result objects.
        format
    } else {
        Format::Json
    }
}

/// The tool format one JSON record belongs to, if any.
fn detect_record(record: &Value) -> Option<Format> {
    let Value::Object(o) = record else {
        return None;
    };
    let has = |k: &str| o.contains_key(k);
    if has("resourceSpans") {
        return Some(Format::Otlp);
    }
    if has("experiments") && (has("service_kind") || has("endpoint")) {
        return Some(Format::GenaiPerf);
    }
    if let Some(Value::Object(meta)) = o.get("metadata")
        && (meta.contains_key("x_request_id") || meta.contains_key("request_start_ns"))
        && has("metrics")
    {
        return Some(Format::Aiperf);
    }
    if has("input_config")
        && let Some(Value::Object(records)) = o.get("records")
        && records.values().any(|m| m.get("unit").is_some())
    {
        // AIPerf since 2025: the metrics under `records`.
        return Some(Format::Aiperf);
    }
    if has("input_config") {
        let metric = |k: &str| o.get(k).is_some_and(|m| m.get("unit").is_some());
        if metric("request_latency") || metric("time_to_first_token") {
            let aiperf = has("was_cancelled")
                || has("error_summary")
                || metric("benchmark_duration")
                || metric("inter_chunk_latency");
            return Some(if aiperf {
                Format::Aiperf
            } else {
                Format::GenaiPerf
            });
        }
    }
    if let Some(Value::Array(b)) = o.get("benchmarks") {
        let generative = b
            .first()
            .and_then(|x| x.get("type_"))
            .and_then(Value::as_str)
            == Some("generative_benchmark");
        if generative || b.first().is_some_and(|x| x.get("requests").is_some()) {
            return Some(Format::Guidellm);
        }
    }
    if has("model_run_duration_ms") || has("model_run_ms") {
        return Some(Format::SchedSteps);
    }
    if has("total_output_tokens_retokenized")
        || (has("backend") && has("mean_e2e_latency_ms") && !has("date"))
    {
        return Some(Format::SglangBench);
    }
    if (has("mean_ttft_ms") || has("ttfts") || has("median_ttft_ms"))
        && (has("date") || has("backend") || has("model_id"))
    {
        return Some(Format::VllmBench);
    }
    if has("avg_ns") && has("n_prompt") {
        return Some(Format::LlamaBench);
    }
    if o.keys().any(|k| k.starts_with("results_")) && has("num_concurrent_requests") {
        return Some(Format::Llmperf);
    }
    None
}

//! NVIDIA AIPerf: `profile_export.jsonl` (one record per request: `metadata` with
//! nanosecond epoch times, `metrics.<name> = {value, unit}` with the unit carried per
//! value, `error`) and `profile_export_aiperf.json` (a summary, read like GenAI-Perf's).
//!
//! A JSONL export is one run: its `run_id` is a hash of the source's name and first
//! record, so an export that grew keeps its id and adds only its new requests.

use serde_json::{Map, Value};

use super::genai_perf::{summary, to_ms};
use super::{Record, object_lines, parsed, requests_table, run_id_of, runs_table, tpot};
use crate::value::{Cell, as_f64, as_i64, parse_json, short_hash};
use crate::{Format, Parsed, Result, Source, TableData};

pub fn read(source: &Source) -> Result<Parsed> {
    let text = source.text()?;
    if super::genai_perf::is_csv_summary(text) {
        return super::genai_perf::read_csv_summary(source, Format::Aiperf);
    }
    if let Ok(Value::Object(mut o)) = parse_json(text)
        && o.get("metadata").is_none()
    {
        // Since 2025 the metrics sit under `records`, beside `input_config`.
        if let Some(Value::Object(records)) = o.remove("records") {
            for (k, v) in records {
                o.entry(k).or_insert(v);
            }
        }
        let has_metric = o
            .values()
            .any(|m| m.get("unit").is_some() && m.get("avg").is_some());
        if !has_metric {
            return Err(super::not_format(
                source,
                Format::Aiperf,
                "no metrics (`{\"unit\": ..., \"avg\": ...}` objects, at the top level or under `records`)",
            ));
        }
        let mut runs = runs_table();
        runs.push(1, summary(&o, "aiperf", &run_id_of(text)));
        return Ok(parsed(Format::Aiperf, vec![runs], 1));
    }
    let mut requests = requests_table();
    let mut rejects = Vec::new();
    let mut run_id: Option<String> = None;
    let (mut records, mut index, mut failed) = (0usize, 0i64, 0i64);
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    for (line_no, line, object) in object_lines(text) {
        records += 1;
        let o = match object {
            Ok(o) => o,
            Err(reject) => {
                rejects.push(reject);
                continue;
            }
        };
        let run_id = run_id
            .get_or_insert_with(|| short_hash(&format!("aiperf:{}\n{}", source.name, line.trim())))
            .clone();
        let empty = Map::new();
        let meta = o
            .get("metadata")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let metrics = o
            .get("metrics")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let ms = |k: &str| {
            let m = metrics.get(k)?;
            let unit = m.get("unit").and_then(Value::as_str).unwrap_or("ms");
            to_ms(m.get("value").and_then(as_f64)?, unit)
        };
        let count = |k: &str| metrics.get(k).and_then(|m| m.get("value")).and_then(as_i64);
        let itl = metrics.get("inter_chunk_latency").and_then(|m| {
            let unit = m.get("unit").and_then(Value::as_str).unwrap_or("ms");
            let list = m.get("value")?.as_array()?;
            Some(
                list.iter()
                    .map(|v| as_f64(v).and_then(|x| to_ms(x, unit)))
                    .collect::<Vec<_>>(),
            )
        });
        let error = o.get("error").filter(|e| !e.is_null()).map(|e| {
            e.get("message")
                .and_then(Value::as_str)
                .map_or_else(|| e.to_string(), str::to_string)
        });
        let cancelled = meta.get("was_cancelled").and_then(Value::as_bool) == Some(true);
        let success = error.is_none() && !cancelled;
        if !success {
            failed += 1;
        }
        // The request's start: `request_start_ns` (2024), `timestamp_ns` (since 2025);
        // its end: `request_end_ns`, or the start plus the request's latency.
        let start = meta
            .get("request_start_ns")
            .or_else(|| meta.get("timestamp_ns"))
            .and_then(as_i64);
        let latency_ns = ms("request_latency").map(|ms| (ms * 1e6).round() as i64);
        let end = meta.get("request_end_ns").and_then(as_i64).or_else(|| {
            let start = start?;
            start.checked_add(latency_ns?)
        });
        if let Some(s) = start {
            first = first.min(s);
            last = last.max(end.unwrap_or(s));
        }
        let output_tokens = count("output_sequence_length").or_else(|| count("output_token_count"));
        // `time_to_first_token` until 2025, `ttft` since.
        let ttft = ms("time_to_first_token").or_else(|| ms("ttft"));
        let e2e = ms("request_latency");
        // AIPerf's own per-request inter-token latency when written: the TPOT.
        let tpot_ms = ms("inter_token_latency").or_else(|| tpot(e2e, ttft, output_tokens));
        let mut r = Record::default();
        r.str("run_id", Some(run_id));
        r.i64("request_index", Some(index));
        index += 1;
        r.i64("input_tokens", count("input_sequence_length"));
        r.i64("output_tokens", output_tokens);
        r.f64("ttft_ms", ttft);
        r.f64("tpot_ms", tpot_ms);
        r.f64("e2e_ms", e2e);
        r.set("itl_ms", itl.map_or(Cell::Null, Cell::FloatList));
        r.set(
            "started_at",
            start.map_or(Cell::Null, |t| Cell::Ts(t / 1000)),
        );
        r.set("success", Cell::Bool(success));
        r.str(
            "error",
            error.or(cancelled.then(|| "cancelled".to_string())),
        );
        for (k, v) in metrics {
            if !matches!(
                k.as_str(),
                "time_to_first_token"
                    | "ttft"
                    | "inter_token_latency"
                    | "request_latency"
                    | "inter_chunk_latency"
                    | "input_sequence_length"
                    | "output_sequence_length"
                    | "output_token_count"
            ) {
                r.extra.insert(k.clone(), v.clone());
            }
        }
        for (k, v) in meta {
            if !matches!(
                k.as_str(),
                "request_start_ns" | "timestamp_ns" | "was_cancelled"
            ) {
                r.extra.insert(k.clone(), v.clone());
            }
        }
        requests.push(line_no, r.into_cells(false));
    }
    let mut tables = vec![TableData::Rows(requests)];
    if let Some(run_id) = run_id {
        let mut r = Record::default();
        r.str("run_id", Some(run_id));
        r.str("tool", Some("aiperf".into()));
        r.i64("num_requests", Some(index));
        r.i64("completed", Some(index - failed));
        r.i64("failed", Some(failed));
        if first <= last {
            r.set("started_at", Cell::Ts(first / 1000));
            r.f64("duration_ms", Some((last - first) as f64 / 1e6));
        }
        let mut runs = runs_table();
        runs.push(1, r.into_cells(true));
        tables.push(TableData::Rows(runs));
    }
    Ok(Parsed {
        format: Format::Aiperf,
        tables,
        rejects,
        renamed: Vec::new(),
        records,
    })
}

//! Per-scheduler-step JSONL (the "scheduler profiling" logs of vLLM V1 forks), both
//! generations: `model_run_duration_ms`, `total_scheduled_tokens`, ... and the later
//! `model_run_ms`, `sched_tokens`, `num_running`, numbers written as strings. One `steps`
//! row per line; a line that is not a JSON object is a bad row.

use serde_json::Value;

use super::{Record, f, i, object_lines, steps_table};
use crate::table::parse_timestamp_us;
use crate::value::{Cell, as_f64, as_i64, epoch_s_to_us, short_hash};
use crate::{Format, Parsed, Result, Source, TableData};

/// (canonical column, the keys that may hold it, first found wins).
const FLOATS: &[(&str, &[&str])] = &[
    (
        "schedule_duration_ms",
        &["schedule_duration_ms", "schedule_ms"],
    ),
    (
        "model_run_duration_ms",
        &["model_run_duration_ms", "model_run_ms"],
    ),
    (
        "total_step_duration_ms",
        &["total_step_duration_ms", "step_duration_ms"],
    ),
    ("kv_cache_usage", &["kv_cache_usage", "gpu_cache_usage"]),
];
const INTS: &[(&str, &[&str])] = &[
    (
        "total_scheduled_tokens",
        &["total_scheduled_tokens", "sched_tokens"],
    ),
    ("num_running_reqs", &["num_running_reqs", "num_running"]),
    ("num_waiting_reqs", &["num_waiting_reqs", "num_waiting"]),
    ("num_prefill_reqs", &["num_prefill_reqs"]),
    ("num_decode_reqs", &["num_decode_reqs"]),
];
const LISTS: &[(&str, &[&str])] = &[
    ("chunk_sizes", &["chunk_sizes"]),
    (
        "computed_tokens",
        &["all_computed_tokens", "computed_tokens"],
    ),
    ("cached_tokens", &["all_cached_tokens", "cached_tokens"]),
];

pub fn read(source: &Source) -> Result<Parsed> {
    let text = source.text()?;
    let mut steps = steps_table();
    let mut rejects = Vec::new();
    let mut run_id: Option<String> = None;
    let mut records = 0;
    for (line_no, line, object) in object_lines(text) {
        records += 1;
        let o = match object {
            Ok(o) => o,
            Err(reject) => {
                rejects.push(reject);
                continue;
            }
        };
        // A log is one run: its id is a hash of the source and its first record, so a
        // log that grew keeps its id and adds only its new steps.
        let run_id = run_id
            .get_or_insert_with(|| short_hash(&format!("{}\n{}", source.name, line.trim())))
            .clone();
        let mut r = Record::default();
        let mut used: Vec<&str> = vec!["batch_id", "step", "timestamp", "time"];
        r.str("run_id", Some(run_id));
        r.i64("step", i(&o, "batch_id").or_else(|| i(&o, "step")));
        let ts = o
            .get("timestamp")
            .or_else(|| o.get("time"))
            .and_then(|v| match v {
                Value::String(s) if s.contains('-') => parse_timestamp_us(s, 0),
                other => epoch_s_to_us(as_f64(other)),
            });
        r.set("ts", ts.map_or(Cell::Null, Cell::Ts));
        for (column, keys) in FLOATS {
            if let Some(k) = keys.iter().find(|k| o.contains_key(**k)) {
                r.f64(column, f(&o, k));
                used.push(k);
            }
        }
        for (column, keys) in INTS {
            if let Some(k) = keys.iter().find(|k| o.contains_key(**k)) {
                r.i64(column, i(&o, k));
                used.push(k);
            }
        }
        for (column, keys) in LISTS {
            if let Some(k) = keys.iter().find(|k| o.contains_key(**k)) {
                let list = o[*k]
                    .as_array()
                    .map(|v| v.iter().map(as_i64).collect::<Vec<_>>());
                r.set(*column, list.map_or(Cell::Null, Cell::IntList));
                used.push(k);
            }
        }
        for (k, v) in &o {
            if !used.contains(&k.as_str()) {
                r.extra.insert(k.clone(), v.clone());
            }
        }
        steps.push(line_no, r.into_cells(false));
    }
    Ok(Parsed {
        format: Format::SchedSteps,
        tables: vec![TableData::Rows(steps)],
        rejects,
        renamed: Vec::new(),
        records,
    })
}

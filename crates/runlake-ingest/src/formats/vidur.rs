//! Vidur simulator `request_metrics.csv`: the simulated side of a comparison. One `runs`
//! row (`tool = 'vidur'`) and one `requests` row per simulated request; seconds in the
//! file. `ttft_ms` is `prefill_e2e_time`, `tpot_ms` the decode time per token.

use super::{Record, parsed, requests_table, runs_table};
use crate::value::{Cell, parse_number, short_hash};
use crate::{Format, Parsed, Reject, Result, Source};

pub fn read(source: &Source) -> Result<Parsed> {
    let text = source.text()?;
    let run_id = short_hash(text);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| super::not_format(source, Format::Vidur, &e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let mut requests = requests_table();
    let mut rejects = Vec::new();
    let mut count = 0;
    let mut e2e_total = 0.0;
    let mut n_ok = 0i64;
    for record in reader.records() {
        count += 1;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                rejects.push(Reject {
                    line: e.position().map_or(0, |p| p.line()),
                    column: None,
                    reason: format!("unreadable row: {e}"),
                    raw: String::new(),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != headers.len() {
            rejects.push(Reject {
                line,
                column: None,
                reason: format!(
                    "expected {} fields as in the header, found {}",
                    headers.len(),
                    record.len()
                ),
                raw: record.iter().collect::<Vec<_>>().join(","),
            });
            continue;
        }
        let mut bad = None;
        let mut num = |name: &str| -> Option<f64> {
            let v = record.get(col(name)?)?;
            match parse_number(v) {
                Ok(x) => x,
                Err(e) => {
                    bad.get_or_insert((name.to_string(), v.to_string(), e));
                    None
                }
            }
        };
        let id = num("Request Id");
        let e2e = num("request_e2e_time");
        let ttft = num("prefill_e2e_time");
        let tpot = num("decode_time_execution_plus_preemption_normalized");
        let prefill = num("request_num_prefill_tokens");
        let decode = num("request_num_decode_tokens");
        if let Some((column, value, reason)) = bad {
            rejects.push(Reject {
                line,
                column: Some(column),
                reason: reason.describe(&value),
                raw: record.iter().collect::<Vec<_>>().join(","),
            });
            continue;
        }
        let mut r = Record::default();
        r.str("run_id", Some(run_id.clone()));
        r.i64("request_index", id.map(|v| v as i64));
        r.i64("input_tokens", prefill.map(|v| v as i64));
        r.i64("output_tokens", decode.map(|v| v as i64));
        r.f64("ttft_ms", ttft.map(|s| s * 1000.0));
        r.f64("tpot_ms", tpot.map(|s| s * 1000.0));
        r.f64("e2e_ms", e2e.map(|s| s * 1000.0));
        // A request the simulation never finished has no end-to-end time.
        r.set("success", Cell::Bool(e2e.is_some()));
        if let Some(e) = e2e {
            e2e_total += e;
            n_ok += 1;
        }
        let mut cells = r.cells;
        for (h, v) in headers.iter().zip(record.iter()) {
            if !matches!(
                h.as_str(),
                "Request Id"
                    | "request_e2e_time"
                    | "prefill_e2e_time"
                    | "decode_time_execution_plus_preemption_normalized"
                    | "request_num_prefill_tokens"
                    | "request_num_decode_tokens"
            ) {
                let name = format!("vidur_{}", crate::names::snake_case(h));
                cells.push((
                    name,
                    parse_number(v)
                        .ok()
                        .flatten()
                        .map_or(Cell::Null, Cell::Float),
                ));
            }
        }
        requests.push(line, cells);
    }
    let mut runs = runs_table();
    let mut r = Record::default();
    r.str("run_id", Some(run_id));
    r.str("tool", Some("vidur".into()));
    r.i64("num_requests", Some(requests.len() as i64));
    r.i64("completed", Some(n_ok));
    r.f64(
        "mean_e2e_ms",
        (n_ok > 0).then(|| e2e_total / n_ok as f64 * 1000.0),
    );
    runs.push(1, r.into_cells(true));
    let mut p = parsed(Format::Vidur, vec![requests, runs], count);
    p.rejects = rejects;
    Ok(p)
}

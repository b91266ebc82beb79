//! Real tool outputs from other people's runs (tests/cli/fixtures/real, provenance in its
//! SOURCES.md): each lands with the numbers its tool wrote, or is refused naming file,
//! line and column. The expected numbers come from the raw files, computed by
//! fixtures/real_reference.py (its output: fixtures/real_reference.json).

use std::path::Path;

use serde_json::Value;

use super::{ok, runlake, stderr};

fn fixtures() -> std::path::PathBuf {
    crate::repo().join("tests/cli/fixtures")
}

/// The rows of `sql` as JSON objects.
fn rows(dir: &Path, sql: &str) -> Vec<Value> {
    let out = ok(dir, &["sql", "--format", "json", sql]);
    match serde_json::from_str(&out).unwrap_or_else(|e| panic!("{sql}: {e}: {out}")) {
        Value::Array(rows) => rows,
        other => panic!("{sql}: not an array: {other}"),
    }
}

#[test]
fn every_reader_parses_a_decimal_to_the_correctly_rounded_double() {
    // 4,501 decimal strings (Python reprs of latencies, 15-25 digit fractions, exponents
    // from e-320 to e290, exact halfway cases) with the double Python's float() gives.
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("decimals.json")).unwrap())
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mut csv, mut jsonl) = (String::from("i,v\n"), String::new());
    for (i, case) in cases.iter().enumerate() {
        let text = case["text"].as_str().unwrap();
        csv.push_str(&format!("{i},{text}\n"));
        jsonl.push_str(&format!("{{\"i\": {i}, \"v\": {text}}}\n"));
    }
    std::fs::write(dir.path().join("decimals.csv"), csv).unwrap();
    std::fs::write(dir.path().join("decimals.jsonl"), jsonl).unwrap();
    ok(
        dir.path(),
        &["ingest", "decimals.csv", "--table", "from_csv"],
    );
    ok(
        dir.path(),
        &["ingest", "decimals.jsonl", "--table", "from_json"],
    );
    for table in ["from_csv", "from_json"] {
        let got = rows(dir.path(), &format!("SELECT i, v FROM {table} ORDER BY i"));
        assert_eq!(got.len(), cases.len(), "{table}");
        let wrong: Vec<String> = got
            .iter()
            .zip(&cases)
            .filter_map(|(row, case)| {
                let bits = format!("{:016x}", row["v"].as_f64().unwrap().to_bits());
                (bits != case["bits"].as_str().unwrap())
                    .then(|| format!("{} -> {bits}, not {}", case["text"], case["bits"]))
            })
            .collect();
        assert!(
            wrong.is_empty(),
            "{table}: {} wrong: {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(5)]
        );
    }
}

#[test]
fn an_overflowing_number_is_refused_the_same_way_by_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.csv"), "a,b\n1,2.5\n2,1e400\n").unwrap();
    std::fs::write(
        dir.path().join("big.jsonl"),
        "{\"a\": 1, \"b\": 2.5}\n{\"a\": 2, \"b\": 1e400}\n",
    )
    .unwrap();
    // The CSV's header is line 1; serde_json places the error at the number's last digit.
    for (file, place) in [
        ("big.csv", "line 3, column 'b'"),
        ("big.jsonl", "line 2: invalid JSON at column 19"),
    ] {
        let o = runlake(dir.path(), &["ingest", file]);
        assert!(!o.status.success(), "{file}");
        let message = stderr(&o);
        assert!(
            message.contains(file)
                && message.contains(place)
                && message.contains("out of range")
                && message.contains("nothing was committed"),
            "{file}: {message}"
        );
    }
    // Infinity written as such is a value, not an overflow.
    std::fs::write(dir.path().join("inf.csv"), "a,b\n1,inf\n").unwrap();
    ok(dir.path(), &["ingest", "inf.csv"]);
    assert_eq!(
        rows(dir.path(), "SELECT CAST(b AS VARCHAR) AS b FROM inf")[0]["b"],
        "inf"
    );
}

/// Whether two JSON values are the same, numbers by value (`2500` and `2500.0` alike).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w))
        }
        _ => a == b,
    }
}

#[test]
fn every_real_file_lands_with_the_numbers_its_tool_wrote_once() {
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("real_reference.json")).unwrap(),
    )
    .unwrap();
    let checks = reference["checks"].as_array().unwrap();
    let lake = tempfile::tempdir().unwrap();
    let lake_arg = lake.path().join("lake");
    let lake_arg = lake_arg.to_str().unwrap();
    let ingest = |dir: &Path| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_runlake"))
            .args(["--lake", lake_arg, "ingest", "real"])
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    let first = ingest(&fixtures());
    // Every file of the folder is a run log runlake knows (none lands as a generic table).
    let files: Vec<&str> = first.lines().filter(|l| l.starts_with("real/")).collect();
    assert_eq!(files.len(), 19, "{first}");
    for line in &files {
        assert!(
            !line.contains(": csv,") && !line.contains(": json,") && !line.contains(": jsonl,"),
            "{line}"
        );
    }
    let query = |sql: &str| {
        let out = ok(
            lake.path(),
            &["--lake", lake_arg, "sql", "--format", "json", sql],
        );
        serde_json::from_str::<Value>(&out).unwrap_or_else(|e| panic!("{sql}: {e}: {out}"))
    };
    let mut failures = Vec::new();
    let mut covered = std::collections::BTreeSet::new();
    for check in checks {
        let sql = check["sql"].as_str().unwrap();
        covered.insert(check["file"].as_str().unwrap().to_string());
        let got = query(sql);
        if !same(&got, &check["rows"]) {
            failures.push(format!(
                "{}\n  {sql}\n  got      {got}\n  expected {}",
                check["file"], check["rows"]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(covered.len(), 19, "{covered:?}");
    // The second time, nothing lands again.
    let counts = "SELECT (SELECT count(*) FROM runs) AS runs, (SELECT count(*) FROM requests) AS requests, (SELECT count(*) FROM spans) AS spans";
    let before = query(counts);
    let second = ingest(&fixtures());
    assert!(
        second.contains("19 file(s) ingested") || second.contains("already"),
        "{second}"
    );
    assert_eq!(query(counts), before, "{second}");
}

/// Ingests `text` as `name` (with `args`) into a fresh lake and returns the error, after
/// checking that nothing was committed.
fn refused(name: &str, text: &str, args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), text).unwrap();
    let mut all = vec!["ingest", name];
    all.extend_from_slice(args);
    let o = runlake(dir.path(), &all);
    let message = stderr(&o);
    assert!(
        !o.status.success(),
        "{name} was accepted: {}",
        super::stdout(&o)
    );
    assert!(message.contains(name), "{message}");
    let tables = ok(dir.path(), &["tables"]);
    assert!(
        !tables.contains("runs") && !tables.contains("requests") && !tables.contains("spans"),
        "{tables}"
    );
    message
}

fn real(name: &str) -> String {
    std::fs::read_to_string(fixtures().join("real").join(name)).unwrap()
}

#[test]
fn broken_variants_of_real_files_are_refused_naming_line_and_column() {
    // A flipped byte in a pretty-printed document: one error, where it is.
    let pretty: Value = serde_json::from_str(&real("vllm/vllm0.25.1_sweep_run0.json")).unwrap();
    let mut lines: Vec<String> = serde_json::to_string_pretty(&pretty)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let target = lines
        .iter()
        .position(|l| l.contains("\"model_id\""))
        .unwrap();
    lines[target] = lines[target].replacen("facebook", "face\u{1}book", 1);
    let column = lines[target].find('\u{1}').unwrap() + 1;
    let message = refused("flipped.json", &lines.join("\n"), &[]);
    assert!(
        message.contains(&format!("line {}, column {column}", target + 1))
            && !message.contains("bad row"),
        "{message}"
    );

    // The same key twice in an object.
    let text = real("sglang/sglang_agg_n100_in512_out128_c32.jsonl").replacen(
        "\"completed\": ",
        "\"completed\": 1, \"completed\": ",
        1,
    );
    // The column is the file's (its bare `Infinity` before the key counted as written),
    // at the end of the second key.
    let column = text.find("\"completed\": 1, ").unwrap() + "\"completed\": 1, \"completed\"".len();
    let message = refused("twice.jsonl", &text, &[]);
    assert!(
        message.contains(&format!("line 1, column {column}"))
            && message.contains("the key 'completed' appears twice"),
        "{message}"
    );

    // MLPerf: a corrupted number is a bad row at its line, naming the key.
    let text = real("mlperf/v4.1_NVIDIA_H200x8_llama2-70b-99_Offline_mlperf_log_summary.txt")
        .replace("1391864085542", "13918x4085542");
    let message = refused("mlperf_log_summary.txt", &text, &[]);
    assert!(
        message.contains("line 19, column 'Mean latency (ns)': not a number: '13918x4085542'"),
        "{message}"
    );

    // OTLP: a duration that does not fit is refused, never wrapped.
    let text = real("otlp/vllm_collector_spans.jsonl")
        .replacen(
            "\"startTimeUnixNano\":\"1782160417254223360\"",
            "\"startTimeUnixNano\":\"0\"",
            1,
        )
        .replacen("\"endTimeUnixNano\":\"", "\"endTimeUnixNano\":\"-", 1);
    let message = refused("spans.jsonl", &text, &[]);
    assert!(
        message.contains("line 1") && message.contains("negative"),
        "{message}"
    );
    let text = real("otlp/vllm_collector_spans.jsonl").replacen(
        "\"startTimeUnixNano\":\"1782160417254223360\"",
        "\"startTimeUnixNano\":\"18446744073709551615\"",
        1,
    );
    let message = refused("spans.jsonl", &text, &[]);
    assert!(
        message.contains("line 1") && message.contains("fits 64 bits"),
        "{message}"
    );

    // vLLM: per-request lists that do not line up, both ways.
    let record: Value = serde_json::from_str(
        real("vllm/muma378_ds-0912-gds-800g_append_detailed.json")
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    for (change, expected) in [
        (-2i64, "ttfts 3, input_lens 5"),
        (3, "ttfts 8, input_lens 5"),
    ] {
        let mut r = record.clone();
        let ttfts = r["ttfts"].as_array_mut().unwrap();
        if change < 0 {
            ttfts.truncate(ttfts.len() - 2);
        } else {
            let last = ttfts.last().unwrap().clone();
            ttfts.extend(std::iter::repeat_n(last, 3));
        }
        let message = refused("lists.json", &r.to_string(), &[]);
        assert!(
            message.contains("line 1") && message.contains(expected),
            "{message}"
        );
    }

    // A forced format on content that is not that format, and free text.
    let log = real("llama-bench/rx7900xtx_vulkan_log_with_md_tables.txt");
    let free: String = log
        .lines()
        .filter(|l| !l.starts_with('|'))
        .collect::<Vec<_>>()
        .join("\n");
    let message = refused("log.txt", &free, &["--format", "llama-bench"]);
    assert!(message.contains("not a llama-bench file"), "{message}");
    let message = refused("log.txt", &free, &[]);
    assert!(message.contains("no comma or tab"), "{message}");
    let message = refused(
        "vidur.csv",
        &real("vidur/vidur_or_request_metrics_booking_limit.csv"),
        &["--format", "aiperf"],
    );
    assert!(message.contains("not an aiperf file"), "{message}");
}

#[test]
fn explain_shows_each_columns_source_field_and_conversion_and_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = fixtures().join("real/vllm/vllm0.25.1_sweep_run0.json");
    let out = ok(dir.path(), &["ingest", "--explain", file.to_str().unwrap()]);
    let line = |column: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(&format!("{column} ")))
            .unwrap_or_else(|| panic!("no {column} line: {out}"))
            .to_string()
    };
    let record: Value = serde_json::from_str(&real("vllm/vllm0.25.1_sweep_run0.json")).unwrap();
    let duration_ms = record["duration"].as_f64().unwrap() * 1000.0;
    assert!(
        line("duration_ms").contains(&format!("<- duration (seconds x 1000)  e.g. {duration_ms}")),
        "{out}"
    );
    assert!(line("model").contains("<- model_id"), "{out}");
    assert!(line("hardware").ends_with("(not in this file)"), "{out}");
    assert!(
        out.contains("(explain: nothing committed; format vllm-bench)"),
        "{out}"
    );
    let tables = ok(dir.path(), &["tables"]);
    assert!(!tables.contains("runs"), "{tables}");
}

#[test]
fn guidellm_requests_before_the_measured_window_are_kept_and_flagged() {
    // The real 0.5 file with its first request moved to before the scheduler's measure
    // window: it stays, as warm-up, and the run's counts stay the tool's own.
    let mut doc: Value = serde_json::from_str(&real(
        "guidellm/Qwen3-4B-Thinking_tp4_sanity_v0.5.0.dev0.json",
    ))
    .unwrap();
    let bench = &mut doc["benchmarks"][0];
    let from = bench["scheduler_metrics"]["measure_start_time"]
        .as_f64()
        .unwrap();
    let totals = bench["metrics"]["request_totals"].clone();
    let requests = bench["requests"]["successful"].as_array_mut().unwrap();
    let n = requests.len() as u64;
    requests[0]["request_start_time"] = Value::from(from - 1.0);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("benchmarks.json"), doc.to_string()).unwrap();
    ok(dir.path(), &["ingest", "benchmarks.json"]);
    let phases = rows(
        dir.path(),
        "SELECT phase, count(*) AS n FROM requests GROUP BY phase ORDER BY phase",
    );
    assert_eq!(
        phases,
        vec![
            serde_json::json!({"phase": "measure", "n": n - 1}),
            serde_json::json!({"phase": "warmup", "n": 1}),
        ]
    );
    let run = rows(dir.path(), "SELECT completed, failed FROM runs");
    assert_eq!(run[0]["completed"], totals["successful"]);
    assert_eq!(run[0]["failed"], totals["errored"]);
}

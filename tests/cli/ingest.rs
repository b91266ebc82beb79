//! `runlake ingest` and the lake commands, as a user runs them, on real sample files
//! (examples/data/samples, provenance in SOURCES.md there) and on files shaped like each
//! tool's output.

use std::path::Path;

use super::{ok, repo, runlake, stderr, stdout};

fn csv(dir: &Path, sql: &str) -> String {
    ok(dir, &["sql", "--format", "csv", sql])
}

/// A `vllm bench serve --save-result --save-detailed` object (the shape of
/// vllm/benchmarks/serve.py's result dict): per-request `ttfts` and `itls` in seconds.
fn vllm_result(label: &str, ttfts: &[f64]) -> String {
    let n = ttfts.len();
    let itls: Vec<String> = (0..n).map(|i| format!("[0.01{i}, 0.02, 0.03]")).collect();
    let outputs: Vec<String> = (0..n).map(|_| "4".to_string()).collect();
    let inputs: Vec<String> = (0..n).map(|i| format!("{}", 100 + i)).collect();
    let errors: Vec<String> = (0..n).map(|_| "\"\"".to_string()).collect();
    let ttfts: Vec<String> = ttfts.iter().map(|t| t.to_string()).collect();
    format!(
        r#"{{"date": "20250929-090107", "backend": "vllm", "label": "{label}", "model_id": "meta-llama/Llama-3.1-8B-Instruct", "tokenizer_id": "meta-llama/Llama-3.1-8B-Instruct", "num_prompts": {n}, "framework": "vLLM", "hardware": "H100", "request_rate": "inf", "burstiness": 1.0, "max_concurrency": 8, "duration": 2.5, "completed": {n}, "failed": 0, "total_input_tokens": 300, "total_output_tokens": 12, "request_throughput": 1.2, "request_goodput:": null, "output_throughput": 4.8, "total_token_throughput": 124.8, "mean_ttft_ms": 150.0, "median_ttft_ms": 150.0, "std_ttft_ms": 10.0, "p99_ttft_ms": 170.0, "p99.9_ttft_ms": 171.0, "mean_tpot_ms": 20.0, "median_tpot_ms": 20.0, "std_tpot_ms": 1.0, "p99_tpot_ms": 22.0, "mean_itl_ms": 20.0, "median_itl_ms": 20.0, "std_itl_ms": 1.0, "p99_itl_ms": 30.0, "input_lens": [{}], "output_lens": [{}], "ttfts": [{}], "itls": [{}], "generated_texts": [{}], "errors": [{}]}}"#,
        inputs.join(", "),
        outputs.join(", "),
        ttfts.join(", "),
        itls.join(", "),
        errors.join(", "),
        errors.join(", "),
    )
}

#[test]
fn vllm_detailed_result_gives_one_run_and_its_requests_in_milliseconds() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("run.json"),
        vllm_result("baseline", &[0.1, 0.25, 0.125]),
    )
    .unwrap();
    let out = ok(dir.path(), &["ingest", "run.json"]);
    assert!(
        out.contains("vllm-bench") && out.contains("requests +3") && out.contains("runs +1"),
        "{out}"
    );
    assert_eq!(
        csv(
            dir.path(),
            "SELECT tool, framework, backend, label, model, hardware, started_at, duration_ms, num_requests, request_rate, max_concurrency, mean_ttft_ms, p99_ttft_ms FROM runs"
        ),
        "tool,framework,backend,label,model,hardware,started_at,duration_ms,num_requests,request_rate,max_concurrency,mean_ttft_ms,p99_ttft_ms\n\
         vllm-bench,vLLM,vllm,baseline,meta-llama/Llama-3.1-8B-Instruct,H100,2025-09-29T09:01:07Z,2500.0,3,Infinity,8,150.0,170.0\n"
    );
    // Per request: seconds in the file, milliseconds in the lake; TPOT derived.
    assert_eq!(
        csv(
            dir.path(),
            "SELECT r.request_index, r.input_tokens, r.output_tokens, r.ttft_ms, r.itl_ms, r.e2e_ms, round(r.tpot_ms, 9) AS tpot_ms, r.success FROM requests r JOIN runs USING (run_id) ORDER BY request_index"
        ),
        "request_index,input_tokens,output_tokens,ttft_ms,itl_ms,e2e_ms,tpot_ms,success\n\
         0,100,4,100.0,\"[10.0, 20.0, 30.0]\",160.0,20.0,true\n\
         1,101,4,250.0,\"[11.0, 20.0, 30.0]\",311.0,20.333333333,true\n\
         2,102,4,125.0,\"[12.0, 20.0, 30.0]\",187.0,20.666666667,true\n"
    );
    // Unknown keys are kept, the historical "request_goodput:" under its intended name.
    let extra = csv(dir.path(), "SELECT extra FROM runs");
    assert!(
        extra.contains("request_goodput") && extra.contains("p99.9_ttft_ms"),
        "{extra}"
    );
    assert_eq!(
        csv(dir.path(), "SELECT total_token_throughput FROM runs"),
        "total_token_throughput\n124.8\n"
    );
    // Provenance.
    assert_eq!(
        csv(dir.path(), "SELECT DISTINCT _source, _line FROM requests"),
        "_source,_line\nrun.json,1\n"
    );
}

#[test]
fn an_appended_result_file_adds_only_its_new_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.json");
    let first = format!(
        "{}\n{}\n",
        vllm_result("a", &[0.1]),
        vllm_result("b", &[0.2, 0.3])
    );
    std::fs::write(&path, &first).unwrap();
    ok(dir.path(), &["ingest", "results.json"]);
    // --append-result adds one more object to the same file.
    std::fs::write(&path, format!("{first}{}\n", vllm_result("c", &[0.4]))).unwrap();
    let out = ok(dir.path(), &["ingest", "results.json"]);
    assert!(out.contains("runs +1 (2 already present)"), "{out}");
    assert_eq!(
        csv(
            dir.path(),
            "SELECT label, count(*) AS requests FROM runs JOIN requests USING (run_id) GROUP BY label ORDER BY label"
        ),
        "label,requests\na,1\nb,2\nc,1\n"
    );
    assert_eq!(csv(dir.path(), "SELECT count(*) AS n FROM runs"), "n\n3\n");
}

#[test]
fn the_same_content_lands_once_and_force_appends_it_again() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.csv"),
        "framework,predicted_ms,actual_ms\nvLLM,1.5,2\nSGLang,3,4\n",
    )
    .unwrap();
    ok(dir.path(), &["ingest", "--table", "predictions", "p.csv"]);
    let again = ok(dir.path(), &["ingest", "--table", "predictions", "p.csv"]);
    assert!(again.contains("already ingested"), "{again}");
    // Compressed, the same content is still the same content.
    let gz = std::process::Command::new("gzip")
        .arg("-kf")
        .arg(dir.path().join("p.csv"))
        .status();
    if gz.is_ok_and(|s| s.success()) {
        let out = ok(
            dir.path(),
            &["ingest", "--table", "predictions", "p.csv.gz"],
        );
        assert!(out.contains("already ingested"), "{out}");
    }
    assert_eq!(
        csv(dir.path(), "SELECT count(*) AS n FROM predictions"),
        "n\n2\n"
    );
    ok(
        dir.path(),
        &["ingest", "--force", "--table", "predictions", "p.csv"],
    );
    assert_eq!(
        csv(dir.path(), "SELECT count(*) AS n FROM predictions"),
        "n\n4\n"
    );
    // forget removes every row of that source; then it can be ingested again.
    let out = ok(dir.path(), &["forget", "p.csv"]);
    assert!(out.contains("predictions: deleted 4 rows"), "{out}");
    assert_eq!(
        csv(dir.path(), "SELECT count(*) AS n FROM predictions"),
        "n\n0\n"
    );
    let out = ok(dir.path(), &["ingest", "--table", "predictions", "p.csv"]);
    assert!(out.contains("predictions +2"), "{out}");
}

#[test]
fn a_malformed_line_fails_the_file_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.csv"),
        "Predicted Latency (ms),actual_ms\n1.0,2.0\n3.0,4.0,5.0\n5.0,6.0\n",
    )
    .unwrap();
    let o = runlake(dir.path(), &["ingest", "bad.csv"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("bad.csv") && err.contains("line 3") && err.contains("nothing was committed"),
        "{err}"
    );
    assert!(
        !ok(dir.path(), &["tables"]).contains("bad"),
        "nothing committed"
    );

    let out = ok(dir.path(), &["ingest", "--max-bad-rows", "1", "bad.csv"]);
    assert!(
        out.contains("column 'Predicted Latency (ms)' -> predicted_latency_ms"),
        "{out}"
    );
    assert_eq!(
        csv(
            dir.path(),
            "SELECT predicted_latency_ms, actual_ms, _line FROM bad ORDER BY _line"
        ),
        "predicted_latency_ms,actual_ms,_line\n1.0,2.0,2\n5.0,6.0,4\n"
    );
    assert_eq!(
        csv(
            dir.path(),
            "SELECT target_table, source, line, reason, raw FROM _rejects"
        ),
        "target_table,source,line,reason,raw\nbad,bad.csv,3,\"expected 2 fields as in the header, found 3\",\"3.0,4.0,5.0\"\n"
    );
    // A value that is not a number in a numeric column is a bad row, named with its column.
    let mut rows = String::from("x,y\n");
    for i in 0..30 {
        rows.push_str(&format!("{i},{}\n", i * 2));
    }
    rows.push_str("31,fast\n");
    std::fs::write(dir.path().join("typed.csv"), rows).unwrap();
    let o = runlake(dir.path(), &["ingest", "typed.csv"]);
    assert!(
        stderr(&o).contains("line 32, column 'y': not a number: 'fast'"),
        "{}",
        stderr(&o)
    );
    // Allowed, it is kept in _rejects with its line as it is in the file.
    ok(dir.path(), &["ingest", "--max-bad-rows", "1", "typed.csv"]);
    assert_eq!(
        csv(
            dir.path(),
            "SELECT line, column_name, reason, raw FROM _rejects WHERE target_table = 'typed'"
        ),
        "line,column_name,reason,raw\n32,y,not a number: 'fast',\"31,fast\"\n"
    );
    let mut lines: String = (0..30)
        .map(|i| format!("{{\"x\": {i}, \"y\": {}}}\n", i * 2))
        .collect();
    lines.push_str("{\"x\": 30, \"y\": \"fast\"}\n");
    std::fs::write(dir.path().join("typed.jsonl"), lines).unwrap();
    ok(
        dir.path(),
        &[
            "ingest",
            "--max-bad-rows",
            "1",
            "typed.jsonl",
            "--table",
            "tj",
        ],
    );
    assert_eq!(
        csv(
            dir.path(),
            "SELECT line, column_name, raw FROM _rejects WHERE target_table = 'tj'"
        ),
        "line,column_name,raw\n31,y,\"{\"\"x\"\": 30, \"\"y\"\": \"\"fast\"\"}\"\n"
    );
}

#[test]
fn new_columns_evolve_the_schema_and_type_conflicts_commit_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.csv"), "model,latency_ms\nllama,1.5\n").unwrap();
    std::fs::write(
        dir.path().join("b.csv"),
        "model,latency_ms,gpu\nqwen,2.5,H100\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("c.csv"), "model,latency_ms\nmistral,slow\n").unwrap();
    ok(dir.path(), &["ingest", "--table", "lat", "a.csv", "b.csv"]);
    assert_eq!(
        csv(
            dir.path(),
            "SELECT model, latency_ms, gpu FROM lat ORDER BY model"
        ),
        "model,latency_ms,gpu\nllama,1.5,\nqwen,2.5,H100\n"
    );
    let o = runlake(dir.path(), &["ingest", "--table", "lat", "c.csv"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("c.csv") && err.contains("line 2") && err.contains("latency_ms"),
        "{err}"
    );
    assert_eq!(csv(dir.path(), "SELECT count(*) AS n FROM lat"), "n\n2\n");
}

#[test]
fn scheduler_step_logs_of_both_generations() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("scheduler_profiling_chunk_2048.jsonl"),
        "{\"batch_id\": 1, \"timestamp\": 1750000000.5, \"schedule_duration_ms\": 0.4, \"model_run_duration_ms\": 12.5, \"total_step_duration_ms\": 13.0, \"num_prefill_reqs\": 1, \"num_decode_reqs\": 2, \"total_scheduled_tokens\": 514, \"chunk_sizes\": [512, 1, 1], \"all_computed_tokens\": [0, 700, 900], \"all_cached_tokens\": [256, 0, 0], \"num_waiting_reqs\": 3, \"num_running_reqs\": 3, \"kv_cache_usage\": 0.25, \"avg_prefill_chunk_size\": 512.0}\n\
         {\"batch_id\": 2, \"timestamp\": 1750000000.52, \"model_run_duration_ms\": 9.0, \"total_scheduled_tokens\": 3, \"chunk_sizes\": [1, 1, 1], \"num_running_reqs\": 3}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("gen2.jsonl"),
        "{\"batch_id\": 7, \"time\": \"1750000001.250\", \"token_budget\": 2048, \"sched_tokens\": 40, \"slo_sched\": true, \"schedule_ms\": \"0.125\", \"num_waiting\": 0, \"num_running\": 4, \"num_scheduled\": 4, \"chunk_sizes\": [37, 1, 1, 1], \"computed_tokens\": [0, 10, 20, 30], \"cached_tokens\": [0, 0, 0, 0], \"model_run_ms\": \"8.250\"}\n",
    )
    .unwrap();
    let out = ok(
        dir.path(),
        &[
            "ingest",
            "scheduler_profiling_chunk_2048.jsonl",
            "gen2.jsonl",
        ],
    );
    assert!(
        out.contains("sched-steps") && out.contains("steps +2") && out.contains("steps +1"),
        "{out}"
    );
    assert_eq!(
        csv(
            dir.path(),
            "SELECT step, ts, model_run_duration_ms, schedule_duration_ms, total_scheduled_tokens, num_running_reqs, chunk_sizes, computed_tokens, cached_tokens, kv_cache_usage FROM steps ORDER BY step"
        ),
        "step,ts,model_run_duration_ms,schedule_duration_ms,total_scheduled_tokens,num_running_reqs,chunk_sizes,computed_tokens,cached_tokens,kv_cache_usage\n\
         1,2025-06-15T15:06:40.500Z,12.5,0.4,514,3,\"[512, 1, 1]\",\"[0, 700, 900]\",\"[256, 0, 0]\",0.25\n\
         2,2025-06-15T15:06:40.520Z,9.0,,3,3,\"[1, 1, 1]\",,,\n\
         7,2025-06-15T15:06:41.250Z,8.25,0.125,40,4,\"[37, 1, 1, 1]\",\"[0, 10, 20, 30]\",\"[0, 0, 0, 0]\",\n"
    );
    // Lists are real lists: SQL unnests them.
    assert_eq!(
        csv(
            dir.path(),
            "SELECT sum(c) AS s FROM (SELECT unnest(chunk_sizes) AS c FROM steps WHERE step = 1)"
        ),
        "s\n514\n"
    );
    // A log that grew adds only its new steps.
    let mut grown = std::fs::read_to_string(dir.path().join("gen2.jsonl")).unwrap();
    grown.push_str("{\"batch_id\": 8, \"time\": \"1750000001.300\", \"sched_tokens\": 4, \"num_running\": 4, \"model_run_ms\": \"7.000\"}\n");
    std::fs::write(dir.path().join("gen2.jsonl"), grown).unwrap();
    let out = ok(dir.path(), &["ingest", "gen2.jsonl"]);
    assert!(out.contains("steps +1 (1 already present)"), "{out}");
    assert_eq!(csv(dir.path(), "SELECT count(*) AS n FROM steps"), "n\n4\n");
}

#[test]
fn real_tool_outputs_land_in_runs_and_requests_in_milliseconds() {
    let dir = tempfile::tempdir().unwrap();
    let samples = repo().join("examples/data/samples");
    let out = ok(dir.path(), &["ingest", samples.to_str().unwrap()]);
    for (format, tables) in [
        ("guidellm", "requests +1, runs +1"),
        ("llama-bench", "runs +2"),
        ("mlperf", "runs +1"),
        ("llmperf", "requests +150"),
        ("llmperf", "runs +1"),
    ] {
        assert!(
            out.contains(&format!("{format}, ")) && out.contains(tables),
            "{format}: {out}"
        );
    }
    // llmperf: seconds in the files; the summary and the responses join on run_id.
    assert_eq!(
        csv(
            dir.path(),
            "SELECT r.model, q.ttft_ms, q.e2e_ms, q.input_tokens, q.output_tokens FROM requests q JOIN runs r USING (run_id) WHERE r.tool = 'llmperf' AND q.request_index = 0"
        ),
        "model,ttft_ms,e2e_ms,input_tokens,output_tokens\nllama2-70b-4096,297.977801412344,890.0090400129557,550,150\n"
    );
    // MLPerf: nanoseconds in the file.
    assert_eq!(
        csv(
            dir.path(),
            "SELECT mean_e2e_ms, p99_ttft_ms, p50_tpot_ms, request_throughput FROM runs WHERE tool = 'mlperf'"
        ),
        "mean_e2e_ms,p99_ttft_ms,p50_tpot_ms,request_throughput\n43579.602295,1914.647645,151.044504,81.68\n"
    );
    // llama-bench: nanoseconds per test.
    assert_eq!(
        csv(
            dir.path(),
            "SELECT framework, total_input_tokens, total_output_tokens, duration_ms, input_throughput, output_throughput, num_requests FROM runs WHERE tool = 'llama-bench' ORDER BY duration_ms"
        ),
        "framework,total_input_tokens,total_output_tokens,duration_ms,input_throughput,output_throughput,num_requests\n\
         llama.cpp,512,0,72.13564,7100.002165,,5\n\
         llama.cpp,0,128,1076.76788,,118.881588,5\n"
    );
    // GuideLLM: request_latency seconds, *_ms milliseconds.
    let g = csv(
        dir.path(),
        "SELECT round(mean_ttft_ms, 6) AS ttft, model FROM runs WHERE tool = 'guidellm'",
    );
    assert_eq!(g, "ttft,model\n16.792536,example_model\n");
}

#[test]
fn sglang_jsonl_with_bare_infinity() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sglang_1025_100_1024_128.jsonl"),
        "{\"backend\": \"sglang\", \"request_rate\": Infinity, \"total_input_tokens\": 41370, \"total_output_tokens\": 26009, \"total_output_tokens_retokenized\": 16265, \"mean_e2e_latency_ms\": 27600.5, \"median_e2e_latency_ms\": 31987.25, \"median_ttft_ms\": 31314.0, \"median_itl_ms\": 0.0, \"output_throughput\": 482.1, \"random_input_len\": 1024, \"random_output_len\": 128, \"random_range_ratio\": 0.0, \"duration\": 53.9, \"completed\": 99}\n",
    )
    .unwrap();
    let out = ok(
        dir.path(),
        &[
            "ingest",
            "--set",
            "label=current",
            "sglang_1025_100_1024_128.jsonl",
        ],
    );
    assert!(out.contains("sglang-bench"), "{out}");
    assert_eq!(
        csv(
            dir.path(),
            "SELECT framework, label, request_rate, mean_e2e_ms, median_ttft_ms, duration_ms, completed FROM runs"
        ),
        "framework,label,request_rate,mean_e2e_ms,median_ttft_ms,duration_ms,completed\nSGLang,current,Infinity,27600.5,31314.0,53900.0,99\n"
    );
}

#[test]
fn dry_run_commits_nothing_and_tables_lists_what_is_there() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.jsonl"),
        "{\"a\": 1.5, \"num_tokens\": 3}\n{\"a\": 2}\n",
    )
    .unwrap();
    let out = ok(dir.path(), &["ingest", "--dry-run", "p.jsonl"]);
    assert!(
        out.contains("dry run") && out.contains("num_tokens Int64") && out.contains("a Float64"),
        "{out}"
    );
    assert!(ok(dir.path(), &["tables"]).contains("no tables yet"));
    ok(dir.path(), &["ingest", "p.jsonl"]);
    let tables = ok(dir.path(), &["tables"]);
    assert!(tables.contains("p ") && tables.contains(" 2 "), "{tables}");
    let schema = ok(dir.path(), &["schema", "p"]);
    assert!(
        schema.contains("num_tokens")
            && schema.contains("BIGINT")
            && schema.contains("_ingested_at"),
        "{schema}"
    );
    let out = ok(dir.path(), &["compact", "--retain", "0s"]);
    assert!(out.contains("p: "), "{out}");
    assert_eq!(csv(dir.path(), "SELECT sum(a) AS s FROM p"), "s\n3.5\n");
}

#[test]
fn demo_ingests_the_bundled_data_and_prints_a_first_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(dir.path(), &["demo"]);
    assert!(
        out.contains(
            "| DeepSpeed    | 1200 | 0.9762  | 0.9845   | 0.9197  | 7.79    | 5.14   | 0.1314 |"
        ),
        "{out}"
    );
    assert!(out.contains("Try next"), "{out}");
    // Running it again changes nothing.
    let again = ok(dir.path(), &["demo"]);
    assert!(again.contains("already ingested"), "{again}");
    assert_eq!(
        csv(dir.path(), "SELECT count(*) AS n FROM predictions"),
        "n\n3600\n"
    );
    // Data for each report kind: prefill/decode pairs, scheduler steps with chunk-size
    // lists, pipeline spans per query, labelled benchmark runs with a regression.
    assert_eq!(
        csv(
            dir.path(),
            "SELECT phase, count(*) AS n FROM predictions GROUP BY phase ORDER BY phase"
        ),
        "phase,n\ndecode,1800\nprefill,1800\n"
    );
    assert_eq!(
        csv(
            dir.path(),
            "SELECT count(*) AS n, count(DISTINCT run_id) AS runs, min(array_length(chunk_sizes)) > 0 AS lists, \
             sum(CASE WHEN total_scheduled_tokens = 2048 THEN 1 ELSE 0 END) > 500 AS full_budget FROM steps"
        ),
        "n,runs,lists,full_budget\n1500,1,true,true\n"
    );
    assert_eq!(
        csv(
            dir.path(),
            "SELECT name, count(*) AS n FROM spans GROUP BY name ORDER BY name"
        ),
        "name,n\ndecode,240\ndetokenize,240\nllm_request,240\nprefill,240\nqueue,240\ntokenize,240\n"
    );
    assert_eq!(
        csv(
            dir.path(),
            "SELECT c.model, round(c.mean_ttft_ms / b.mean_ttft_ms, 2) AS ratio \
             FROM runs b JOIN runs c ON b.model = c.model AND b.request_rate = c.request_rate \
             WHERE b.label = 'baseline' AND c.label = 'current' AND b.request_rate = 'Infinity' ORDER BY 1"
        ),
        "model,ratio\nQwen/Qwen2.5-14B-Instruct,1.13\nmeta-llama/Llama-3.1-8B-Instruct,1.05\n"
    );
}

#[test]
fn column_names_become_snake_case() {
    use runlake_ingest::names::snake_case;
    for (from, to) in [
        ("Predicted Latency (ms)", "predicted_latency_ms"),
        ("iterLatencyMS", "iter_latency_ms"),
        ("Request Id", "request_id"),
        ("p99.9_ttft_ms", "p99_9_ttft_ms"),
        ("GPU KV cache usage %", "gpu_kv_cache_usage_pct"),
        ("2nd", "_2nd"),
        ("", "column"),
    ] {
        assert_eq!(snake_case(from), to, "{from}");
    }
}

/// GenAI-Perf's raw `profile_export.json` (Perf Analyzer): nanosecond timestamps per
/// request and per streamed chunk; usage in the last chunk.
#[test]
fn genai_perf_raw_export_gives_requests_from_nanosecond_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let chunk = |usage: &str| {
        format!(
            r#"{{"response": "data: {{\"id\":\"c1\",\"choices\":[{{\"delta\":{{\"content\":\"hi\"}}}}]{usage}}}\n\n"}}"#
        )
    };
    let request = |t0: i64, gaps_ms: &[i64], completion: usize| {
        let mut stamps = vec![];
        let mut t = t0;
        for g in gaps_ms {
            t += g * 1_000_000;
            stamps.push(t.to_string());
        }
        let mut outputs: Vec<String> = (1..gaps_ms.len()).map(|_| chunk("")).collect();
        outputs.push(chunk(&format!(
            r#",\"usage\":{{\"prompt_tokens\":550,\"completion_tokens\":{completion}}}"#
        )));
        format!(
            r#"{{"timestamp": {t0}, "request_inputs": {{"payload": "{{\"messages\":[{{\"role\":\"user\",\"content\":\"x\"}}],\"model\":\"gpt2\",\"stream\":true}}"}}, "response_timestamps": [{}], "response_outputs": [{}]}}"#,
            stamps.join(", "),
            outputs.join(", ")
        )
    };
    let t0 = 1_764_000_000_000_000_000i64;
    let doc = format!(
        r#"{{"experiments": [{{"experiment": {{"mode": "concurrency", "value": 4}}, "requests": [{}, {}], "window_boundaries": [{t0}, {}]}}], "version": "0.0.16", "service_kind": "openai", "endpoint": "v1/chat/completions"}}"#,
        request(t0, &[120, 10, 12, 14], 4),
        request(t0 + 5_000_000, &[200, 20], 2),
        t0 + 400_000_000
    );
    std::fs::write(dir.path().join("profile_export.json"), doc).unwrap();
    let out = ok(dir.path(), &["ingest", "profile_export.json"]);
    assert!(
        out.contains("genai-perf") && out.contains("requests +2") && out.contains("runs +1"),
        "{out}"
    );
    assert_eq!(
        csv(
            dir.path(),
            "SELECT request_index, model, input_tokens, output_tokens, ttft_ms, e2e_ms, tpot_ms, itl_ms, started_at, success FROM requests ORDER BY request_index"
        ),
        "request_index,model,input_tokens,output_tokens,ttft_ms,e2e_ms,tpot_ms,itl_ms,started_at,success\n\
         0,gpt2,550,4,120.0,156.0,12.0,\"[10.0, 12.0, 14.0]\",2025-11-24T16:00:00Z,true\n\
         1,gpt2,550,2,200.0,220.0,20.0,[20.0],2025-11-24T16:00:00.005Z,true\n"
    );
    assert_eq!(
        csv(
            dir.path(),
            "SELECT tool, tool_version, backend, model, max_concurrency, num_requests, failed, duration_ms, config FROM runs"
        ),
        "tool,tool_version,backend,model,max_concurrency,num_requests,failed,duration_ms,config\n\
         genai-perf,0.0.16,openai,gpt2,4,2,0,225.0,\"{\"\"endpoint\"\":\"\"v1/chat/completions\"\",\"\"experiment\"\":{\"\"mode\"\":\"\"concurrency\"\",\"\"value\"\":4},\"\"service_kind\"\":\"\"openai\"\"}\"\n"
    );
}

/// GenAI-Perf's and AIPerf's summary exports: metric objects that carry their unit.
#[test]
fn genai_perf_and_aiperf_summaries_convert_each_metric_from_its_unit() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("profile_export_genai_perf.json"),
        r#"{"request_throughput": {"unit": "requests/sec", "avg": 3.5}, "request_latency": {"unit": "ms", "avg": 900.5, "p50": 880.0, "p90": 990.0, "p95": 1000.0, "p99": 1100.0, "min": 700.0, "max": 1200.0, "std": 50.0}, "time_to_first_token": {"unit": "ms", "avg": 45.0, "p50": 44.0, "p99": 80.0, "std": 5.0}, "inter_token_latency": {"unit": "ms", "avg": 7.5, "p99": 9.0}, "output_token_throughput": {"unit": "tokens/sec", "avg": 410.0}, "request_count": {"unit": "count", "avg": 120}, "input_config": {"model": ["gpt2"], "concurrency": 4, "endpoint_type": "chat"}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("profile_export_aiperf.json"),
        r#"{"time_to_first_token": {"unit": "ns", "avg": 45000000.0, "p99": 81000000.0}, "request_latency": {"unit": "sec", "avg": 0.9, "p95": 1.25}, "inter_chunk_latency": {"unit": "ms", "avg": 7.25}, "benchmark_duration": {"unit": "sec", "avg": 60.0}, "request_count": {"unit": "requests", "avg": 200}, "input_config": {"endpoint": {"model_names": ["Qwen/Qwen3-0.6B"]}}, "was_cancelled": false}"#,
    )
    .unwrap();
    let out = ok(
        dir.path(),
        &[
            "ingest",
            "profile_export_genai_perf.json",
            "profile_export_aiperf.json",
        ],
    );
    assert!(
        out.contains("genai-perf") && out.contains("aiperf"),
        "{out}"
    );
    assert_eq!(
        csv(
            dir.path(),
            "SELECT tool, model, num_requests, request_throughput, output_throughput, duration_ms, mean_ttft_ms, p99_ttft_ms, mean_e2e_ms, median_e2e_ms, p95_e2e_ms, std_e2e_ms, mean_tpot_ms, mean_itl_ms FROM runs ORDER BY tool"
        ),
        "tool,model,num_requests,request_throughput,output_throughput,duration_ms,mean_ttft_ms,p99_ttft_ms,mean_e2e_ms,median_e2e_ms,p95_e2e_ms,std_e2e_ms,mean_tpot_ms,mean_itl_ms\n\
         aiperf,Qwen/Qwen3-0.6B,200,,,60000.0,45.0,81.0,900.0,,1250.0,,,7.25\n\
         genai-perf,gpt2,120,3.5,410.0,,45.0,80.0,900.5,880.0,1000.0,50.0,7.5,\n"
    );
}

/// AIPerf's per-request `profile_export.jsonl`: units travel with each value.
#[test]
fn aiperf_jsonl_gives_one_run_and_its_requests() {
    let dir = tempfile::tempdir().unwrap();
    let record = |i: i64, ttft_ns: i64, error: &str| {
        format!(
            r#"{{"metadata": {{"session_num": {i}, "x_request_id": "r{i}", "x_correlation_id": "c{i}", "conversation_id": "conv", "turn_index": 0, "request_start_ns": {}, "request_ack_ns": null, "request_end_ns": {}, "worker_id": "w1", "record_processor_id": "p1", "benchmark_phase": "profiling", "was_cancelled": false, "cancellation_time_ns": null}}, "metrics": {{"time_to_first_token": {{"value": {ttft_ns}, "unit": "ns"}}, "request_latency": {{"value": 0.5, "unit": "sec"}}, "inter_chunk_latency": {{"value": [10.0, 12.5], "unit": "ms"}}, "input_sequence_length": {{"value": 100, "unit": "tokens"}}, "output_sequence_length": {{"value": 3, "unit": "tokens"}}}}, "error": {error}}}"#,
            1_764_000_000_000_000_000i64 + i * 1_000_000_000,
            1_764_000_000_500_000_000i64 + i * 1_000_000_000
        )
    };
    let text = format!(
        "{}\n{}\n",
        record(0, 40_000_000, "null"),
        record(
            1,
            60_000_000,
            r#"{"code": 500, "type": "ServerError", "message": "overloaded"}"#
        )
    );
    std::fs::write(dir.path().join("profile_export.jsonl"), text).unwrap();
    let out = ok(dir.path(), &["ingest", "profile_export.jsonl"]);
    assert!(
        out.contains("aiperf") && out.contains("requests +2") && out.contains("runs +1"),
        "{out}"
    );
    assert_eq!(
        csv(
            dir.path(),
            "SELECT request_index, input_tokens, output_tokens, ttft_ms, e2e_ms, tpot_ms, itl_ms, success, error FROM requests ORDER BY request_index"
        ),
        "request_index,input_tokens,output_tokens,ttft_ms,e2e_ms,tpot_ms,itl_ms,success,error\n\
         0,100,3,40.0,500.0,230.0,\"[10.0, 12.5]\",true,\n\
         1,100,3,60.0,500.0,220.0,\"[10.0, 12.5]\",false,overloaded\n"
    );
    assert_eq!(
        csv(
            dir.path(),
            "SELECT tool, num_requests, completed, failed, duration_ms FROM runs"
        ),
        "tool,num_requests,completed,failed,duration_ms\naiperf,2,1,1,1500.0\n"
    );
}

/// OTLP/JSON traces (one document, and the Collector's JSON lines): a `spans` row per
/// span, nanosecond times, attributes unwrapped; the demo's pipeline file is gzipped.
#[test]
fn otlp_traces_land_in_spans() {
    let dir = tempfile::tempdir().unwrap();
    let doc = |trace: &str| {
        format!(
            r#"{{"resourceSpans": [{{"resource": {{"attributes": [{{"key": "service.name", "value": {{"stringValue": "vllm"}}}}]}}, "scopeSpans": [{{"scope": {{"name": "vllm.tracing"}}, "spans": [{{"traceId": "{trace}", "spanId": "00f067aa0ba902b7", "name": "llm_request", "kind": 2, "startTimeUnixNano": "1764000000000000000", "endTimeUnixNano": "1764000001250000000", "attributes": [{{"key": "gen_ai.usage.prompt_tokens", "value": {{"intValue": "812"}}}}, {{"key": "gen_ai.latency.time_to_first_token", "value": {{"doubleValue": 0.125}}}}, {{"key": "gen_ai.response.finish_reasons", "value": {{"arrayValue": {{"values": [{{"stringValue": "stop"}}]}}}}}}], "status": {{"code": 1}}}}, {{"traceId": "{trace}", "spanId": "11f067aa0ba902b7", "parentSpanId": "00f067aa0ba902b7", "name": "prefill", "startTimeUnixNano": "1764000000000000000", "endTimeUnixNano": "1764000000125500000", "status": {{"code": 2, "message": "oom"}}}}]}}]}}]}}"#
        )
    };
    std::fs::write(
        dir.path().join("trace.json"),
        doc("4bf92f3577b34da6a3ce929d0e0e4736"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("collector.jsonl"),
        format!(
            "{}\n{}\n",
            doc("aaaa0000000000000000000000000001"),
            doc("aaaa0000000000000000000000000002")
        ),
    )
    .unwrap();
    let out = ok(dir.path(), &["ingest", "trace.json", "collector.jsonl"]);
    assert!(out.contains("otlp, 2 records -> spans +2"), "{out}");
    assert!(out.contains("otlp, 4 records -> spans +4"), "{out}");
    assert_eq!(
        csv(
            dir.path(),
            "SELECT name, service, parent_span_id, start_time, duration_ms, status, kind, scope, attributes, _line FROM spans WHERE trace_id = '4bf92f3577b34da6a3ce929d0e0e4736' ORDER BY name"
        ),
        "name,service,parent_span_id,start_time,duration_ms,status,kind,scope,attributes,_line\n\
         llm_request,vllm,,2025-11-24T16:00:00Z,1250.0,ok,server,vllm.tracing,\"{\"\"gen_ai.latency.time_to_first_token\"\":0.125,\"\"gen_ai.response.finish_reasons\"\":[\"\"stop\"\"],\"\"gen_ai.usage.prompt_tokens\"\":812}\",1\n\
         prefill,vllm,00f067aa0ba902b7,2025-11-24T16:00:00Z,125.5,error,,vllm.tracing,,2\n"
    );
    assert_eq!(
        csv(
            dir.path(),
            "SELECT _line, count(*) AS n FROM spans WHERE _source = 'collector.jsonl' GROUP BY _line ORDER BY _line"
        ),
        "_line,n\n1,2\n2,2\n"
    );
    // Spans are keyed by (trace_id, span_id): the same file again adds nothing.
    let again = ok(dir.path(), &["ingest", "--force", "trace.json"]);
    assert!(again.contains("spans +0 (2 already present)"), "{again}");
}

/// GuideLLM v0.4+ (`metadata`, `scheduler_metrics`, per-request `info.timings` and
/// `input_metrics` / `output_metrics`, no `duration`): the shape of guidellm's
/// schemas/generative at v0.5.
#[test]
fn guidellm_v04_reports_map_to_runs_and_requests() {
    let dir = tempfile::tempdir().unwrap();
    let dist = |mean: f64, median: f64, p99: f64| {
        format!(
            r#"{{"successful": {{"mean": {mean}, "median": {median}, "mode": {median}, "variance": 1.0, "std_dev": 1.0, "min": 0.0, "max": 9.0, "count": 2, "total_sum": 2.0, "percentiles": {{"p001": 0.0, "p01": 0.0, "p05": 0.0, "p10": 0.0, "p25": 0.0, "p50": {median}, "p75": 0.0, "p90": {p99}, "p95": {p99}, "p99": {p99}, "p999": {p99}}}, "pdf": null}}, "errored": null, "incomplete": null, "total": null}}"#
        )
    };
    let request = |id: &str, start: f64, latency: f64, ttft: f64| {
        format!(
            r#"{{"request_id": "{id}", "request_type": "text_completions", "response_id": "x", "request_args": null, "output": "hello", "info": {{"request_id": "{id}", "status": "completed", "timings": {{"request_start": {start}, "request_end": {}}}}}, "input_metrics": {{"text_tokens": 128, "text_words": 90}}, "output_metrics": {{"text_tokens": 16}}, "request_latency": {latency}, "time_to_first_token_ms": {ttft}, "time_per_output_token_ms": 20.0, "inter_token_latency_ms": 21.0}}"#,
            start + latency
        )
    };
    let doc = format!(
        r#"{{"metadata": {{"version": 2, "guidellm_version": "0.5.4", "python_version": "3.12", "platform": "linux"}}, "args": {{"model": "Qwen/Qwen3-0.6B", "target": "http://localhost:8000"}}, "benchmarks": [{{"type_": "generative_benchmark", "config": {{"strategy": {{"type_": "constant", "rate": 2.5}}}}, "scheduler_state": {{}}, "scheduler_metrics": {{"start_time": 1764000000.0, "request_start_time": 1764000000.1, "measure_start_time": 1764000001.0, "measure_end_time": 1764000031.5, "request_end_time": 1764000031.6, "end_time": 1764000032.0, "requests_made": {{"successful": 2, "errored": 0, "incomplete": 0, "total": 2}}}}, "metrics": {{"requests_per_second": {}, "request_latency": {}, "time_to_first_token_ms": {}, "output_tokens_per_second": {}}}, "requests": {{"successful": [{}, {}], "errored": [], "incomplete": []}}}}]}}"#,
        dist(2.4, 2.4, 2.4),
        dist(0.75, 0.7, 0.9),
        dist(45.0, 44.0, 60.0),
        dist(30.0, 30.0, 30.0),
        request("a", 1764000001.25, 0.5, 40.0),
        request("b", 1764000002.0, 1.0, 50.0),
    );
    std::fs::write(dir.path().join("benchmarks.json"), doc).unwrap();
    let out = ok(dir.path(), &["ingest", "benchmarks.json"]);
    assert!(
        out.contains("guidellm") && out.contains("requests +2") && out.contains("runs +1"),
        "{out}"
    );
    assert_eq!(
        csv(
            dir.path(),
            "SELECT tool, tool_version, model, request_rate, duration_ms, num_requests, completed, request_throughput, mean_e2e_ms, median_e2e_ms, p99_e2e_ms, mean_ttft_ms, p99_ttft_ms FROM runs"
        ),
        "tool,tool_version,model,request_rate,duration_ms,num_requests,completed,request_throughput,mean_e2e_ms,median_e2e_ms,p99_e2e_ms,mean_ttft_ms,p99_ttft_ms\n\
         guidellm,0.5.4,Qwen/Qwen3-0.6B,2.5,30500.0,2,2,2.4,750.0,700.0,900.0,45.0,60.0\n"
    );
    assert_eq!(
        csv(
            dir.path(),
            "SELECT request_index, input_tokens, output_tokens, ttft_ms, tpot_ms, e2e_ms, started_at, success FROM requests ORDER BY request_index"
        ),
        "request_index,input_tokens,output_tokens,ttft_ms,tpot_ms,e2e_ms,started_at,success\n\
         0,128,16,40.0,20.0,500.0,2025-11-24T16:00:01.250Z,true\n\
         1,128,16,50.0,20.0,1000.0,2025-11-24T16:00:02Z,true\n"
    );
}

#[test]
fn predictions_always_have_their_canonical_columns() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pairs.csv"),
        "framework,predicted_ms,actual_ms,batch\nvLLM,10,12,4\n",
    )
    .unwrap();
    ok(
        dir.path(),
        &["ingest", "--table", "predictions", "pairs.csv"],
    );
    assert_eq!(
        csv(
            dir.path(),
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'predictions' AND column_name NOT LIKE '\\_%' ESCAPE '\\' ORDER BY ordinal_position"
        ),
        "column_name,data_type\nframework,Utf8View\npredicted_ms,Float64\nactual_ms,Float64\nbatch,Float64\nmodel,Utf8View\nhardware,Utf8View\nphase,Utf8View\nkey,Utf8View\npredictor,Utf8View\nrun_id,Utf8View\n"
    );
}

/// A CSV large enough to be read in pieces on several threads (4 MiB or more a piece), with
/// quoted fields holding line breaks and delimiters all through it: every row lands once,
/// with its own physical line number.
#[test]
fn a_large_csv_read_in_pieces_keeps_every_row_and_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let n: u64 = 800_000;
    let mut text = String::from("id,note,value_ms\n");
    let mut line = 1u64;
    let mut lines_sum = 0u64;
    for i in 0..n {
        line += 1;
        lines_sum += line;
        if i % 997 == 0 {
            text.push_str(&format!("{i},\"two\nlines, \"\"quoted\"\"\",{i}.5\n"));
            line += 1; // the quoted line break
        } else {
            text.push_str(&format!("{i},n{i},{i}.5\n"));
        }
    }
    assert!(
        text.len() > 17 << 20,
        "{} bytes: at least two pieces",
        text.len()
    );
    std::fs::write(dir.path().join("big.csv"), &text).unwrap();
    // A file this large is hashed while it is read: same bytes, same SHA-256 as hashing
    // the whole content at once.
    let read = runlake_ingest::Source::from_path(&dir.path().join("big.csv"), &Default::default())
        .unwrap();
    assert!(read.bytes == text.as_bytes());
    let whole = runlake_ingest::Source::from_bytes(
        "big.csv".into(),
        text.clone().into_bytes(),
        &Default::default(),
    );
    assert_eq!(read.sha256, whole.unwrap().sha256);
    ok(dir.path(), &["ingest", "big.csv"]);
    assert_eq!(
        csv(dir.path(), "SELECT sha256 FROM _ingests"),
        format!("sha256\n{}\n", read.sha256)
    );
    let sum_values: f64 = (0..n).map(|i| i as f64 + 0.5).sum();
    assert_eq!(
        csv(
            dir.path(),
            "SELECT count(*) AS n, count(DISTINCT id) AS ids, sum(value_ms) AS total, \
             sum(_line) AS lines, max(_line) AS last FROM big"
        ),
        format!("n,ids,total,lines,last\n{n},{n},{sum_values:.1},{lines_sum},{line}\n")
    );
    // A quoted row in the second half keeps its text and its line.
    let i = 997 * 500;
    let expected_line = 2 + i + i / 997; // earlier quoted rows each add a line
    assert_eq!(
        csv(
            dir.path(),
            &format!("SELECT note, _line FROM big WHERE id = {i}")
        ),
        format!("note,_line\n\"two\nlines, \"\"quoted\"\"\",{expected_line}\n")
    );
}

#[test]
fn values_refused_in_different_pieces_of_a_large_csv_are_rejected_at_their_lines() {
    let dir = tempfile::tempdir().unwrap();
    let n: u64 = 800_000;
    let bad = [1_000u64, 400_000, 799_998];
    let mut text = String::from("id,note,value_ms\n");
    let (mut line, mut bad_lines, mut kept_sum) = (1u64, Vec::new(), 0.0f64);
    for i in 0..n {
        line += 1;
        if bad.contains(&i) {
            bad_lines.push(line);
            text.push_str(&format!("{i},n{i},slow\n"));
        } else if i % 997 == 0 {
            text.push_str(&format!("{i},\"two\nlines\",{i}.5\n"));
            kept_sum += i as f64 + 0.5;
            line += 1;
        } else {
            text.push_str(&format!("{i},n{i},{i}.5\n"));
            kept_sum += i as f64 + 0.5;
        }
    }
    assert!(text.len() > 17 << 20, "at least two pieces");
    std::fs::write(dir.path().join("big.csv"), &text).unwrap();
    ok(dir.path(), &["ingest", "--max-bad-rows", "3", "big.csv"]);
    assert_eq!(
        csv(
            dir.path(),
            "SELECT count(*) AS n, sum(value_ms) AS total, count(DISTINCT _line) AS lines FROM big"
        ),
        format!("n,total,lines\n{},{kept_sum:.1},{}\n", n - 3, n - 3)
    );
    let expected: String = bad
        .iter()
        .zip(&bad_lines)
        .map(|(i, l)| format!("{l},value_ms,not a number: 'slow',{i},n{i},slow\n"))
        .collect();
    assert_eq!(
        csv(
            dir.path(),
            "SELECT line, column_name, reason, raw FROM _rejects WHERE target_table = 'big' ORDER BY line"
        )
        .replace('"', ""),
        format!("line,column_name,reason,raw\n{expected}")
    );
}

#[test]
fn a_large_csv_with_a_byte_that_is_not_utf8_in_a_late_piece_fails_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let n: u64 = 800_000;
    let broken = 700_000u64;
    let mut text = b"id,note,value_ms\n".to_vec();
    let mut line = 1u64;
    let mut broken_line = 0;
    for i in 0..n {
        line += 1;
        if i % 997 == 0 {
            text.extend_from_slice(format!("{i},\"two\nlines\",{i}.5\n").as_bytes());
            line += 1;
        } else if i == broken {
            broken_line = line;
            // Latin-1 "café": 0xE9 alone is not UTF-8.
            text.extend_from_slice(format!("{i},caf").as_bytes());
            text.extend_from_slice(&[0xE9]);
            text.extend_from_slice(format!(",{i}.5\n").as_bytes());
        } else {
            text.extend_from_slice(format!("{i},n{i},{i}.5\n").as_bytes());
        }
    }
    assert!(text.len() > 17 << 20, "at least two pieces");
    std::fs::write(dir.path().join("big.csv"), &text).unwrap();
    let o = runlake(dir.path(), &["ingest", "big.csv"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("big.csv")
            && err.contains(&format!("line {broken_line}: not valid UTF-8 text")),
        "{err}"
    );
    // Nothing of the file is committed.
    let o = runlake(
        dir.path(),
        &["sql", "--format", "csv", "SELECT count(*) FROM big"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
}

#[test]
fn crlf_line_ends_blank_lines_and_quoted_line_breaks_keep_rows_and_lines() {
    let dir = tempfile::tempdir().unwrap();
    // Windows line ends, a blank line, a quoted field holding a CR LF and the delimiter,
    // a row with too many fields, and a last line without a line end.
    let text = "id,note\r\n1,plain\r\n\r\n2,\"two\r\nlines, quoted\"\r\n3,x,extra\r\n4,last";
    std::fs::write(dir.path().join("crlf.csv"), text).unwrap();
    ok(dir.path(), &["ingest", "--max-bad-rows", "1", "crlf.csv"]);
    assert_eq!(
        csv(
            dir.path(),
            "SELECT id, replace(note, chr(13), '<CR>') AS note, _line FROM crlf ORDER BY id"
        ),
        "id,note,_line\n1.0,plain,2\n2.0,\"two<CR>\nlines, quoted\",4\n4.0,last,7\n"
    );
    assert_eq!(
        csv(dir.path(), "SELECT line, raw FROM _rejects"),
        "line,raw\n6,\"3,x,extra\"\n"
    );
}

/// Plain files from 16 MiB on are read in chunks, hashed as they are read; a Parquet file
/// that large is binary like a small one, not text with NUL bytes.
#[test]
fn a_parquet_file_over_16_mib_lands_like_a_small_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(
        d,
        &[
            "sql",
            "COPY (SELECT value AS id, CAST(value * 7919 % 1000003 AS DOUBLE) AS latency_ms \
             FROM generate_series(1, 2000000)) TO 'big.parquet' STORED AS PARQUET \
             OPTIONS ('format.compression' 'uncompressed', 'format.dictionary_enabled' 'false')",
        ],
    );
    let size = std::fs::metadata(d.join("big.parquet")).unwrap().len();
    assert!(size >= 16 << 20, "{size} bytes");
    let out = ok(d, &["ingest", "big.parquet", "--table", "big"]);
    assert!(out.contains("big +2000000"), "{out}");
    assert_eq!(
        csv(
            d,
            "SELECT count(*) AS n, sum(id) AS i, sum(latency_ms) AS s FROM big"
        ),
        csv(
            d,
            "SELECT count(*) AS n, sum(id) AS i, sum(latency_ms) AS s FROM 'big.parquet'"
        )
    );
}

//! Where each column of a tool's rows comes from: the source field and the conversion,
//! per format (`runlake ingest --explain`, and docs/formats.md in prose). A column not
//! listed is the tool's own field kept under its name (or in `extra`).

use crate::Format;

/// (table, column, source field(s), conversion).
type Field = (&'static str, &'static str, &'static str, &'static str);

const S: &str = "seconds x 1000";
const NS: &str = "nanoseconds / 1e6";
const AS_IS: &str = "as written";

const VLLM: &[Field] = &[
    (
        "runs",
        "model",
        "model_id | model | server_info.served_model_name | server_info.model_path",
        AS_IS,
    ),
    (
        "runs",
        "started_at",
        "date (YYYYMMDD-HHMMSS)",
        "--timezone, default UTC",
    ),
    ("runs", "duration_ms", "duration", S),
    ("runs", "num_requests", "num_prompts", AS_IS),
    ("runs", "completed", "completed", AS_IS),
    ("runs", "failed", "failed", AS_IS),
    (
        "runs",
        "request_throughput",
        "request_throughput",
        "req/s as written",
    ),
    (
        "runs",
        "output_throughput",
        "output_throughput",
        "tok/s as written",
    ),
    (
        "runs",
        "input_throughput",
        "input_throughput (SGLang)",
        "tok/s as written",
    ),
    (
        "runs",
        "total_token_throughput",
        "total_token_throughput | total_throughput",
        "tok/s as written",
    ),
    (
        "runs",
        "*_ttft_ms, *_tpot_ms, *_itl_ms, *_e2e_ms",
        "{mean,median,std,p50,p90,p95,p99}_{ttft,tpot,itl,e2el,e2e_latency}_ms",
        "as written; NULL when completed = 0 (the tool writes 0.0)",
    ),
    (
        "requests",
        "ttft_ms",
        "ttfts[i]",
        "seconds x 1000; NULL for a failed request",
    ),
    ("requests", "itl_ms", "itls[i]", "seconds x 1000 each"),
    (
        "requests",
        "e2e_ms",
        "e2els[i], else ttft + sum(itls[i])",
        "seconds x 1000",
    ),
    (
        "requests",
        "tpot_ms",
        "(e2e - ttft) / (output_tokens - 1)",
        "derived",
    ),
    ("requests", "input_tokens", "input_lens[i]", AS_IS),
    ("requests", "output_tokens", "output_lens[i]", AS_IS),
    (
        "requests",
        "success",
        "errors[i] empty and ttfts[i] > 0",
        "derived",
    ),
    ("requests", "error", "errors[i]", AS_IS),
];

const LLAMA_BENCH: &[Field] = &[
    (
        "runs",
        "tool_version",
        "build_number (build_commit) | markdown `build:` line",
        AS_IS,
    ),
    (
        "runs",
        "model",
        "model_filename | model_type | markdown `model`",
        AS_IS,
    ),
    ("runs", "hardware", "gpu_info | cpu_info", AS_IS),
    ("runs", "started_at", "test_time", AS_IS),
    ("runs", "duration_ms", "avg_ns (one repetition)", NS),
    (
        "runs",
        "total_input_tokens",
        "n_prompt | markdown test ppN",
        AS_IS,
    ),
    (
        "runs",
        "total_output_tokens",
        "n_gen | markdown test tgN",
        AS_IS,
    ),
    (
        "runs",
        "input_throughput",
        "avg_ts | markdown t/s, of a prompt test (n_gen 0)",
        "tok/s as written",
    ),
    (
        "runs",
        "output_throughput",
        "avg_ts | markdown t/s, of a generation test (n_prompt 0)",
        "tok/s as written",
    ),
    (
        "runs",
        "total_token_throughput",
        "avg_ts of a combined test (ppN+tgM)",
        "tok/s as written",
    ),
    (
        "runs",
        "num_requests",
        "len(samples_ns) (repetitions)",
        AS_IS,
    ),
];

const MLPERF: &[Field] = &[
    (
        "runs",
        "tool_version",
        "loadgen_version (detail log)",
        AS_IS,
    ),
    (
        "runs",
        "request_throughput",
        "Completed samples per second | Samples per second",
        AS_IS,
    ),
    (
        "runs",
        "output_throughput",
        "Completed tokens per second | Tokens per second",
        AS_IS,
    ),
    ("runs", "request_rate", "target_qps", AS_IS),
    (
        "runs",
        "*_e2e_ms",
        "{Mean,50.00,90.00,95.00,99.00 percentile} latency (ns)",
        NS,
    ),
    ("runs", "*_ttft_ms", "... first token latency (ns)", NS),
    ("runs", "*_tpot_ms", "... time to output token (ns)", NS),
];

const LLMPERF: &[Field] = &[
    ("runs", "tool_version", "version", AS_IS),
    (
        "runs",
        "num_requests",
        "results_num_requests_started",
        AS_IS,
    ),
    ("runs", "started_at", "timestamp (epoch seconds)", AS_IS),
    ("runs", "completed", "results_num_completed_requests", AS_IS),
    ("runs", "failed", "results_number_errors", AS_IS),
    ("runs", "max_concurrency", "num_concurrent_requests", AS_IS),
    (
        "runs",
        "output_throughput",
        "results_mean_output_throughput_token_per_s",
        AS_IS,
    ),
    (
        "runs",
        "*_ttft_ms, *_e2e_ms, *_tpot_ms",
        "results_{ttft_s,end_to_end_latency_s,inter_token_latency_s}_{mean,stddev,quantiles_pN}",
        S,
    ),
    (
        "requests",
        "ttft_ms",
        "ttft_s",
        "seconds x 1000; NULL for a failed request",
    ),
    (
        "requests",
        "e2e_ms",
        "end_to_end_latency_s",
        "seconds x 1000; NULL for a failed request",
    ),
    (
        "requests",
        "tpot_ms",
        "inter_token_latency_s",
        "seconds x 1000; NULL for a failed request",
    ),
    (
        "requests",
        "input_tokens",
        "number_input_tokens",
        "NULL for a failed request",
    ),
    (
        "requests",
        "success",
        "error_msg and error_code empty",
        "derived",
    ),
];

const AIPERF: &[Field] = &[
    (
        "requests",
        "ttft_ms",
        "metrics.ttft | metrics.time_to_first_token",
        "by its unit",
    ),
    (
        "requests",
        "tpot_ms",
        "metrics.inter_token_latency, else derived",
        "by its unit",
    ),
    (
        "requests",
        "e2e_ms",
        "metrics.request_latency",
        "by its unit",
    ),
    (
        "requests",
        "itl_ms",
        "metrics.inter_chunk_latency",
        "by its unit, each",
    ),
    (
        "requests",
        "started_at",
        "metadata.request_start_ns | metadata.timestamp_ns",
        "ns // 1000",
    ),
    (
        "requests",
        "success",
        "no error and not was_cancelled",
        "derived",
    ),
    (
        "runs",
        "num_requests",
        "request_count + error_request_count (summary)",
        AS_IS,
    ),
    (
        "runs",
        "completed",
        "request_count (summary), else successful requests",
        AS_IS,
    ),
    (
        "runs",
        "*_ttft_ms, *_e2e_ms, *_tpot_ms, *_itl_ms",
        "ttft | time_to_first_token, request_latency, inter_token_latency, inter_chunk_latency: {avg,std,p50,p90,p95,p99}",
        "by its unit",
    ),
    (
        "runs",
        "duration_ms",
        "benchmark_duration | span of the requests",
        "by its unit",
    ),
    (
        "runs",
        "started_at",
        "min_request_timestamp | first request",
        "ns // 1000",
    ),
];

const GENAI_PERF: &[Field] = &[
    (
        "requests",
        "ttft_ms",
        "response_timestamps[0] - timestamp",
        NS,
    ),
    (
        "requests",
        "e2e_ms",
        "response_timestamps[-1] - timestamp",
        NS,
    ),
    (
        "requests",
        "itl_ms",
        "differences of response_timestamps",
        NS,
    ),
    (
        "runs",
        "*_ttft_ms, *_e2e_ms, *_tpot_ms",
        "time_to_first_token, request_latency, inter_token_latency: {avg,std,p50,p90,p95,p99}",
        "by its unit",
    ),
    (
        "runs",
        "request_throughput",
        "request_throughput.avg | CSV `Request Throughput (per sec)`",
        AS_IS,
    ),
    (
        "runs",
        "output_throughput",
        "output_token_throughput.avg | CSV `Output Token Throughput (per sec)`",
        AS_IS,
    ),
];

const GUIDELLM: &[Field] = &[
    (
        "runs",
        "completed",
        "metrics.request_totals.successful | run_stats.requests_made.successful",
        AS_IS,
    ),
    ("runs", "failed", "metrics.request_totals.errored", AS_IS),
    (
        "runs",
        "duration_ms",
        "duration | measure_end_time - measure_start_time",
        S,
    ),
    (
        "runs",
        "*_ttft_ms, *_tpot_ms, *_itl_ms",
        "metrics.{time_to_first_token_ms,...}.successful.{mean,median,std_dev,percentiles}",
        AS_IS,
    ),
    (
        "runs",
        "*_e2e_ms",
        "metrics.request_latency.successful.*",
        S,
    ),
    ("requests", "ttft_ms", "time_to_first_token_ms", AS_IS),
    ("requests", "e2e_ms", "request_latency", S),
    (
        "requests",
        "started_at",
        "start_time | request_start_time | scheduler_info.request_start",
        "epoch seconds",
    ),
    (
        "requests",
        "phase",
        "request start vs the scheduler's measure window",
        "warmup / measure / cooldown",
    ),
];

const VIDUR: &[Field] = &[
    ("requests", "request_index", "Request Id", AS_IS),
    ("requests", "e2e_ms", "request_e2e_time", S),
    ("requests", "ttft_ms", "prefill_e2e_time", S),
    (
        "requests",
        "tpot_ms",
        "decode_time_execution_plus_preemption_normalized",
        S,
    ),
    (
        "requests",
        "input_tokens",
        "request_num_prefill_tokens",
        AS_IS,
    ),
    (
        "requests",
        "output_tokens",
        "request_num_decode_tokens",
        AS_IS,
    ),
    ("requests", "success", "request_e2e_time present", "derived"),
];

const OTLP: &[Field] = &[
    ("spans", "start_time", "startTimeUnixNano", "ns // 1000"),
    ("spans", "end_time", "endTimeUnixNano", "ns // 1000"),
    (
        "spans",
        "duration_ms",
        "endTimeUnixNano - startTimeUnixNano",
        "nanoseconds / 1e6 (overflow refused)",
    ),
    ("spans", "service", "resource attribute service.name", AS_IS),
    ("spans", "status", "status.code", "ok / error / unset"),
];

const STEPS: &[Field] = &[(
    "steps",
    "*_ms",
    "the same names, or *_s",
    "seconds x 1000 for *_s",
)];

/// The source field and conversion of `table.column` for `format`, when the reader
/// fills it from a field of the file.
pub fn source_of(
    format: Format,
    table: &str,
    column: &str,
) -> Option<(&'static str, &'static str)> {
    let fields: &[Field] = match format {
        Format::VllmBench | Format::SglangBench => VLLM,
        Format::LlamaBench => LLAMA_BENCH,
        Format::Mlperf => MLPERF,
        Format::Llmperf => LLMPERF,
        Format::Aiperf => AIPERF,
        Format::GenaiPerf => GENAI_PERF,
        Format::Guidellm => GUIDELLM,
        Format::Vidur => VIDUR,
        Format::Otlp => OTLP,
        Format::SchedSteps => STEPS,
        _ => return None,
    };
    let matches = |pattern: &str| {
        pattern.split(", ").any(|p| match p.split_once('*') {
            Some((before, after)) => column.starts_with(before) && column.ends_with(after),
            None => p == column,
        })
    };
    fields
        .iter()
        .find(|(t, c, _, _)| *t == table && matches(c))
        .map(|(_, _, source, conversion)| (*source, *conversion))
}

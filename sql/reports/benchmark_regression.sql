/*
title: Benchmark regression
description: >
  Each model and configuration of the current benchmark runs against the baseline runs:
  time to first token, time per output token, end-to-end latency and peak GPU memory.
  The runs to compare are chosen by the label given at ingest (--set label=...).
params:
  baseline: {type: string, default: baseline, description: label of the baseline runs}
  current: {type: string, default: current, description: label of the runs to check}
  threshold: {type: float, default: 0.1, description: a relative slowdown above this fires}
charts:
  - {query: comparison, type: bar, x: config, y: ttft_change, title: TTFT change vs baseline}
alerts:
  - {query: comparison, when: "ttft_change > $threshold", severity: warning, message: "{config}: TTFT {baseline_ttft_ms} -> {current_ttft_ms} ms ({ttft_change} slower)"}
  - {query: comparison, when: "e2e_change > $threshold", severity: warning, message: "{config}: end-to-end {baseline_e2e_ms} -> {current_e2e_ms} ms ({e2e_change} slower)"}
  - {query: comparison, when: "memory_change > $threshold", severity: warning, message: "{config}: peak memory {baseline_memory_gb} -> {current_memory_gb} GB"}
*/

-- name: comparison
WITH r AS (
    SELECT label, model, request_rate, max_concurrency, mean_ttft_ms, mean_tpot_ms, mean_e2e_ms,
           CAST(regexp_match(extra, '"peak_gpu_memory_gb":\s*([0-9.]+)')[1] AS DOUBLE) AS memory_gb
    FROM runs
)
SELECT
    c.model || ' @ ' || CAST(c.request_rate AS VARCHAR) || ' req/s' AS config,
    b.mean_ttft_ms                       AS baseline_ttft_ms,
    c.mean_ttft_ms                       AS current_ttft_ms,
    c.mean_ttft_ms / b.mean_ttft_ms - 1  AS ttft_change,
    b.mean_tpot_ms                       AS baseline_tpot_ms,
    c.mean_tpot_ms                       AS current_tpot_ms,
    c.mean_tpot_ms / b.mean_tpot_ms - 1  AS tpot_change,
    b.mean_e2e_ms                        AS baseline_e2e_ms,
    c.mean_e2e_ms                        AS current_e2e_ms,
    c.mean_e2e_ms / b.mean_e2e_ms - 1    AS e2e_change,
    b.memory_gb                          AS baseline_memory_gb,
    c.memory_gb                          AS current_memory_gb,
    c.memory_gb / b.memory_gb - 1        AS memory_change
FROM r b
JOIN r c
  ON b.model = c.model
 AND b.request_rate = c.request_rate
 AND coalesce(b.max_concurrency, -1) = coalesce(c.max_concurrency, -1)
WHERE b.label = $baseline AND c.label = $current
ORDER BY config;

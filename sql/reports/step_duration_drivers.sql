/*
title: What drives a scheduler step's model run time
description: >
  For the steps that scheduled one number of tokens: how much model_run_duration_ms
  varies, how often it is an outlier, and how it moves with the shape of the batch
  (spread of chunk sizes, running requests, context tokens, prefix-cache hits).
params:
  tokens: {type: int, default: 2048, description: the total_scheduled_tokens value to study}
tables: [summary, drivers, by_running]
charts:
  - {query: by_running, type: line, x: num_running_reqs, y: mean_ms, title: Mean model run time by running requests}
  - {query: durations, type: histogram, x: model_run_duration_ms, title: Model run time (ms)}
alerts:
  - {query: summary, when: "outlier_fraction > 0.05", severity: info, message: "{outlier_fraction} of the {n} steps are outliers"}
*/

-- name: summary
SELECT
    count(*)                                 AS n,
    avg(model_run_duration_ms)               AS mean_ms,
    stddev(model_run_duration_ms)            AS std_ms,
    min(model_run_duration_ms)               AS min_ms,
    max(model_run_duration_ms)               AS max_ms,
    cv(model_run_duration_ms)                AS cv,
    outlier_fraction(model_run_duration_ms)  AS outlier_fraction
FROM steps
WHERE total_scheduled_tokens = $tokens;

-- name: drivers
WITH s AS (
    SELECT run_id, step, ts, model_run_duration_ms AS d, num_running_reqs,
           array_sum(computed_tokens) AS context_tokens,
           array_sum(cached_tokens) AS cached,
           chunk_sizes
    FROM steps
    WHERE total_scheduled_tokens = $tokens
),
spread AS (
    SELECT run_id, step, ts, stddev_pop(c) AS chunk_std
    FROM (SELECT run_id, step, ts, unnest(chunk_sizes) AS c FROM s)
    GROUP BY run_id, step, ts
),
f AS (
    SELECT s.d, s.num_running_reqs, s.context_tokens,
           CAST(s.cached AS DOUBLE) / nullif(s.context_tokens, 0) AS cache_hit_ratio,
           spread.chunk_std
    FROM s JOIN spread ON s.run_id = spread.run_id AND s.step = spread.step AND s.ts = spread.ts
)
SELECT 'chunk_size_std' AS feature, pearson(chunk_std, d) AS pearson, spearman(chunk_std, d) AS spearman FROM f
UNION ALL
SELECT 'num_running_reqs', pearson(num_running_reqs, d), spearman(num_running_reqs, d) FROM f
UNION ALL
SELECT 'computed_tokens', pearson(context_tokens, d), spearman(context_tokens, d) FROM f
UNION ALL
SELECT 'cache_hit_ratio', pearson(cache_hit_ratio, d), spearman(cache_hit_ratio, d) FROM f
ORDER BY feature;

-- name: by_running
SELECT num_running_reqs, count(*) AS n, avg(model_run_duration_ms) AS mean_ms,
       stddev(model_run_duration_ms) AS std_ms
FROM steps
WHERE total_scheduled_tokens = $tokens
GROUP BY num_running_reqs
ORDER BY num_running_reqs;

-- name: durations
SELECT model_run_duration_ms FROM steps WHERE total_scheduled_tokens = $tokens ORDER BY 1;

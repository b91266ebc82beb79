/*
title: Pipeline latency breakdown
description: >
  End-to-end latency of each query through the serving pipeline (OTLP spans), its
  tail and SLO pass rate, and each component's share of the total.
params:
  slo_ms: {type: float, default: 5000, description: the end-to-end latency objective}
  min_attainment: {type: float, default: 0.9, description: a pass rate below this fires}
tables: [end_to_end, components]
charts:
  - {query: cdf, type: cdf, x: duration_ms, title: End-to-end latency CDF (ms)}
  - {query: components, type: bar, x: component, y: share, title: Share of end-to-end time}
alerts:
  - {query: end_to_end, when: "slo_attainment < $min_attainment", severity: critical, message: "only {slo_attainment} of {n} queries met the {slo_ms} ms SLO"}
*/

-- name: end_to_end
SELECT
    count(*)                                   AS n,
    avg(duration_ms)                           AS mean_ms,
    p50(duration_ms)                           AS median_ms,
    stddev(duration_ms)                        AS std_ms,
    min(duration_ms)                           AS min_ms,
    max(duration_ms)                           AS max_ms,
    p95(duration_ms)                           AS p95_ms,
    p99(duration_ms)                           AS p99_ms,
    $slo_ms                                    AS slo_ms,
    slo_attainment(duration_ms, $slo_ms)       AS slo_attainment
FROM spans
WHERE parent_span_id IS NULL;

-- name: components
SELECT
    name                                        AS component,
    count(*)                                    AS n,
    avg(duration_ms)                            AS mean_ms,
    p95(duration_ms)                            AS p95_ms,
    p99(duration_ms)                            AS p99_ms,
    sum(duration_ms) / (SELECT sum(duration_ms) AS total FROM spans WHERE parent_span_id IS NULL) AS share
FROM spans
WHERE parent_span_id IS NOT NULL
GROUP BY name
ORDER BY share DESC, name;

-- name: cdf
SELECT duration_ms, cume_dist() OVER (ORDER BY duration_ms) AS fraction
FROM spans
WHERE parent_span_id IS NULL
ORDER BY duration_ms;

/*
title: Prefill and decode prediction accuracy
description: >
  Error of the latency predictions for prefill (time to first token) and decode
  (per-token) steps, and measured vs predicted P50 / P95 per configuration.
params:
  max_mape: {type: float, default: 0.3, description: MAPE above this fires a warning}
tables: [accuracy, by_configuration]
charts:
  - {query: pairs, type: scatter, x: actual_ms, y: predicted_ms, series: phase, title: Predicted vs actual by phase}
  - {query: pairs, type: box, x: phase, y: relative_error, title: Relative error by phase}
alerts:
  - {query: accuracy, when: "mape > $max_mape", severity: warning, message: "{phase}: MAPE {mape}"}
*/

-- name: accuracy
SELECT
    phase,
    count(*)                                          AS n,
    mae(actual_ms, predicted_ms)                      AS mae_ms,
    rmse(actual_ms, predicted_ms)                     AS rmse_ms,
    mape(actual_ms, predicted_ms)                     AS mape,
    r2_score(actual_ms, predicted_ms)                 AS r2,
    avg((predicted_ms - actual_ms) / actual_ms)       AS mean_relative_error,
    cv((predicted_ms - actual_ms) / actual_ms)        AS relative_error_cv
FROM predictions
WHERE phase IN ('prefill', 'decode')
GROUP BY phase
ORDER BY phase;

-- name: by_configuration
SELECT
    phase, framework, model, hardware,
    count(*)              AS n,
    p50(actual_ms)        AS actual_p50_ms,
    p95(actual_ms)        AS actual_p95_ms,
    p50(predicted_ms)     AS predicted_p50_ms,
    p95(predicted_ms)     AS predicted_p95_ms
FROM predictions
WHERE phase IN ('prefill', 'decode')
GROUP BY phase, framework, model, hardware
ORDER BY phase, framework, model, hardware;

-- name: pairs
SELECT phase, actual_ms, predicted_ms, (predicted_ms - actual_ms) / actual_ms AS relative_error
FROM predictions
WHERE phase IN ('prefill', 'decode')
ORDER BY phase, actual_ms, predicted_ms;

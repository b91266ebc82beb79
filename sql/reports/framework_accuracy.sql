/*
title: Prediction accuracy per framework
description: >
  How well predicted latency tracks measured latency for each serving framework:
  correlation, fit and error. Framework variants found in logs (Deepspeed,
  DeepSpeed-MII, ...) are merged through the framework_aliases table.
params:
  min_n: {type: int, default: 10, description: frameworks with fewer pairs are left out}
  max_mape: {type: float, default: 0.25, description: MAPE above this fires a warning}
tables: [summary]
charts:
  - {query: pairs, type: scatter, x: actual_ms, y: predicted_ms, series: framework, title: Predicted vs actual latency (ms)}
  - {query: summary, type: bar, x: framework, y: mape, title: MAPE per framework}
alerts:
  - {query: summary, when: "mape > $max_mape", severity: warning, message: "{framework}: MAPE {mape} over {n} pairs"}
*/

-- name: summary
SELECT
    coalesce(a.framework, p.framework)          AS framework,
    count(*)                                    AS n,
    pearson(p.predicted_ms, p.actual_ms)        AS pearson,
    spearman(p.predicted_ms, p.actual_ms)       AS spearman,
    r2_score(p.actual_ms, p.predicted_ms)       AS r2,
    rmse(p.actual_ms, p.predicted_ms)           AS rmse_ms,
    mae(p.actual_ms, p.predicted_ms)            AS mae_ms,
    mape(p.actual_ms, p.predicted_ms)           AS mape,
    pearson_pvalue(p.predicted_ms, p.actual_ms) AS pearson_p
FROM predictions p
LEFT JOIN framework_aliases a ON a.alias = p.framework
GROUP BY 1
HAVING count(*) >= $min_n
ORDER BY 1;

-- name: pairs
SELECT coalesce(a.framework, p.framework) AS framework, p.actual_ms, p.predicted_ms
FROM predictions p
LEFT JOIN framework_aliases a ON a.alias = p.framework
ORDER BY 1, 2, 3;

-- How well does predicted latency track measured latency, per serving framework?
-- Run: runlake sql -f examples/quickstart.sql
SELECT
    framework,
    count(*)                                    AS n,
    round(pearson(predicted_ms, actual_ms), 4)  AS pearson,
    round(spearman(predicted_ms, actual_ms), 4) AS spearman,
    round(r2_score(actual_ms, predicted_ms), 4) AS r2,
    round(rmse(actual_ms, predicted_ms), 2)     AS rmse_ms,
    round(mae(actual_ms, predicted_ms), 2)      AS mae_ms,
    round(mape(actual_ms, predicted_ms), 4)     AS mape,
    pearson_pvalue(predicted_ms, actual_ms)     AS pearson_p
FROM 'examples/data/predictions.csv'
GROUP BY framework
ORDER BY framework;

"""The exact query each engine runs, per workload. {f} is the input file."""

# W1: the framework-accuracy report.
W1 = {
    "runlake": """SELECT framework, count(*) AS n,
       pearson(predicted_ms, actual_ms) AS pearson,
       spearman(predicted_ms, actual_ms) AS spearman,
       r2_score(actual_ms, predicted_ms) AS r2,
       rmse(actual_ms, predicted_ms) AS rmse,
       mae(actual_ms, predicted_ms) AS mae,
       mape(actual_ms, predicted_ms) AS mape,
       p95(actual_ms) AS p95
FROM '{f}' GROUP BY framework ORDER BY framework""",
    # DuckDB has no Spearman: average ranks (rank + (ties - 1) / 2) by windows, then corr.
    "duckdb": """WITH r AS (
  SELECT framework, actual_ms, predicted_ms,
         rank() OVER (PARTITION BY framework ORDER BY predicted_ms)
           + (count(*) OVER (PARTITION BY framework, predicted_ms) - 1) / 2.0 AS rank_p,
         rank() OVER (PARTITION BY framework ORDER BY actual_ms)
           + (count(*) OVER (PARTITION BY framework, actual_ms) - 1) / 2.0 AS rank_a
  FROM '{f}')
SELECT framework, count(*) AS n,
       corr(predicted_ms, actual_ms) AS pearson,
       corr(rank_p, rank_a) AS spearman,
       1 - sum((actual_ms - predicted_ms) ^ 2) / (var_pop(actual_ms) * count(*)) AS r2,
       sqrt(avg((actual_ms - predicted_ms) ^ 2)) AS rmse,
       avg(abs(actual_ms - predicted_ms)) AS mae,
       avg(abs(actual_ms - predicted_ms) / abs(actual_ms)) AS mape,
       quantile_cont(actual_ms, 0.95) AS p95
FROM r GROUP BY framework ORDER BY framework""",
    "polars": """a, p = pl.col("actual_ms"), pl.col("predicted_ms")
pl.scan_parquet(f).group_by("framework").agg(
    n=pl.len(),
    pearson=pl.corr(p, a),
    spearman=pl.corr(p, a, method="spearman"),
    r2=1 - ((a - p) ** 2).sum() / ((a - a.mean()) ** 2).sum(),
    rmse=((a - p) ** 2).mean().sqrt(),
    mae=(a - p).abs().mean(),
    mape=((a - p).abs() / a.abs()).mean(),
    p95=a.quantile(0.95, interpolation="linear"),
).sort("framework").collect()""",
    "pandas": """df = pd.read_parquet(f, columns=["framework", "predicted_ms", "actual_ms"])
rows = []
for fw, g in df.groupby("framework", sort=True):
    a, p = g["actual_ms"].to_numpy(), g["predicted_ms"].to_numpy()
    rows.append((fw, len(g), stats.pearsonr(p, a).statistic, stats.spearmanr(p, a).statistic,
                 1 - np.sum((a - p) ** 2) / np.sum((a - a.mean()) ** 2),
                 np.sqrt(np.mean((a - p) ** 2)), np.mean(np.abs(a - p)),
                 np.mean(np.abs(a - p) / np.abs(a)), np.percentile(a, 95)))
result = pd.DataFrame(rows)""",
}

# W2: about 100k groups; the per-group results are summed so that no engine prints 100k rows.
W2 = {
    "runlake": """SELECT count(*) AS groups, sum(r) AS r, sum(m) AS m, sum(c) AS c FROM (
  SELECT grp, pearson(predicted_ms, actual_ms) AS r, mape(actual_ms, predicted_ms) AS m,
         cv(actual_ms) AS c
  FROM '{f}' GROUP BY grp)""",
    "duckdb": """SELECT count(*) AS groups, sum(r) AS r, sum(m) AS m, sum(c) AS c FROM (
  SELECT grp, corr(predicted_ms, actual_ms) AS r,
         avg(abs(actual_ms - predicted_ms) / abs(actual_ms)) AS m,
         stddev_samp(actual_ms) / avg(actual_ms) AS c
  FROM '{f}' GROUP BY grp)""",
    "polars": """a, p = pl.col("actual_ms"), pl.col("predicted_ms")
pl.scan_parquet(f).group_by("grp").agg(
    r=pl.corr(p, a), m=((a - p).abs() / a.abs()).mean(), c=a.std() / a.mean(),
).select(groups=pl.len(), r=pl.col("r").sum(), m=pl.col("m").sum(), c=pl.col("c").sum()).collect()""",
}

# W6: W1 and W2 on a lake table, on one machine and on a Ballista cluster of 1 and 2
# executors on the same machine (the same SQL; `--cluster` is the only difference).
W6 = {
    "W1": W1["runlake"].replace("FROM '{f}'", "FROM predictions"),
    "W2": W2["runlake"].replace("FROM '{f}'", "FROM predictions"),
}

# W3: the step-duration report on scheduler steps with list columns.
W3 = {
    "runlake": """SELECT count(*) AS groups, sum(n) AS n, sum(mean_ms) AS mean_ms, sum(std_ms) AS std_ms,
       sum(cv) AS cv FROM (
  SELECT num_running_reqs, count(*) AS n, avg(model_run_duration_ms) AS mean_ms,
         stddev(model_run_duration_ms) AS std_ms, cv(model_run_duration_ms) AS cv
  FROM '{f}' GROUP BY num_running_reqs);
SELECT pearson(list_stddev_pop(chunk_sizes), model_run_duration_ms) AS chunk_std_pearson
FROM '{f}'""",
    "duckdb": """SELECT count(*) AS groups, sum(n) AS n, sum(mean_ms) AS mean_ms, sum(std_ms) AS std_ms,
       sum(cv) AS cv, any_value(chunk_std_pearson) FROM (
  SELECT num_running_reqs, count(*) AS n, avg(model_run_duration_ms) AS mean_ms,
         stddev_samp(model_run_duration_ms) AS std_ms,
         stddev_samp(model_run_duration_ms) / avg(model_run_duration_ms) AS cv
  FROM '{f}' GROUP BY num_running_reqs),
  (SELECT corr(list_stddev_pop(chunk_sizes), model_run_duration_ms) AS chunk_std_pearson FROM '{f}')""",
    "polars": """d = pl.col("model_run_duration_ms")
lf = pl.scan_parquet(f)
by = lf.group_by("num_running_reqs").agg(n=pl.len(), mean_ms=d.mean(), std_ms=d.std(), cv=d.std() / d.mean())
corr = lf.select(r=pl.corr(pl.col("chunk_sizes").list.std(ddof=0), d))
pl.collect_all([by.select(groups=pl.len(), n=pl.col("n").sum(), mean_ms=pl.col("mean_ms").sum(),
                          std_ms=pl.col("std_ms").sum(), cv=pl.col("cv").sum()), corr])""",
}

# W4: a CSV into the lake (runlake: hashing, rejects check, sort, zstd, Delta commit) vs
# DuckDB's CSV to zstd Parquet.
W4 = {
    "runlake": "runlake --lake {lake} ingest {f} --table predictions",
    "duckdb": "COPY (FROM read_csv('{f}')) TO '{out}' (FORMAT parquet, COMPRESSION zstd)",
}

# W5: every row of the table over Flight SQL (ADBC; connected before the clock starts) vs
# pyarrow reading the same table's Parquet files in-process ({f} is the table's folder in
# the lake W4 wrote: all 14 columns, provenance included).
W5 = {
    "runlake": """cur.execute("SELECT * FROM predictions")
table = cur.fetch_arrow_table()""",
    "pyarrow": """table = pq.read_table(f)""",
}

FRAMEWORKS = ["vLLM", "SGLang", "TensorRT-LLM", "DeepSpeed", "Deepspeed-MII", "llama.cpp"]

# W7: the query a dashboard panel sends for one run ({run}), through ADBC against
# `runlake serve`, against DuckDB in-process over the same Parquet files ({glob}).
W7 = {
    "runlake": """SELECT p50(ttft_ms) AS p50, p99(ttft_ms) AS p99, count(*) AS n
FROM requests WHERE run_id = '{run}'""",
    "duckdb": """SELECT quantile_cont(ttft_ms, 0.5) AS p50, quantile_cont(ttft_ms, 0.99) AS p99,
       count(*) AS n
FROM read_parquet('{glob}') WHERE run_id = '{run}'""",
}

# W8: the framework-accuracy aggregates of one day and one model of a large lake; DuckDB
# reads the table's Parquet files ({f}: a glob) with hive partitioning.
W8_WHERE = ("ts >= TIMESTAMP '2026-10-16 00:00:00+00:00' AND ts < TIMESTAMP '2026-10-17 00:00:00+00:00'"
            " AND model = 'qwen2.5-7b'")
W8 = {
    "runlake": f"""SELECT framework, count(*) AS n,
       pearson(predicted_ms, actual_ms) AS pearson,
       r2_score(actual_ms, predicted_ms) AS r2,
       rmse(actual_ms, predicted_ms) AS rmse,
       mae(actual_ms, predicted_ms) AS mae,
       mape(actual_ms, predicted_ms) AS mape,
       p95(actual_ms) AS p95
FROM requests WHERE {W8_WHERE} GROUP BY framework ORDER BY framework""",
    "duckdb": f"""SELECT framework, count(*) AS n,
       corr(predicted_ms, actual_ms) AS pearson,
       1 - sum((actual_ms - predicted_ms) ^ 2) / (var_pop(actual_ms) * count(*)) AS r2,
       sqrt(avg((actual_ms - predicted_ms) ^ 2)) AS rmse,
       avg(abs(actual_ms - predicted_ms)) AS mae,
       avg(abs(actual_ms - predicted_ms) / abs(actual_ms)) AS mape,
       quantile_cont(actual_ms, 0.95) AS p95
FROM read_parquet('{{f}}', hive_partitioning = true) WHERE {W8_WHERE}
GROUP BY framework ORDER BY framework""",
}

# W9: 16 ADBC clients run W1 on a lake table of 1M rows while a 10k-row file is ingested
# every second; the ceiling is the same query run back to back in one `runlake sql`.
W9 = {"runlake": W6["W1"]}

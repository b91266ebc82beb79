#!/usr/bin/env python3
"""Reference values for runlake-functions, computed with numpy, scipy, scikit-learn and pandas.

Writes, next to this script:
  predictions.parquet   columns framework (string), predicted_ms, actual_ms (DOUBLE with
                        NULLs and NaNs): edge-case groups, offset groups, and 3,000 small groups
  series.parquet        ts, predicted_ms, actual_ms: one series for sliding-window frames
  expected.json         for every function, the value per framework (whole-group aggregate)
                        and per ts (window of the last WINDOW rows)

The library calls are the references; the wrappers below only apply runlake's common rules
(PRODUCT.md section 4) in order before calling them:
  1. rows where any argument is NULL are skipped (pairwise);
  2. too few rows left gives NULL;
  3. any NaN among the remaining values gives NaN;
  4. a function that divides by a variance gives NULL when that variance is 0.

Run: python3 generate.py   (numpy 2.x, scipy 1.17, scikit-learn 1.9, pandas 3.x, pyarrow)
CI does not run it; its outputs are committed.
"""
import json
import math
import os
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy
import scipy.stats as st
import sklearn
import sklearn.metrics as skm

warnings.simplefilter("ignore")
HERE = os.path.dirname(os.path.abspath(__file__))
WINDOW = 50
NAN = float("nan")


# ----------------------------------------------------------------------------- data

def build_groups():
    rng = np.random.default_rng(20261122)
    g = {}
    g["d1"] = ([1, 2, 3, 4, 5], [2, 4, 5, 4, 5])  # (predicted, actual); STATS.md D1
    g["d2"] = ([1, 2, 2, 3, 4, 5], [2, 3, 1, 3, 5, 4])  # ties in both
    g["sklearn_example"] = ([2.5, 0.0, 2, 8], [3, -0.5, 2, 7])
    g["nulls"] = ([1, None, 3, 4, 5, 6, None], [2, 3, None, 5, 4, 7, None])
    g["nan_predicted"] = ([1, 2, NAN, 4, 5], [2, 3, 3, 5, 4])
    g["nan_actual"] = ([1, 2, 3, 4, 5], [2, NAN, 3, 5, 4])
    g["nan_and_null"] = ([1, 2, NAN, 4], [2, 3, None, 7])  # the NaN row is NULL-skipped
    g["zero_actuals"] = ([0.5, 1, 2.5, 0, 3, 4], [0, 1, 2, 0, 2.5, 5])
    g["single_row"] = ([3.0], [4.0])
    g["all_null"] = ([None, 1.0], [2.0, None])
    g["two_rows"] = ([1.0, 2.0], [3.0, 5.0])
    g["three_rows"] = ([1.0, 2.0, 4.0], [3.0, 5.0, 4.0])
    g["four_rows"] = ([1.0, 2.0, 4.0, 3.0], [3.0, 5.0, 4.0, 9.0])
    g["constant_predicted"] = ([7.0] * 6, [1, 2, 3, 4, 5, 9])
    g["constant_actual"] = ([1, 2, 3, 4, 5, 6], [4.0] * 6)
    g["constant_exact"] = ([4.0] * 5, [4.0] * 5)
    g["constant_zero"] = ([0.0] * 4, [0.0] * 4)
    g["perfect"] = (list(range(1, 21)), list(range(1, 21)))
    g["negative"] = (list(range(1, 31)), [100.0 - 3 * v + (v % 4) for v in range(1, 31)])
    x = rng.integers(0, 1000, 200).astype(float)
    y = x + rng.integers(-50, 50, 200)
    g["offset_1e9"] = (list(x + 1e9), list(y + 1e9))
    g["offset_d1"] = ([v + 1e9 for v in [1, 2, 3, 4, 5]], [v + 1e9 for v in [2, 4, 5, 4, 5]])
    actual = np.round(rng.lognormal(4.0, 0.6, 5000), 1)  # rounded: many ties
    predicted = np.round(actual * rng.normal(1.05, 0.15, 5000) + rng.normal(0, 5, 5000), 1)
    g["large_lognormal"] = (list(predicted), list(actual))
    heavy = rng.pareto(2.5, 800) * 40 + 5
    g["heavy_tail"] = (list(heavy * rng.uniform(0.8, 1.3, 800)), list(heavy))
    for i in range(3000):
        n = int(rng.integers(1, 9))
        a = np.round(rng.uniform(1, 500, n), 2)
        p = np.round(a * rng.uniform(0.5, 1.5, n), 2)
        if i % 97 == 0:
            p[0] = NAN
        if i % 89 == 0 and n > 1:
            a[-1] = 0.0
        g[f"m{i:04d}"] = (list(p), list(a))
    return g


def build_series():
    rng = np.random.default_rng(7)
    n = 400
    actual = np.round(rng.lognormal(3.5, 0.5, n), 3)
    predicted = np.round(actual * rng.normal(1.0, 0.2, n), 3)
    actual = list(actual)
    predicted = list(predicted)
    actual[120] = NAN  # leaves the window again after WINDOW rows
    predicted[260] = None
    actual[300] = 0.0
    return predicted, actual


# ------------------------------------------------------------------------ the rules

def pairs(p, a):
    return [(pv, av) for pv, av in zip(p, a) if pv is not None and av is not None]


def has_nan(*cols):
    return any(isinstance(v, float) and math.isnan(v) for c in cols for v in c)


def rule(min_rows, fn, *cols):
    if len(cols[0]) < min_rows:
        return None
    if has_nan(*cols):
        return NAN
    return fn(*[np.asarray(c, dtype=float) for c in cols])


def nonconstant(*cols):
    return all(np.ptp(c) != 0 for c in cols)


def corr_fn(kind):
    def f(x, y):
        if not nonconstant(x, y):
            return None
        if kind == "pearson":
            return st.pearsonr(x, y).statistic
        if kind == "pearson_pvalue":
            return 1.0 if len(x) == 2 else st.pearsonr(x, y).pvalue
        if kind == "pearson_ci_lower":
            return st.pearsonr(x, y).confidence_interval(0.95).low
        if kind == "pearson_ci_upper":
            return st.pearsonr(x, y).confidence_interval(0.95).high
        if kind == "pearson_ci_lower_90":
            return st.pearsonr(x, y).confidence_interval(0.9).low
        if kind == "spearman":
            return st.spearmanr(x, y).statistic
        if kind == "spearman_pvalue":
            return st.spearmanr(x, y).pvalue
        if kind == "kendall_tau":
            return st.kendalltau(x, y).statistic
        raise ValueError(kind)
    return f


def r2(a, p):
    return skm.r2_score(a, p)  # force_finite: constant actual -> 1.0 if exact else 0.0


def mape(a, p):
    keep = a != 0  # runlake skips zero actuals; sklearn on the remaining rows
    a, p = a[keep], p[keep]
    if len(a) == 0:
        return None
    return skm.mean_absolute_percentage_error(a, p)


def smape(a, p):
    keep = ~((a == 0) & (p == 0))
    a, p = a[keep], p[keep]
    if len(a) == 0:
        return None
    return float(np.mean(2 * np.abs(a - p) / (np.abs(a) + np.abs(p))))


def wape(a, p):
    den = np.sum(np.abs(a))
    return None if den == 0 else float(np.sum(np.abs(a - p)) / den)


def cv(x):
    s = pd.Series(x)
    return None if s.mean() == 0 else s.std() / s.mean()


def cv_pop(x):
    return None if np.mean(x) == 0 else st.variation(x)


def skew(x):
    return None if np.ptp(x) == 0 else st.skew(x, bias=False)


def kurt(x):
    return None if np.ptp(x) == 0 else st.kurtosis(x, bias=False)


def outliers(k):
    def f(x):
        q1, q3 = np.quantile(x, [0.25, 0.75])
        lo, hi = q1 - k * (q3 - q1), q3 + k * (q3 - q1)
        return float(np.mean((x < lo) | (x > hi)))
    return f


def nan_list(v, n):
    """A list-valued function gives a list of NaN (numpy's shape) under the NaN rule."""
    return [NAN] * n if isinstance(v, float) and math.isnan(v) else v


# name -> (sql expression over predicted_ms / actual_ms, reference on the group's rows)
def two(min_rows, fn, order="pa"):
    def ref(p, a):
        ps = pairs(p, a)
        first = [v[0] for v in ps] if order == "pa" else [v[1] for v in ps]
        second = [v[1] for v in ps] if order == "pa" else [v[0] for v in ps]
        # Zero-actual skips happen before the NaN rule (they are part of the definition).
        if fn in (mape, smape):
            a_, p_ = np.array(first, dtype=float), np.array(second, dtype=float)
            keep = a_ != 0 if fn is mape else ~((a_ == 0) & (p_ == 0))
            first, second = list(a_[keep]), list(p_[keep])
            return rule(1, fn, first, second)
        return rule(min_rows, fn, first, second)
    return ref


def one(min_rows, fn):
    def ref(p, a):
        xs = [v for v in a if v is not None]
        return rule(min_rows, fn, xs)
    return ref


def slo_column(p, a):
    ps = [(av, pv) for pv, av in pairs(p, a)]
    return rule(1, lambda x, t: float(np.mean(x <= t)), [v[0] for v in ps], [v[1] for v in ps])


FUNCTIONS = {
    "pearson": ("pearson(predicted_ms, actual_ms)", two(2, corr_fn("pearson"))),
    "pearson_pvalue": ("pearson_pvalue(predicted_ms, actual_ms)", two(2, corr_fn("pearson_pvalue"))),
    "pearson_ci_lower": ("pearson_ci_lower(predicted_ms, actual_ms)", two(2, corr_fn("pearson_ci_lower"))),
    "pearson_ci_upper": ("pearson_ci_upper(predicted_ms, actual_ms)", two(2, corr_fn("pearson_ci_upper"))),
    "pearson_ci_lower_90": ("pearson_ci_lower(predicted_ms, actual_ms, 0.9)", two(2, corr_fn("pearson_ci_lower_90"))),
    "spearman": ("spearman(predicted_ms, actual_ms)", two(2, corr_fn("spearman"))),
    "spearman_pvalue": ("spearman_pvalue(predicted_ms, actual_ms)", two(3, corr_fn("spearman_pvalue"))),
    "kendall_tau": ("kendall_tau(predicted_ms, actual_ms)", two(2, corr_fn("kendall_tau"))),
    "r2_score": ("r2_score(actual_ms, predicted_ms)", two(2, r2, "ap")),
    "mae": ("mae(actual_ms, predicted_ms)", two(1, skm.mean_absolute_error, "ap")),
    "mse": ("mse(actual_ms, predicted_ms)", two(1, skm.mean_squared_error, "ap")),
    "rmse": ("rmse(actual_ms, predicted_ms)", two(1, skm.root_mean_squared_error, "ap")),
    "max_error": ("max_error(actual_ms, predicted_ms)", two(1, skm.max_error, "ap")),
    "medae": ("medae(actual_ms, predicted_ms)", two(1, skm.median_absolute_error, "ap")),
    "mean_error": ("mean_error(actual_ms, predicted_ms)", two(1, lambda a, p: float(np.mean(p - a)), "ap")),
    "mape": ("mape(actual_ms, predicted_ms)", two(1, mape, "ap")),
    "smape": ("smape(actual_ms, predicted_ms)", two(1, smape, "ap")),
    "wape": ("wape(actual_ms, predicted_ms)", two(1, wape, "ap")),
    "cv": ("cv(actual_ms)", one(2, cv)),
    "cv_pop": ("cv_pop(actual_ms)", one(1, cv_pop)),
    "sem": ("sem(actual_ms)", one(2, st.sem)),
    "mad": ("mad(actual_ms)", one(1, st.median_abs_deviation)),
    "iqr": ("iqr(actual_ms)", one(1, st.iqr)),
    "skewness": ("skewness(actual_ms)", one(3, skew)),
    "kurtosis": ("kurtosis(actual_ms)", one(4, kurt)),
    "quantile_0_3": ("quantile(actual_ms, 0.3)", one(1, lambda x: np.quantile(x, 0.3))),
    "quantile_1": ("quantile(actual_ms, 1)", one(1, lambda x: np.quantile(x, 1.0))),
    "p50": ("p50(actual_ms)", one(1, lambda x: np.quantile(x, 0.5))),
    "p90": ("p90(actual_ms)", one(1, lambda x: np.quantile(x, 0.9))),
    "p95": ("p95(actual_ms)", one(1, lambda x: np.quantile(x, 0.95))),
    "p99": ("p99(actual_ms)", one(1, lambda x: np.quantile(x, 0.99))),
    "p999": ("p999(actual_ms)", one(1, lambda x: np.quantile(x, 0.999))),
    "quantiles": ("quantiles(actual_ms, [0.1, 0.5, 0.99])", lambda p, a: nan_list(
        one(1, lambda x: [float(v) for v in np.quantile(x, [0.1, 0.5, 0.99])])(p, a), 3)),
    "outlier_fraction": ("outlier_fraction(actual_ms)", one(1, outliers(1.5))),
    "outlier_fraction_3": ("outlier_fraction(actual_ms, 3)", one(1, outliers(3.0))),
    "slo_attainment": ("slo_attainment(actual_ms, 60)", one(1, lambda x: float(np.mean(x <= 60)))),
    "slo_attainment_column": ("slo_attainment(actual_ms, predicted_ms)", slo_column),
}

# Functions that support sliding window frames (PRODUCT.md section 4).
WINDOWED = [
    "pearson", "pearson_pvalue", "pearson_ci_lower", "r2_score", "mae", "mse", "rmse",
    "max_error", "mean_error", "mape", "smape", "wape", "cv", "cv_pop", "sem", "skewness",
    "kurtosis", "quantile_0_3", "p50", "p99", "quantiles", "slo_attainment",
    "slo_attainment_column",
]


def kernels():
    """Reference values for the numerical kernels in runlake_functions::stats."""
    import scipy.special as sp
    rng = np.random.default_rng(99)
    out = {}
    ps = [1e-300, 1e-20, 1e-9, 1e-4, 0.001, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.425, 0.5,
          0.575, 0.7, 0.9, 0.95, 0.975, 0.99, 0.999, 1 - 1e-9]
    out["normal_ppf"] = [[p, float(sp.ndtri(p))] for p in ps]
    cases = []
    for a in [0.5, 1.0, 1.5, 2.5, 10.0, 49.0, 499.0, 4999.0]:
        for b in [0.5, 1.0, 3.0]:
            for x in [1e-6, 0.01, 0.3, 0.5, 0.77, 0.99, 0.999999]:
                cases.append([a, b, x, float(sp.betainc(a, b, x))])
    out["betainc"] = cases
    rs = []
    for n in [3, 4, 10, 30, 100, 1000, 100000]:
        for r in [-0.99, -0.5, -0.01, 0.0, 0.2, 0.7, 0.999]:
            t2 = r * r * (n - 2) / ((1 - r) * (1 + r))
            rs.append([r, n, float(2 * st.t.sf(math.sqrt(t2), n - 2))])
    out["correlation_pvalue"] = rs
    samples = []
    for n in [2, 5, 17, 100, 1000]:
        for ties in [False, True]:
            x = rng.integers(0, 6 if ties else 10**9, n).astype(float)
            y = rng.integers(0, 6 if ties else 10**9, n).astype(float)
            y = np.where(rng.uniform(size=n) < 0.5, x + y / 10, y)
            tau = st.kendalltau(x, y).statistic
            samples.append({
                "x": list(x), "y": list(y),
                "ranks_x": list(st.rankdata(x)),
                "kendall_tau": None if math.isnan(tau) else float(tau),
                "spearman": None if np.ptp(x) == 0 or np.ptp(y) == 0 else float(st.spearmanr(x, y).statistic),
                "quantiles": {str(q): float(np.quantile(x, q)) for q in [0, 0.01, 0.25, 1 / 3, 0.5, 0.9, 0.99, 1]},
            })
    out["samples"] = samples
    return out


def encode(v):
    if v is None:
        return None
    if isinstance(v, list):
        return [encode(x) for x in v]
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def main():
    groups = build_groups()
    fw, pcol, acol = [], [], []
    for name, (p, a) in groups.items():
        fw += [name] * len(p)
        pcol += [None if v is None else float(v) for v in p]
        acol += [None if v is None else float(v) for v in a]
    table = pa.table({
        "framework": pa.array(fw, pa.string()),
        "predicted_ms": pa.array(pcol, pa.float64()),
        "actual_ms": pa.array(acol, pa.float64()),
    })
    pq.write_table(table, os.path.join(HERE, "predictions.parquet"), row_group_size=4096)

    sp, sa = build_series()
    series = pa.table({
        "ts": pa.array(range(len(sp)), pa.int64()),
        "predicted_ms": pa.array([None if v is None else float(v) for v in sp], pa.float64()),
        "actual_ms": pa.array([None if v is None else float(v) for v in sa], pa.float64()),
    })
    pq.write_table(series, os.path.join(HERE, "series.parquet"))

    expected = {
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__,
                     "scikit-learn": sklearn.__version__, "pandas": pd.__version__},
        "window": WINDOW,
        "functions": {},
    }
    for fname, (sql, ref) in FUNCTIONS.items():
        per_group = {name: encode(ref(p, a)) for name, (p, a) in groups.items()}
        entry = {"sql": sql, "groups": per_group}
        if fname in WINDOWED:
            entry["window"] = [
                encode(ref(sp[max(0, i - WINDOW + 1): i + 1], sa[max(0, i - WINDOW + 1): i + 1]))
                for i in range(len(sp))
            ]
        expected["functions"][fname] = entry
    expected["kernels"] = kernels()
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True, allow_nan=False)
        f.write("\n")


if __name__ == "__main__":
    main()

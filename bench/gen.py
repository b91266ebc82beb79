"""Deterministic benchmark data (numpy seed 42): predictions.parquet / .csv and
steps.parquet with N rows each, under bench/data/N/; or per-request logs of serving runs
(W7, W8), one Parquet file per day, under bench/data/requests-N-RUNS-DAYS/.

    python bench/gen.py 1000000
    python bench/gen.py requests 10000000 1000 10
"""
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

FRAMEWORKS = ["vLLM", "SGLang", "TensorRT-LLM", "DeepSpeed", "Deepspeed-MII", "llama.cpp"]
GROUPS = 100_000


def predictions(n, rng):
    fw = rng.integers(0, len(FRAMEWORKS), n)
    actual = np.round(rng.lognormal(3.5, 0.8, n), 3)
    bias = np.array([1.0, 0.98, 1.05, 1.1, 1.1, 0.8])[fw]
    predicted = np.round(actual * bias * rng.normal(1.0, 0.08, n) + rng.normal(0, 1.5, n), 3)
    return pa.table({
        "framework": pa.array(np.array(FRAMEWORKS, dtype=object)[fw], pa.string()),
        "grp": pa.array(rng.integers(0, GROUPS, n), pa.int64()),
        "batch_size": pa.array(rng.integers(1, 65, n), pa.int64()),
        "predicted_ms": pa.array(predicted, pa.float64()),
        "actual_ms": pa.array(actual, pa.float64()),
    })


def steps(n, rng):
    running = rng.integers(1, 65, n)
    lengths = rng.integers(1, 17, n)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    chunks = rng.integers(1, 2048, int(offsets[-1])).astype(np.int64)
    duration = np.round(8 + 0.35 * running + rng.gamma(2.0, 2.0, n), 4)
    return pa.table({
        "step": pa.array(np.arange(n), pa.int64()),
        "num_running_reqs": pa.array(running, pa.int64()),
        "model_run_duration_ms": pa.array(duration, pa.float64()),
        "chunk_sizes": pa.ListArray.from_arrays(pa.array(offsets), pa.array(chunks)),
    })


MODELS = ["llama-3.1-8b", "llama-3.1-70b", "qwen2.5-7b", "qwen2.5-72b", "mistral-7b",
          "mixtral-8x7b", "gemma-2-9b", "phi-3-mini"]
DAY0 = np.datetime64("2026-10-01T00:00:00", "us")
DAY_US = 86_400_000_000


def requests_day(day, first_run, runs, rows_per_run, rng):
    """The requests of `runs` runs (ids first_run..) that all ran on `day`, in the order a
    day's merged log has them: by time, the runs' requests interleaved."""
    n = runs * rows_per_run
    run = np.repeat(np.arange(first_run, first_run + runs), rows_per_run)
    index = np.tile(np.arange(rows_per_run), runs)
    # Each run starts somewhere in the day's first 20 hours and sends a request every
    # 0-500 ms.
    start = rng.integers(0, 20 * 3_600_000_000, runs)
    gaps = rng.integers(0, 500_000, n).reshape(runs, rows_per_run).cumsum(axis=1).ravel()
    ts = DAY0 + np.timedelta64(day * DAY_US, "us") + (np.repeat(start, rows_per_run) + gaps).astype("timedelta64[us]")
    fw = run % len(FRAMEWORKS)
    model = (run * 7 + 3) % len(MODELS)
    ttft = np.round(rng.lognormal(4.0, 0.6, n) * (1 + model / 8), 3)
    tpot = np.round(rng.lognormal(2.5, 0.3, n), 3)
    out_tokens = rng.integers(16, 1024, n)
    actual = np.round(ttft + tpot * out_tokens, 3)
    bias = np.array([1.0, 0.98, 1.05, 1.1, 1.1, 0.8])[fw]
    predicted = np.round(actual * bias * rng.normal(1.0, 0.08, n), 3)
    order = np.argsort(ts, kind="stable")
    table = pa.table({
        "run_id": pa.array(np.char.add("run-", np.char.zfill(run.astype(str), 5)).astype(object), pa.string()),
        "request_index": pa.array(index, pa.int64()),
        "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "framework": pa.array(np.array(FRAMEWORKS, dtype=object)[fw], pa.string()),
        "model": pa.array(np.array(MODELS, dtype=object)[model], pa.string()),
        "input_tokens": pa.array(rng.integers(32, 4096, n), pa.int64()),
        "output_tokens": pa.array(out_tokens, pa.int64()),
        "ttft_ms": pa.array(ttft, pa.float64()),
        "tpot_ms": pa.array(tpot, pa.float64()),
        "predicted_ms": pa.array(predicted, pa.float64()),
        "actual_ms": pa.array(actual, pa.float64()),
    })
    return table.take(pa.array(order))


def requests(n, runs, days):
    """n requests of `runs` runs over `days` days: one Parquet file a day."""
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", f"requests-{n}-{runs}-{days}")
    done = os.path.join(out, "done")
    if os.path.exists(done):
        return out
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(42)
    rows_per_run = n // runs
    for day in range(days):
        first, last = day * runs // days, (day + 1) * runs // days
        table = requests_day(day, first, last - first, rows_per_run, rng)
        date = str((DAY0 + np.timedelta64(day * DAY_US, "us")).astype("datetime64[D]"))
        pq.write_table(table, os.path.join(out, f"requests-{date}.parquet"), row_group_size=1 << 20)
    open(done, "w").close()
    return out


def main(n):
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", str(n))
    os.makedirs(out, exist_ok=True)
    done = os.path.join(out, "done")
    if os.path.exists(done):
        return out
    rng = np.random.default_rng(42)
    p = predictions(n, rng)
    pq.write_table(p, os.path.join(out, "predictions.parquet"), row_group_size=1 << 20)
    pacsv.write_csv(p, os.path.join(out, "predictions.csv"))
    pq.write_table(steps(n, rng), os.path.join(out, "steps.parquet"), row_group_size=1 << 20)
    open(done, "w").close()
    return out


if __name__ == "__main__":
    if sys.argv[1] == "requests":
        print(requests(*(int(a) for a in sys.argv[2:5])))
    else:
        print(main(int(sys.argv[1])))

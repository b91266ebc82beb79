"""Deterministic benchmark data (numpy seed 42): predictions.parquet / .csv and
steps.parquet with N rows each, under bench/data/N/.

    python bench/gen.py 1000000
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
    print(main(int(sys.argv[1])))

#!/usr/bin/env python3
"""Reference values for list_mean, list_stddev and list_stddev_pop, computed with numpy.

Writes lists.json next to this script: the input lists (null for a NULL list, None
elements for NULL elements, "NaN" for NaN) and, per list, numpy's mean, std(ddof=1) and
std(ddof=0) of the non-NULL elements, with runlake's rules: a NULL list or too few
elements (1 for mean and std_pop, 2 for std) gives null.
Floats are written as text (Python's shortest round-trip repr) so the test reads them
back exactly and can compare numpy's results bit for bit; whole numbers stay numbers.

Run: python3 lists.py   (numpy 2.x). CI does not run it; its output is committed.
"""
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
NAN = float("nan")


def cases():
    rng = np.random.default_rng(7)
    out = [
        [1, 2, 3, 4],
        [5],
        [],
        None,
        [2.5, None, 3.5],
        [None, None],
        [1e9 + 1, 1e9 + 2, 1e9 + 3],
        [7, NAN, 1],
        [-3.25, 0.0, 3.25, 10.5],
        [4, 4, 4, 4],
    ]
    for n in (2, 3, 16, 100, 1000):
        out.append([float(v) for v in rng.lognormal(5.0, 1.2, n)])
        out.append([int(v) for v in rng.integers(1, 2048, n)])
    # Every length around numpy's 8-value blocks, with values whose sum depends on the
    # order of the additions.
    for n in range(1, 26):
        for _ in range(4):
            out.append([float(v) for v in rng.normal(0.0, 1.0, n) * 10.0 ** rng.integers(0, 17, n)])
    return out


def stat(values, fn, min_n):
    kept = [v for v in values if v is not None]
    if len(kept) < min_n:
        return None
    r = float(fn(np.array(kept, dtype=np.float64)))
    return "NaN" if np.isnan(r) else repr(r)


def encode(values):
    if values is None:
        return None
    return [(("NaN" if np.isnan(v) else repr(v)) if isinstance(v, float) else v) for v in values]


def main():
    rows = []
    for values in cases():
        if values is None:
            rows.append({"list": None, "mean": None, "std": None, "std_pop": None})
            continue
        rows.append({
            "list": encode(values),
            "mean": stat(values, np.mean, 1),
            "std": stat(values, lambda a: np.std(a, ddof=1), 2),
            "std_pop": stat(values, lambda a: np.std(a, ddof=0), 1),
        })
    with open(os.path.join(HERE, "lists.json"), "w") as fh:
        json.dump({"numpy": np.__version__, "rows": rows}, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()

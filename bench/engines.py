"""One timed run of one peer engine on one workload, in-process: imports and connections
are made before the clock starts, reading the input file is timed. Prints one JSON
object: {"seconds": ..., "check": [numbers]}.

    python bench/engines.py ENGINE WORKLOAD FILE [URI|OUT]
    python bench/engines.py runlake-server WORKLOAD URI
"""
import json
import sys
import time

import numpy as np

import queries


def flat(values):
    out = []
    for v in values:
        if isinstance(v, (list, tuple)):
            out.extend(flat(v))
        elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            out.append(float(v))
    return out


def main(engine, workload, f, extra=None):
    code = getattr(queries, workload).get(engine, "")
    if engine == "duckdb":
        import duckdb

        con = duckdb.connect()
        if workload == "W4":
            sql = code.format(f=f, out=extra)
            start = time.perf_counter()
            con.execute(sql)
            seconds = time.perf_counter() - start
            check = [float(con.execute(f"SELECT count(*) FROM '{extra}'").fetchone()[0])]
        else:
            sql = code.format(f=f)
            start = time.perf_counter()
            rows = con.execute(sql).fetchall()
            seconds = time.perf_counter() - start
            check = flat([list(r) for r in rows])
    elif engine == "polars":
        import polars as pl

        scope = {"pl": pl, "f": f}
        # The last statement's value is the result (a DataFrame or a list of them).
        lines = code.strip().split("\n")
        split = max(i for i, l in enumerate(lines) if l and not l[0].isspace() and not l.startswith(")"))
        setup, expr = "\n".join(lines[:split]), "\n".join(lines[split:])
        exec(setup, scope)
        start = time.perf_counter()
        result = eval(expr, scope)
        seconds = time.perf_counter() - start
        frames = result if isinstance(result, list) else [result]
        check = flat([list(r) for df in frames for r in df.rows()])
    elif engine == "pandas":
        import pandas as pd
        from scipy import stats

        scope = {"pd": pd, "np": np, "stats": stats, "f": f}
        start = time.perf_counter()
        exec(code, scope)
        seconds = time.perf_counter() - start
        check = flat([list(r) for r in scope["result"].itertuples(index=False)])
    elif engine == "pyarrow":
        import pyarrow.dataset  # noqa: F401  (read_table imports it on first use)
        import pyarrow.parquet as pq

        scope = {"pq": pq, "f": f}
        start = time.perf_counter()
        exec(code, scope)
        seconds = time.perf_counter() - start
        check = [float(scope["table"].num_rows)]
    elif engine == "runlake-adbc":
        import adbc_driver_flightsql.dbapi

        conn = adbc_driver_flightsql.dbapi.connect(extra)
        scope = {"cur": conn.cursor()}
        start = time.perf_counter()
        exec(queries.W5["runlake"], scope)
        seconds = time.perf_counter() - start
        check = [float(scope["table"].num_rows)]
    elif engine == "runlake-server":
        # runlake's SQL through ADBC against a running `runlake serve` at `f` (a URI).
        import adbc_driver_flightsql.dbapi

        conn = adbc_driver_flightsql.dbapi.connect(f)
        cur = conn.cursor()
        start = time.perf_counter()
        cur.execute(getattr(queries, workload)["runlake"])
        rows = cur.fetchall()
        seconds = time.perf_counter() - start
        check = flat([list(r) for r in rows])
    else:
        raise SystemExit(f"unknown engine {engine}")
    print(json.dumps({"seconds": seconds, "check": check}))


if __name__ == "__main__":
    main(*sys.argv[1:])

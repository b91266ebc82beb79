"""Clients of W7 and W9, in a child process of the harness. Connections are made before
the clock starts. Prints one JSON object on its last line.

    python bench/clients.py dashboard-adbc URI RUNS QUERIES     W7 through ADBC
    python bench/clients.py dashboard-duckdb GLOB RUNS QUERIES  W7 in DuckDB, in-process
    python bench/clients.py many URI CLIENTS SECONDS            W9's query clients

dashboard-*: {"latencies_ms": [...], "check": [sums of the results]}
many: {"latencies_ms": [...], "errors": [...], "queries": N, "seconds": S}
"""
import json
import sys
import threading
import time

import queries

WARMUP = 20


def run_ids(runs, count):
    """`count` run ids spread over all runs, the same ones for every engine."""
    # 997 is prime, so the ids are distinct for up to `runs` queries.
    return [f"run-{(i * 997) % runs:05}" for i in range(count)]


def dashboard(engine, where, runs, count):
    ids = run_ids(runs, count)
    if engine == "adbc":
        import adbc_driver_flightsql.dbapi

        conn = adbc_driver_flightsql.dbapi.connect(where)
        cur = conn.cursor()

        def one(sql):
            cur.execute(sql)
            return cur.fetchall()
        sql = queries.W7["runlake"]
    else:
        import duckdb

        con = duckdb.connect()

        def one(sql):
            return con.execute(sql).fetchall()
        sql = queries.W7["duckdb"].replace("{glob}", where)
    for run in ids[:WARMUP]:
        one(sql.format(run=run))
    latencies, check = [], [0.0, 0.0, 0.0]
    for run in ids:
        start = time.perf_counter()
        rows = one(sql.format(run=run))
        latencies.append((time.perf_counter() - start) * 1000)
        for i, v in enumerate(rows[0]):
            check[i] += float(v)
    return {"latencies_ms": latencies, "check": check}


def many(uri, clients, seconds):
    import adbc_driver_flightsql.dbapi

    conns = [adbc_driver_flightsql.dbapi.connect(uri) for _ in range(clients)]
    latencies, errors = [], []
    lock = threading.Lock()
    start_gate = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(conn):
        cur = conn.cursor()
        start_gate.wait()
        while time.perf_counter() < deadline[0]:
            t = time.perf_counter()
            try:
                cur.execute(queries.W9["runlake"])
                rows = cur.fetchall()
                if len(rows) != len(queries.FRAMEWORKS):
                    raise ValueError(f"{len(rows)} rows")
                with lock:
                    latencies.append((time.perf_counter() - t) * 1000)
            except Exception as e:  # noqa: BLE001  (every error is counted and shown)
                with lock:
                    errors.append(f"{type(e).__name__}: {e}"[:300])
    threads = [threading.Thread(target=client, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    begin = time.perf_counter()
    deadline[0] = begin + seconds
    start_gate.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - begin
    return {"latencies_ms": latencies, "errors": errors, "queries": len(latencies), "seconds": elapsed}


def main():
    mode = sys.argv[1]
    if mode.startswith("dashboard-"):
        out = dashboard(mode.removeprefix("dashboard-"), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "many":
        out = many(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()

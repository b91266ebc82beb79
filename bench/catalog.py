"""Latency of a one-row query through ADBC on a lake of many tables.

    target/test-python/bin/python bench/catalog.py --runlake target/release/runlake [--tables 50]

Builds a lake of TABLES small tables (one `runlake ingest` each), starts
`runlake serve` on 127.0.0.1:0, and times `SELECT * FROM t07 LIMIT 1` through the ADBC
Flight SQL driver (one connection, 10 warm-up queries, then RUNS timed ones); prints the
median, P90 and min-max in milliseconds. Pass several --runlake binaries to compare them
on the same lake, interleaved run by run.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def make_lake(runlake, root, tables):
    lake = os.path.join(root, "lake")
    for i in range(tables):
        path = os.path.join(root, f"t{i:02}.csv")
        with open(path, "w") as f:
            f.write("id,framework,latency_ms\n")
            for r in range(100):
                f.write(f"{r},fw{r % 5},{r * 1.5 + i}\n")
        subprocess.run(
            [runlake, "--lake", lake, "ingest", "--table", f"t{i:02}", path],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return lake


def serve(runlake, lake):
    proc = subprocess.Popen(
        [runlake, "--lake", lake, "serve", "--addr", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    for _ in range(100):
        line = proc.stdout.readline()
        if not line:
            break
        if "Flight SQL on" in line:
            addr = line.split("://", 1)[1].split(" ", 1)[0]
            return proc, f"grpc://{addr}"
    proc.kill()
    raise SystemExit(f"{runlake} serve did not start")


def timed(uri, runs):
    import adbc_driver_flightsql.dbapi as flightsql

    out = []
    with flightsql.connect(uri) as conn:
        with conn.cursor() as cur:
            for i in range(10 + runs):
                start = time.perf_counter()
                cur.execute("SELECT * FROM t07 LIMIT 1")
                rows = cur.fetchall()
                elapsed = (time.perf_counter() - start) * 1000
                assert len(rows) == 1, rows
                if i >= 10:
                    out.append(elapsed)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runlake", action="append", required=True)
    p.add_argument("--tables", type=int, default=50)
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as root:
        lake = make_lake(args.runlake[0], root, args.tables)
        results = {b: [] for b in args.runlake}
        for _ in range(args.rounds):
            for binary in args.runlake:
                proc, uri = serve(binary, lake)
                try:
                    results[binary] += timed(uri, args.runs // args.rounds)
                finally:
                    proc.kill()
                    proc.wait()
        for binary, ms in results.items():
            ms.sort()
            print(
                f"{binary}: {args.tables} tables, {len(ms)} queries: median {statistics.median(ms):.1f} ms, "
                f"p90 {ms[int(len(ms) * 0.9)]:.1f} ms, min-max {ms[0]:.1f}-{ms[-1]:.1f} ms"
            )


if __name__ == "__main__":
    sys.exit(main())

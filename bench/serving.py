"""W7-W9: what a dashboard, a large lake and many clients ask of runlake. Called by
bench.py; the client side of W7 and W9 runs in bench/clients.py, in a child process.
"""
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import queries

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable
RESULTS = {}  # workload -> dict of what it measured, for the markdown


def child_json(argv):
    out = subprocess.run(argv, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def gen_requests(rows, runs, days):
    return subprocess.run([PY, os.path.join(HERE, "gen.py"), "requests", str(rows), str(runs), str(days)],
                          check=True, capture_output=True, text=True).stdout.strip()


def run(argv):
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:6])} failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return proc.stdout


def peak_mib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class Server:
    """`runlake serve` on 127.0.0.1:0 over `lake`."""

    def __init__(self, binary, lake, extra=()):
        self.proc = subprocess.Popen([binary, "--lake", lake, "serve", "--addr", "127.0.0.1:0", *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if "://" not in line:
            self.stop()
            raise SystemExit(f"{binary} serve did not start")
        self.uri = "grpc://" + line.split("://")[1].split()[0]

    def peak_mib(self):
        return peak_mib(self.proc.pid)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def percentile(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def lake_files(lake, table):
    # The table's data files: not its Delta log's checkpoints (also Parquet).
    files = glob.glob(os.path.join(lake, table, "**", "*.parquet"), recursive=True)
    return sorted(f for f in files if "_delta_log" not in os.path.relpath(f, lake).split(os.sep))


W7_RUNS, W7_DAYS, W7_QUERIES = 1000, 10, 200


def w7(b, work, rows):
    """200 one-run dashboard queries through ADBC against `runlake serve`, against DuckDB
    in-process over the same Parquet files; interleaved rounds."""
    data = gen_requests(rows, W7_RUNS, W7_DAYS)
    lake = os.path.join(work, "lake-w7")
    shutil.rmtree(lake, ignore_errors=True)
    start = time.perf_counter()
    run([b.runlake, "--lake", lake, "ingest", *sorted(glob.glob(os.path.join(data, "*.parquet"))),
         "--table", "requests"])
    ingest_s = time.perf_counter() - start
    files = lake_files(lake, "requests")
    where = os.path.join(lake, "requests", "*.parquet")
    server = Server(b.runlake, lake)
    rounds = {"runlake": [], "duckdb": []}
    try:
        print(f"W7 at {rows:,} rows: {len(files)} files", flush=True)
        for i in range(b.runs):
            r = child_json([PY, os.path.join(HERE, "clients.py"), "dashboard-adbc", server.uri,
                            str(W7_RUNS), str(W7_QUERIES)])
            d = child_json([PY, os.path.join(HERE, "clients.py"), "dashboard-duckdb", where,
                            str(W7_RUNS), str(W7_QUERIES)])
            rounds["runlake"].append(r)
            rounds["duckdb"].append(d)
            print(f"  round {i + 1}/{b.runs}: runlake median {statistics.median(r['latencies_ms']):.1f} ms, "
                  f"duckdb {statistics.median(d['latencies_ms']):.1f} ms", flush=True)
        server_peak = server.peak_mib()
    finally:
        server.stop()
    same = all(_agree(r["check"], d["check"]) for r, d in zip(rounds["runlake"], rounds["duckdb"]))
    RESULTS["W7"] = {"rows": rows, "files": len(files), "ingest_s": ingest_s, "server_peak_mib": server_peak,
                     "rounds": {k: [(statistics.median(x["latencies_ms"]), percentile(x["latencies_ms"], 99))
                                    for x in v] for k, v in rounds.items()},
                     "same": same}
    shutil.rmtree(lake, ignore_errors=True)


W8_RUNS, W8_DAYS = 1000, 30


def bytes_scanned(text):
    """The sum of `bytes_scanned=` over the scans of an EXPLAIN ANALYZE."""
    total = 0
    for part in text.split("bytes_scanned=")[1:]:
        num = ""
        for ch in part:
            if ch.isdigit() or ch == ".":
                num += ch
            else:
                unit = part[len(num):len(num) + 2].strip()
                break
        scale = {"K": 1e3, "M": 1e6, "G": 1e9}.get(unit[:1], 1)
        total += float(num) * scale
    return total


def w8(b, work, rows):
    """One day and one model of a lake of `rows` requests over 30 days (one ingest a day)."""
    data = gen_requests(rows, W8_RUNS, W8_DAYS)
    lake = os.path.join(work, "lake-w8")
    shutil.rmtree(lake, ignore_errors=True)
    start = time.perf_counter()
    peak = 0.0
    for f in sorted(glob.glob(os.path.join(data, "*.parquet"))):
        _, rss, _ = b.run_child([b.runlake, "--lake", lake, "ingest", f, "--table", "requests"])
        peak = max(peak, rss)
    ingest_s = time.perf_counter() - start
    files = lake_files(lake, "requests")
    table_bytes = sum(os.path.getsize(f) for f in files)
    # The data files (the table is not partitioned; `_delta_log/` holds checkpoints).
    where = os.path.join(lake, "requests", "*.parquet")
    sql = queries.W8["runlake"]
    # runlake twice: a whole `runlake sql` process (start-up, the lake's log, every footer
    # it reads), and the query through ADBC against a running server (its memory: the
    # server's peak), as a dashboard or a scheduled report sends it.
    server = Server(b.runlake, lake)
    try:
        def served():
            seconds, _, check = b.peer("runlake-server", "W8", server.uri)
            return seconds, server.peak_mib(), check
        b.interleave("W8", rows, {
            "runlake": lambda: b.runlake_sql(sql, lake),
            "runlake-server": served,
            "duckdb": lambda: b.peer("duckdb", "W8", where),
        })
    finally:
        server.stop()
    analyzed = run([b.runlake, "--lake", lake, "sql", "--format", "csv", "EXPLAIN ANALYZE " + sql])
    matching = float(run([b.runlake, "--lake", lake, "sql", "--format", "csv",
                          f"SELECT count(*) FROM requests WHERE {queries.W8_WHERE}"]).splitlines()[-1])
    RESULTS["W8"] = {"rows": rows, "files": len(files), "ingest_s": ingest_s, "ingest_peak_mib": peak,
                     "table_bytes": table_bytes, "matching_rows": matching,
                     "matching_bytes": table_bytes * matching / rows,
                     "bytes_scanned": bytes_scanned(analyzed)}
    shutil.rmtree(lake, ignore_errors=True)


def w9(b, work, rows, csv, big_csv, seconds, clients=16, memory_limit="2GiB"):
    """`clients` ADBC clients run W1 for `seconds` while a 10k-row file is ingested every
    second; against the ceiling: the same query back to back in one process."""
    lake = os.path.join(work, "lake-w9")
    shutil.rmtree(lake, ignore_errors=True)
    run([b.runlake, "--lake", lake, "ingest", csv, "--table", "predictions"])
    sql = queries.W9["runlake"]
    # The ceiling: 20 queries in one `runlake sql` (start-up is 1/20 of one query).
    ceiling = []
    for _ in range(3):
        start = time.perf_counter()
        run([b.runlake, "--lake", lake, "sql", "--format", "csv", ";\n".join([sql] * 20)])
        ceiling.append(20 / (time.perf_counter() - start))
    # Distinct 10k-row files (a file ingested twice is skipped, by design).
    slices = os.path.join(work, "w9-slices")
    os.makedirs(slices, exist_ok=True)
    with open(big_csv) as src:
        header = src.readline()
        paths = []
        for i in range(int(seconds) + 30):
            path = os.path.join(slices, f"append-{i:04}.csv")
            with open(path, "w") as out:
                out.write(header)
                for _ in range(10_000):
                    line = src.readline()
                    if not line:
                        raise SystemExit(f"{big_csv} has too few rows for W9's appends")
                    out.write(line)
            paths.append(path)
    server = Server(b.runlake, lake, ["--memory-limit", memory_limit])
    ingests = []
    try:
        print(f"W9: {clients} clients for {seconds:.0f} s, ceiling {statistics.median(ceiling):.2f} q/s", flush=True)
        proc = subprocess.Popen([PY, os.path.join(HERE, "clients.py"), "many", server.uri, str(clients),
                                 str(seconds)], stdout=subprocess.PIPE, text=True)
        start = time.perf_counter()
        i = 0
        while proc.poll() is None and i < len(paths):
            t = time.perf_counter()
            run([b.runlake, "--lake", lake, "ingest", paths[i], "--table", "predictions"])
            ingests.append(time.perf_counter() - t)
            i += 1
            # One file a second, as long as an ingest takes less than that.
            time.sleep(max(0.0, start + i - time.perf_counter()))
        out = json.loads(proc.communicate()[0].strip().splitlines()[-1])
        server_peak = server.peak_mib()
    finally:
        server.stop()
    count = float(run([b.runlake, "--lake", lake, "sql", "--format", "csv",
                       "SELECT count(*) FROM predictions"]).splitlines()[-1])
    files = len(lake_files(lake, "predictions"))
    lat = out["latencies_ms"]
    RESULTS["W9"] = {"rows": rows, "clients": clients, "seconds": out["seconds"], "queries": out["queries"],
                     "qps": out["queries"] / out["seconds"], "ceiling": statistics.median(ceiling),
                     "ceiling_runs": ceiling, "p50": statistics.median(lat) if lat else float("nan"),
                     "p99": percentile(lat, 99) if lat else float("nan"), "errors": out["errors"],
                     "ingests": len(ingests), "ingest_p50_s": statistics.median(ingests) if ingests else 0,
                     "ingest_max_s": max(ingests) if ingests else 0,
                     "rows_after": count, "rows_expected": rows + 10_000 * len(ingests),
                     "files_after": files, "server_peak_mib": server_peak, "memory_limit": memory_limit}
    shutil.rmtree(lake, ignore_errors=True)
    shutil.rmtree(slices, ignore_errors=True)


def _agree(a, b, tol=1e-9):
    return len(a) == len(b) and all(abs(x - y) <= tol * max(1.0, abs(x), abs(y)) for x, y in zip(a, b))


def verdicts():
    rows = []
    w7r = RESULTS.get("W7")
    if w7r:
        med = statistics.median(m for m, _ in w7r["rounds"]["runlake"]) / statistics.median(
            m for m, _ in w7r["rounds"]["duckdb"])
        p99 = statistics.median(p for _, p in w7r["rounds"]["runlake"]) / statistics.median(
            p for _, p in w7r["rounds"]["duckdb"])
        rows.append(f"| W7 | median latency <= 2x DuckDB in-process | {med:.2f}x duckdb | "
                    f"{'met' if med <= 2 else '**not met**'} |")
        rows.append(f"| W7 | P99 latency <= 3x DuckDB in-process | {p99:.2f}x duckdb | "
                    f"{'met' if p99 <= 3 else '**not met**'} |")
    w8r = RESULTS.get("W8")
    if w8r:
        ratio = w8r["bytes_scanned"] / w8r["matching_bytes"]
        rows.append(f"| W8 | bytes read <= 1.2x the matching rows' bytes | {ratio:.2f}x | "
                    f"{'met' if ratio <= 1.2 else '**not met**'} |")
    w9r = RESULTS.get("W9")
    if w9r:
        ratio = w9r["qps"] / w9r["ceiling"]
        rows.append(f"| W9 | throughput >= 0.8x the ceiling, 0 errors | {ratio:.2f}x, {len(w9r['errors'])} errors | "
                    f"{'met' if ratio >= 0.8 and not w9r['errors'] else '**not met**'} |")
        limit = _mib(w9r["memory_limit"])
        rows.append(f"| W9 memory | server peak <= --memory-limit {w9r['memory_limit']} | "
                    f"{w9r['server_peak_mib']:,.0f} MiB | {'met' if w9r['server_peak_mib'] <= limit else '**not met**'} |")
    return rows


def _mib(size):
    for unit, scale in (("GiB", 1024), ("MiB", 1)):
        if size.endswith(unit):
            return float(size[: -len(unit)]) * scale
    return float("inf")


def markdown():
    lines = []
    w7r = RESULTS.get("W7")
    if w7r:
        lines += ["", f"## W7: dashboard queries, {w7r['rows']:,} requests of {W7_RUNS:,} runs", "",
                  f"`{W7_QUERIES}` one-run queries (distinct run ids) per round, after 20 warm-up ones; one ADBC",
                  "connection to `runlake serve` (release, local lake of "
                  f"{w7r['files']} files from {W7_DAYS} daily files) against DuckDB in-process",
                  "over the same Parquet files. Latency is the client's: execute and fetch. Each round",
                  "gives a median and a P99; the table has the median over rounds with min-max.", "",
                  "| engine | median ms (min-max) | P99 ms (min-max) | same result |",
                  "|---|---|---|---|"]
        for name, rs in w7r["rounds"].items():
            meds, p99s = [m for m, _ in rs], [p for _, p in rs]
            lines.append(f"| {name} | {statistics.median(meds):.1f} ({min(meds):.1f}-{max(meds):.1f}) | "
                         f"{statistics.median(p99s):.1f} ({min(p99s):.1f}-{max(p99s):.1f}) | "
                         f"{'-' if name == 'runlake' else ('yes' if w7r['same'] else 'no')} |")
        lines += ["", f"Server peak memory {w7r['server_peak_mib']:,.0f} MiB; the lake's ingest took "
                  f"{w7r['ingest_s']:.1f} s."]
    w8r = RESULTS.get("W8")
    if w8r:
        lines += ["", f"## W8: one day and one model of {w8r['rows']:,} requests over {W8_DAYS} days", "",
                  f"{W8_DAYS} `runlake ingest` runs, one daily file each ({w8r['ingest_s']:.0f} s in all, peak "
                  f"{w8r['ingest_peak_mib']:,.0f} MiB each at most): {w8r['files']} files, "
                  f"{w8r['table_bytes'] / 2**20:,.0f} MiB. The query's times are in the main table.", "",
                  "| | |", "|---|---:|",
                  f"| rows matching (one day, one model) | {w8r['matching_rows']:,.0f} |",
                  f"| their share of the table's bytes | {w8r['matching_bytes'] / 2**20:,.1f} MiB |",
                  f"| bytes runlake's scans fetched (`bytes_scanned` of EXPLAIN ANALYZE) | "
                  f"{w8r['bytes_scanned'] / 2**20:,.1f} MiB |"]
    w9r = RESULTS.get("W9")
    if w9r:
        lines += ["", f"## W9: {w9r['clients']} clients and an ingest a second, {w9r['rows']:,} rows", "",
                  f"{w9r['clients']} ADBC connections (threads of one Python process) run W1 on the table for "
                  f"{w9r['seconds']:.0f} s against `runlake serve --memory-limit {w9r['memory_limit']}`, while",
                  "`runlake ingest` appends a distinct 10k-row CSV to the same table once a second. The",
                  "ceiling is W1 run 20 times back to back in one `runlake sql` (median of 3).", "",
                  "| | |", "|---|---:|",
                  f"| throughput | {w9r['qps']:.2f} queries/s ({w9r['queries']} queries) |",
                  f"| ceiling | {w9r['ceiling']:.2f} queries/s ({', '.join(f'{c:.2f}' for c in w9r['ceiling_runs'])}) |",
                  f"| latency p50 / p99 | {w9r['p50']:,.0f} / {w9r['p99']:,.0f} ms |",
                  f"| errors | {len(w9r['errors'])} |",
                  f"| ingests | {w9r['ingests']} (p50 {w9r['ingest_p50_s']:.2f} s, max {w9r['ingest_max_s']:.2f} s) |",
                  f"| rows after / expected | {w9r['rows_after']:,.0f} / {w9r['rows_expected']:,.0f} |",
                  f"| table files after | {w9r['files_after']} |",
                  f"| server peak memory | {w9r['server_peak_mib']:,.0f} MiB |"]
        for e in w9r["errors"][:5]:
            lines.append(f"- error: `{e}`")
    return lines

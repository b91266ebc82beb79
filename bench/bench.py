"""Runs the workloads of BENCHMARKS.md on runlake and its peers, interleaved, and writes
the results table. Called by bench/run (which builds runlake and the Python environment).

    python bench/bench.py --runlake target/release/runlake --sizes 1000000 10000000 --runs 5

With --baseline OTHER (a runlake binary built from an earlier commit), every workload also
runs that binary, interleaved with the rest, as the engine "runlake-baseline": a change
that makes a workload slower shows up in one run, on the same data, in the same minutes.
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import queries  # noqa: E402

PY = sys.executable


def run_child(argv, env=None):
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    # Read the output, then reap the child with wait4 for its own rusage.
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:5])} failed ({proc.returncode}): {err.decode()[-3000:]}")
    return wall, usage.ru_maxrss / 1024.0, out.decode()


def csv_numbers(text):
    nums = []
    for line in text.splitlines():
        for cell in line.split(","):
            try:
                nums.append(float(cell))
            except ValueError:
                pass
    return nums


class Bench:
    def __init__(self, runlake, runs):
        self.runlake = os.path.abspath(runlake)
        self.runs = runs
        self.results = []  # dicts: workload, size, engine, times, rss, check

    def runlake_sql(self, sql, lake, binary=None):
        wall, rss, out = run_child([binary or self.runlake, "--lake", lake, "sql", "--format", "csv", sql])
        return wall, rss, csv_numbers(out)

    def peer(self, engine, workload, f, extra=None):
        argv = [PY, os.path.join(HERE, "engines.py"), engine, workload, f]
        if extra:
            argv.append(extra)
        _, rss, out = run_child(argv)
        r = json.loads(out.strip().splitlines()[-1])
        return r["seconds"], rss, r["check"]

    def interleave(self, workload, size, engines):
        """engines: name -> callable returning (seconds, rss_mib, check)."""
        print(f"{workload} at {size:,} rows: warm-up", flush=True)
        for fn in engines.values():
            fn()
        rec = {name: {"times": [], "rss": [], "check": None} for name in engines}
        for i in range(self.runs):
            for name, fn in engines.items():
                seconds, rss, check = fn()
                rec[name]["times"].append(seconds)
                rec[name]["rss"].append(rss)
                rec[name]["check"] = check
            print(f"  run {i + 1}/{self.runs}: " + ", ".join(
                f"{n} {rec[n]['times'][-1]:.2f}s" for n in engines), flush=True)
        for name, r in rec.items():
            self.results.append({"workload": workload, "size": size, "engine": name, **r})


def agree(a, b, tol=1e-6):
    if not a or not b or len(a) != len(b):
        return False
    return all(abs(x - y) <= tol * max(1.0, abs(x), abs(y)) for x, y in zip(a, b))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runlake", required=True)
    ap.add_argument("--sizes", nargs="+", type=int, default=[1_000_000, 10_000_000])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workloads", nargs="+", default=["W1", "W2", "W3", "W4", "W5"])
    ap.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    ap.add_argument("--baseline", help="a runlake binary from an earlier commit, run beside --runlake")
    args = ap.parse_args()
    b = Bench(args.runlake, args.runs)
    base = os.path.abspath(args.baseline) if args.baseline else None

    def with_baseline(engines, make):
        """engines plus "runlake-baseline" (from make(binary)) right after runlake."""
        if not base:
            return engines
        out = {}
        for name, fn in engines.items():
            out[name] = fn
            if name == "runlake":
                out["runlake-baseline"] = make(base)
        return out

    work = tempfile.mkdtemp(prefix="runlake-bench-")
    empty_lake = os.path.join(work, "empty-lake")
    try:
        for size in args.sizes:
            print(f"data: {size:,} rows", flush=True)
            # In a child process: Linux counts the harness's own resident set into each
            # child's peak (the exec'ing child starts from the harness's memory), so the
            # harness must stay small for the peak-memory column to mean anything.
            data = subprocess.run([PY, os.path.join(HERE, "gen.py"), str(size)], check=True,
                                  capture_output=True, text=True).stdout.strip()
            pred = os.path.join(data, "predictions.parquet")
            steps = os.path.join(data, "steps.parquet")
            csv = os.path.join(data, "predictions.csv")
            small = size <= 1_000_000
            if "W1" in args.workloads:
                engines = {
                    "runlake": lambda: b.runlake_sql(queries.W1["runlake"].format(f=pred), empty_lake),
                    "duckdb": lambda: b.peer("duckdb", "W1", pred),
                    "polars": lambda: b.peer("polars", "W1", pred),
                }
                if small:
                    engines["pandas+scipy"] = lambda: b.peer("pandas", "W1", pred)
                b.interleave("W1", size, with_baseline(engines, lambda bin: lambda: b.runlake_sql(
                    queries.W1["runlake"].format(f=pred), empty_lake, bin)))
            if "W2" in args.workloads:
                b.interleave("W2", size, with_baseline({
                    "runlake": lambda: b.runlake_sql(queries.W2["runlake"].format(f=pred), empty_lake),
                    "duckdb": lambda: b.peer("duckdb", "W2", pred),
                    "polars": lambda: b.peer("polars", "W2", pred),
                }, lambda bin: lambda: b.runlake_sql(queries.W2["runlake"].format(f=pred), empty_lake, bin)))
            if "W3" in args.workloads:
                b.interleave("W3", size, with_baseline({
                    "runlake": lambda: b.runlake_sql(queries.W3["runlake"].format(f=steps), empty_lake),
                    "duckdb": lambda: b.peer("duckdb", "W3", steps),
                    "polars": lambda: b.peer("polars", "W3", steps),
                }, lambda bin: lambda: b.runlake_sql(queries.W3["runlake"].format(f=steps), empty_lake, bin)))
            lake = os.path.join(work, f"lake-{size}")
            if "W4" in args.workloads or "W5" in args.workloads:
                def ingest(binary=b.runlake, into=lake):
                    shutil.rmtree(into, ignore_errors=True)
                    wall, rss, _ = run_child([binary, "--lake", into, "ingest", csv,
                                              "--table", "predictions"])
                    return wall, rss, [float(size)]
                out_parquet = os.path.join(work, "duckdb.parquet")
                engines = {"runlake": ingest, "duckdb": lambda: b.peer("duckdb", "W4", csv, out_parquet)}
                if "W4" in args.workloads:
                    # The baseline ingests into a lake of its own, so W5 reads runlake's.
                    b.interleave("W4", size, with_baseline(engines, lambda bin: lambda: ingest(
                        bin, lake + "-baseline")))
                else:
                    ingest()
            if "W5" in args.workloads:
                servers = []

                def serve(binary):
                    server = subprocess.Popen([binary, "--lake", lake, "serve", "--addr", "127.0.0.1:0"],
                                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                    servers.append(server)
                    line = server.stdout.readline().decode()
                    return "grpc://" + line.split("://")[1].split()[0]
                try:
                    uri = serve(b.runlake)
                    base_uri = serve(base) if base else None
                    b.interleave("W5", size, with_baseline({
                        "runlake": lambda: b.peer("runlake-adbc", "W5", pred, uri),
                        # The same Parquet files the server reads: the table's folder
                        # (one commit; pyarrow skips _delta_log).
                        "pyarrow": lambda: b.peer("pyarrow", "W5", os.path.join(lake, "predictions")),
                    }, lambda bin: lambda: b.peer("runlake-adbc", "W5", pred, base_uri)))
                finally:
                    for server in servers:
                        server.terminate()
                        server.wait()
            # The table so far, so that an interrupted run still leaves what it measured.
            write_markdown(args, b.results)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with open(os.path.join(HERE, "results.json"), "w") as fh:
        json.dump(b.results, fh, indent=1)


def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}"


TARGETS = {
    "W1": ("polars", 0.5, "time <= 0.5x Polars'"),
    "W2": ("duckdb", 0.8, "time <= 0.8x DuckDB's"),
    "W3": ("duckdb", 0.8, "time <= 0.8x DuckDB's"),
    "W4": ("duckdb", 1 / 0.7, "throughput >= 0.7x DuckDB's (time <= 1.43x)"),
    "W5": ("pyarrow", 2.0, "rate >= 0.5x in-process pyarrow (time <= 2x)"),
}


def write_markdown(args, results):
    rv = subprocess.run([args.runlake, "--version"], capture_output=True, text=True).stdout.strip()
    lines = [
        "# Benchmarks",
        "",
        "runlake against the tools a user would otherwise pick, on the same files, the same",
        "machine, interleaved in one run (`bench/run`; the data is `bench/gen.py`, seed 42).",
        f"Each cell: the median of {args.runs} timed runs after a warm-up, with min-max; rows/s is",
        "input rows per second at the median; peak memory is the process's peak resident set",
        "(for the Python peers it includes the interpreter and the library, about 60-150 MiB;",
        "Linux counts the harness's own resident set, about 20 MiB, as every child's floor).",
        "runlake is timed as a whole `runlake sql` process (start-up and opening the lake included);",
        "the peers are timed in-process around the query (imports not timed).",
        "",
        f"- Machine: {machine()}",
        f"- Versions: {rv}; " + ", ".join(
            f"{p} {version(p)}" for p in ("duckdb", "polars", "pandas", "scipy", "pyarrow", "adbc-driver-flightsql")),
        f"- Run on: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        "| workload | rows | engine | median s (min-max) | ratio to DuckDB | rows/s | peak MiB | same result |",
        "|---|---:|---|---|---:|---:|---:|---|",
    ]
    largest = max(r["size"] for r in results)
    by = {}
    for r in results:
        by.setdefault((r["workload"], r["size"]), {})[r["engine"]] = r
    verdicts = []
    for (w, size), engines in by.items():
        ref = engines.get("runlake")
        duck = engines.get("duckdb")
        for name, r in engines.items():
            med = statistics.median(r["times"])
            ratio = med / statistics.median(duck["times"]) if duck else None
            same = "-" if name == "runlake" else ("yes" if agree(ref["check"], r["check"]) else "no")
            lines.append(
                f"| {w} | {size:,} | {name} | {med:.3f} ({min(r['times']):.3f}-{max(r['times']):.3f}) | "
                f"{'' if ratio is None else f'{ratio:.2f}x'} | {size / med:,.0f} | "
                f"{statistics.median(r['rss']):,.0f} | {same} |"
            )
        peer, limit, text = TARGETS[w]
        if peer in engines and size == largest:
            got = statistics.median(ref["times"]) / statistics.median(engines[peer]["times"])
            verdicts.append(f"| {w} | {text} | {got:.2f}x {peer} | {'met' if got <= limit else '**not met**'} |")
        if "runlake-baseline" in engines and size == largest:
            got = statistics.median(ref["times"]) / statistics.median(engines["runlake-baseline"]["times"])
            verdicts.append(f"| {w} | no slower than the baseline binary | {got:.2f}x baseline | |")
        if w == "W1" and duck and size == largest:
            m = statistics.median(ref["rss"]) / statistics.median(duck["rss"])
            verdicts.append(f"| W1 memory | peak memory <= DuckDB's | {m:.2f}x DuckDB | {'met' if m <= 1 else '**not met**'} |")
    lines += ["", f"## Targets at {largest:,} rows", "",
              "| workload | target | measured (runlake / peer time) | |", "|---|---|---|---|"] + verdicts
    lines += ["", "## The queries", ""]
    for w in args.workloads:
        for name, q in getattr(queries, w).items():
            lines += [f"{w}, {name}:", "", "```" + ("sql" if name in ("runlake", "duckdb") and w != "W4" else "python"), q.strip(), "```", ""]
    old = open(args.out).read() if os.path.exists(args.out) else ""
    marker = "<!-- notes -->"
    notes = old.split(marker, 1)[1] if marker in old else "\n"
    with open(args.out, "w") as fh:
        fh.write("\n".join(lines) + "\n" + marker + notes)


if __name__ == "__main__":
    main()

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
import serving  # noqa: E402

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

    run_child = staticmethod(run_child)

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
    ap.add_argument("--workloads", "--only", nargs="+", dest="workloads",
                    default=["W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W9"])
    ap.add_argument("--seconds", type=float, default=60, help="how long W9's clients run")
    ap.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    ap.add_argument("--baseline", help="a runlake binary from an earlier commit, run beside --runlake")
    args = ap.parse_args()
    b = Bench(args.runlake, args.runs)
    base = os.path.abspath(args.baseline) if args.baseline else None
    # The workloads not run this time keep their last results (bench/results.json), so
    # `--only W7` refreshes W7's rows and leaves the rest of BENCHMARKS.md as it was.
    kept = []
    saved = os.path.join(HERE, "results.json")
    if os.path.exists(saved):
        with open(saved) as fh:
            old = json.load(fh)
        if isinstance(old, list):
            old = {"results": old, "serving": {}}
        kept = [r for r in old["results"] if r["workload"].split("-")[0] not in args.workloads]
        for w, r in old.get("serving", {}).items():
            if w not in args.workloads:
                serving.RESULTS[w] = r
        if "W6" not in args.workloads:
            for query, size, engine, value in old.get("shuffle", []):
                SHUFFLE[(query, size, engine)] = value
        b.results.extend(kept)

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
            if "W6" in args.workloads:
                w6(b, work, size, csv)
            # W7 and W8 run once, at the largest size (W8 at ten times it); W9 at the
            # smallest, with the largest size's CSV as the source of its appends.
            if size == max(args.sizes):
                if "W7" in args.workloads:
                    serving.w7(b, work, size)
                if "W8" in args.workloads:
                    serving.w8(b, work, size * 10)
            if size == min(args.sizes) and "W9" in args.workloads:
                big = subprocess.run([PY, os.path.join(HERE, "gen.py"), str(max(args.sizes))], check=True,
                                     capture_output=True, text=True).stdout.strip()
                serving.w9(b, work, size, csv, os.path.join(big, "predictions.csv"), args.seconds)
            # The table so far, so that an interrupted run still leaves what it measured.
            write_markdown(args, b.results)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with open(saved, "w") as fh:
        json.dump({"results": b.results, "serving": serving.RESULTS,
                   "shuffle": [[*k, v] for k, v in SHUFFLE.items()]}, fh, indent=1)


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


class LocalCluster:
    """A scheduler and `executors` executors of `runlake` on 127.0.0.1, over `lake`; the
    executors share the machine's cores (--concurrent-tasks = cores / executors)."""

    def __init__(self, runlake, lake, executors, work):
        self.procs = []
        self.work_dirs = []
        sched = subprocess.Popen([runlake, "cluster", "scheduler", "--bind", "127.0.0.1:0"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.procs.append(sched)
        self.url = sched.stdout.readline().decode().split()[-1]
        tasks = max(1, (os.cpu_count() or 2) // executors)
        for i in range(executors):
            wd = os.path.join(work, f"executor-{executors}-{i}")
            os.makedirs(wd, exist_ok=True)
            self.work_dirs.append(wd)
            ex = subprocess.Popen([runlake, "--lake", lake, "cluster", "executor", "--scheduler",
                                   self.url.removeprefix("df://"), "--concurrent-tasks", str(tasks),
                                   "--work-dir", wd],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            self.procs.append(ex)
            if not ex.stdout.readline():
                raise SystemExit("a runlake executor did not start")

    def shuffle_bytes(self):
        return sum(dir_bytes(d) for d in self.work_dirs)

    def peak_rss_mib(self):
        """The executors' and the scheduler's peak resident sets so far, summed."""
        total = 0
        for p in self.procs:
            try:
                for line in open(f"/proc/{p.pid}/status"):
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1]) / 1024
            except OSError:
                pass
        return total

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait()


SHUFFLE = {}  # (query, size, engine) -> median bytes a run wrote to the executors' shuffle


def w6(b, work, size, csv):
    """W1 and W2 on a lake table (the predictions CSV ingested): one machine against a
    cluster of 1 and 2 executors on it."""
    lake = os.path.join(work, f"lake-w6-{size}")
    shutil.rmtree(lake, ignore_errors=True)
    run_child([b.runlake, "--lake", lake, "ingest", csv, "--table", "predictions"])
    clusters = {}
    try:
        for n in (1, 2):
            clusters[n] = LocalCluster(b.runlake, lake, n, work)
        for query in ("W1", "W2"):
            sql = queries.W6[query]
            shuffles = {n: [] for n in clusters}

            def on(n):
                def run():
                    c = clusters[n]
                    before = c.shuffle_bytes()
                    wall, rss, out = run_child([b.runlake, "--lake", lake, "--cluster", c.url,
                                                "sql", "--format", "csv", sql])
                    shuffles[n].append(max(0, c.shuffle_bytes() - before))
                    # The client's peak plus the cluster processes' peaks.
                    return wall, rss + c.peak_rss_mib(), csv_numbers(out)
                return run
            engines = {"runlake": lambda: b.runlake_sql(sql, lake)}
            for n in clusters:
                engines[f"runlake-cluster-{n}"] = on(n)
            b.interleave(f"W6-{query}", size, engines)
            for n in clusters:
                SHUFFLE[(query, size, f"runlake-cluster-{n}")] = statistics.median(shuffles[n])
    finally:
        for c in clusters.values():
            c.stop()
        shutil.rmtree(lake, ignore_errors=True)


def w6_markdown(by, largest):
    """W6: the cost of distribution on one box, and a projection to 1B rows."""
    rows = []
    for query in ("W1", "W2"):
        engines = by.get((f"W6-{query}", largest))
        if not engines or "runlake" not in engines:
            continue
        single = statistics.median(engines["runlake"]["times"])
        for name, r in engines.items():
            med = statistics.median(r["times"])
            shuffle = SHUFFLE.get((query, largest, name))
            same = "-" if name == "runlake" else (
                "yes" if agree(engines["runlake"]["check"], r["check"], 1e-9) else "no")
            rows.append(f"| {query} | {name} | {med:.3f} | {med / single:.2f}x | "
                        f"{'' if shuffle is None else f'{shuffle / 2**20:,.1f}'} | {same} |")
        one = engines.get("runlake-cluster-1")
        if one:
            per_executor = largest / statistics.median(one["times"])
            shuffle = SHUFFLE.get((query, largest, "runlake-cluster-1"), 0)
            # W1's functions buffer every value (spearman: 16 B a row, p95: 8 B): its
            # shuffle grows with the rows. W2's are fixed-size: its shuffle grows with
            # groups x partitions, which 1B rows do not change.
            scale = 1e9 / largest if query == "W1" else 1.0
            for n in (8, 32):
                scan = 1e9 / (per_executor * n)
                net = shuffle * scale / 1.25e9  # 10 Gbit/s, one link's worth
                rows.append(f"| {query} | projected, 1B rows on {n} executors | {scan + net:,.0f} | "
                            f"| {shuffle * scale / 2**20:,.1f} | |")
    if not rows:
        return []
    return ["", f"## W6: the same SQL on a Ballista cluster on this machine, {largest:,} rows", "",
            "One machine against a scheduler and 1 or 2 executors of the same binary on it (the",
            "executors share the cores: `--concurrent-tasks` = cores / executors), the table in a",
            "local lake. Time is the whole `runlake --cluster ... sql` process; shuffle is what the",
            "executors wrote to their work folders for one run. Peak memory in the main table sums",
            "the client's, the scheduler's and the executors' peaks.",
            "",
            "| query | engine | median s | vs one machine | shuffle MiB | same result |",
            "|---|---|---:|---:|---:|---|"] + rows + [
            "",
            "Projection assumptions: per-executor throughput is this run's rows/s with 1 executor",
            "(2 cores), scaling linearly with executors and rows; shuffle bytes scale with rows for",
            "W1 (its spearman and p95 keep every value) and stay as measured for W2 (fixed-size",
            "states: groups x partitions); the shuffle crosses one 10 Gbit/s link at full rate, not",
            "overlapped with the scan. W1's final step holds all of one framework's values in one",
            "task (6 frameworks: about 167M rows, 4 GB of state each at 1B rows), so it can use at",
            "most 6 executors for that step whatever N is: a floor the projection does not model."]


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
    "W1": ("polars", 0.2, "time <= 0.2x Polars'"),
    "W2": ("duckdb", 0.5, "time <= 0.5x DuckDB's"),
    "W3": ("duckdb", 0.4, "time <= 0.4x DuckDB's"),
    "W4": ("duckdb", 1.0, "time <= 1.0x DuckDB's `COPY` in every run"),
    "W5": ("pyarrow", 1.1, "time <= 1.1x in-process pyarrow"),
    "W8": ("duckdb", 0.5, "time <= 0.5x DuckDB's"),
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
    # W8 runs at ten times the largest size: the size of the other workloads' targets.
    largest = max((r["size"] for r in results if r["workload"] != "W8"), default=max(args.sizes))
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
        peer, limit, text = TARGETS.get(w, (None, None, None))
        if peer in engines and (size == largest or w == "W8"):
            got = statistics.median(ref["times"]) / statistics.median(engines[peer]["times"])
            if w == "W4":
                # Every run, not only the median: run i of runlake against run i of DuckDB.
                worst = max(a / d for a, d in zip(ref["times"], engines[peer]["times"]))
                verdicts.append(f"| {w} | {text} | {got:.2f}x {peer} (worst run {worst:.2f}x) | "
                                f"{'met' if worst <= limit else '**not met**'} |")
                m = statistics.median(ref["rss"]) / statistics.median(engines[peer]["rss"])
                verdicts.append(f"| W4 memory | peak memory <= DuckDB's | {m:.2f}x DuckDB | "
                                f"{'met' if m <= 1 else '**not met**'} |")
            else:
                verdicts.append(f"| {w} | {text} | {got:.2f}x {peer} | {'met' if got <= limit else '**not met**'} |")
            if "runlake-server" in engines:
                got = statistics.median(engines["runlake-server"]["times"]) / statistics.median(
                    engines[peer]["times"])
                verdicts.append(f"| {w} (server) | {text}, through ADBC against `runlake serve` | "
                                f"{got:.2f}x {peer} | {'met' if got <= limit else '**not met**'} |")
        if "runlake-baseline" in engines and size == largest:
            got = statistics.median(ref["times"]) / statistics.median(engines["runlake-baseline"]["times"])
            verdicts.append(f"| {w} | no slower than the baseline binary | {got:.2f}x baseline | |")
        if w == "W1" and duck and size == largest:
            m = statistics.median(ref["rss"]) / statistics.median(duck["rss"])
            verdicts.append(f"| W1 memory | peak memory <= DuckDB's | {m:.2f}x DuckDB | {'met' if m <= 1 else '**not met**'} |")
    verdicts += serving.verdicts()
    lines += ["", f"## Targets at {largest:,} rows (W8: ten times that, W9: {min(args.sizes):,} rows)", "",
              "| workload | target | measured (runlake / peer time) | |", "|---|---|---|---|"] + verdicts
    lines += w6_markdown(by, largest)
    lines += serving.markdown()
    lines += ["", "## The queries", ""]
    present = {r["workload"].split("-")[0] for r in results} | set(serving.RESULTS)
    for w in sorted(present):
        for name, q in getattr(queries, w).items():
            if not isinstance(q, str):
                continue
            lines += [f"{w}, {name}:", "", "```" + ("sql" if (name in ("runlake", "duckdb") and w != "W4") or w == "W6" else "python"), q.strip(), "```", ""]
    old = open(args.out).read() if os.path.exists(args.out) else ""
    marker = "<!-- notes -->"
    notes = old.split(marker, 1)[1] if marker in old else "\n"
    with open(args.out, "w") as fh:
        fh.write("\n".join(lines) + "\n" + marker + notes)


if __name__ == "__main__":
    main()

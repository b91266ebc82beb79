//! runlake on an Apache DataFusion Ballista cluster, as a user runs it: a scheduler and two
//! executors as separate `runlake` processes on 127.0.0.1 (waited on by their ready
//! lines), over a lake on moto's S3 server. Every answer is compared with the same query
//! run on one machine.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::lake::{AWS_ENV, Moto, test_python};
use super::serve::{Server, wait_for_log};
use super::stderr;

const LAKE: &str = "s3://runlake-cluster/lake";

/// A `runlake cluster ...` process: its ready line read, its standard error forwarded
/// line by line. Killed when dropped.
struct Process {
    child: Child,
    /// What the process printed when it was ready.
    ready: String,
    log: Receiver<String>,
}

impl Process {
    fn start(mut command: Command) -> Process {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runlake cluster starts");
        let (send, log) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut ready = String::new();
        stdout.read_line(&mut ready).unwrap();
        assert!(
            !ready.is_empty(),
            "the process ended before it was ready: {}",
            drain(&log).join("\n")
        );
        // Keep standard output drained.
        std::thread::spawn(move || for _ in stdout.lines() {});
        Process {
            child,
            ready: ready.trim().to_string(),
            log,
        }
    }

    /// Sends `signal` to this process (one this test started, by its PID).
    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits at most `seconds` for the process to end.
    fn wait(&mut self, seconds: u64) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the process did not end within {seconds} s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines logged so far.
fn drain(log: &Receiver<String>) -> Vec<String> {
    log.try_iter().collect()
}

/// The jobs an executor logged a task of, from its log lines.
fn jobs(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.contains("event=cluster_task"))
        .filter_map(|l| l.split_whitespace().find_map(|kv| kv.strip_prefix("job=")))
        .map(str::to_string)
        .collect()
}

/// A scheduler and executors over the moto lake.
struct Cluster<'a> {
    moto: &'a Moto,
    dir: &'a Path,
    scheduler: Process,
    executors: Vec<Process>,
    /// `df://HOST:PORT`.
    url: String,
}

impl<'a> Cluster<'a> {
    fn start(moto: &'a Moto, dir: &'a Path, executors: usize) -> Cluster<'a> {
        let scheduler = Process::start(moto.command(
            dir,
            LAKE,
            &[
                "cluster",
                "scheduler",
                "--bind",
                "127.0.0.1:0",
                "--executor-timeout",
                "5s",
            ],
        ));
        let url = scheduler
            .ready
            .split_whitespace()
            .find(|w| w.starts_with("df://"))
            .unwrap_or_else(|| panic!("no address in {:?}", scheduler.ready))
            .to_string();
        let mut cluster = Cluster {
            moto,
            dir,
            scheduler,
            executors: Vec::new(),
            url,
        };
        cluster.executors = (0..executors).map(|_| cluster.executor()).collect();
        cluster
    }

    /// Starts an executor of this cluster and waits until the scheduler has it.
    fn executor(&self) -> Process {
        let address = self.url.trim_start_matches("df://");
        let executor = Process::start(self.moto.command(
            self.dir,
            LAKE,
            &[
                "cluster",
                "executor",
                "--scheduler",
                address,
                "--concurrent-tasks",
                "2",
            ],
        ));
        assert!(
            executor
                .ready
                .starts_with("runlake cluster executor: ready on 127.0.0.1:"),
            "{}",
            executor.ready
        );
        executor
    }

    /// `runlake --cluster URL ARGS` on the lake.
    fn command(&self, args: &[&str]) -> Command {
        let mut all = vec!["--cluster", self.url.as_str()];
        all.extend_from_slice(args);
        self.moto.command(self.dir, LAKE, &all)
    }

    /// Starts `runlake --cluster URL ARGS`, its output captured.
    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Runs `runlake --cluster URL ARGS` (at most 300 s) and returns its output.
    fn ok(&self, args: &[&str]) -> String {
        let out = wait_output(self.spawn(args), 300);
        assert!(
            out.status.success(),
            "runlake --cluster {args:?} failed: {}",
            stderr(&out)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

/// Whether two answers are the same: equal text, or numbers within 1e-12 relative.
fn same_value(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => {
            x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs()) || (x.is_nan() && y.is_nan())
        }
        _ => false,
    }
}

/// Asserts two CSV outputs hold the same rows (in order), numbers to 1e-12 relative.
fn assert_same_csv(what: &str, cluster: &str, single: &str) {
    let rows = |t: &str| -> Vec<Vec<String>> {
        t.lines()
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect()
    };
    let (c, s) = (rows(cluster), rows(single));
    assert_eq!(
        c.len(),
        s.len(),
        "{what}: row counts differ\n{cluster}\n--\n{single}"
    );
    assert!(s.len() > 1, "{what}: no rows\n{single}");
    for (i, (rc, rs)) in c.iter().zip(&s).enumerate() {
        assert_eq!(rc.len(), rs.len(), "{what}: row {i}");
        for (vc, vs) in rc.iter().zip(rs) {
            assert!(
                same_value(vc, vs),
                "{what}: row {i}: cluster {vc} != single node {vs}"
            );
        }
    }
}

/// Asserts two JSON documents are the same, numbers to 1e-12 relative, ignoring the
/// time they were made.
fn assert_same_json(what: &str, cluster: &Value, single: &Value) {
    match (cluster, single) {
        // A p-value is a steep function of its statistic: one ulp of a correlation
        // summed in another order moves a p of 1e-170 by 1e-12 of itself. Its logarithm
        // is what carries 1e-12 relative.
        (Value::Number(a), Value::Number(b)) if what.ends_with("_p") => {
            let (x, y) = (a.as_f64().unwrap().ln(), b.as_f64().unwrap().ln());
            assert!(
                x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
                "{what}: cluster {a} != single node {b}"
            )
        }
        (Value::Number(a), Value::Number(b)) => assert!(
            same_value(&a.to_string(), &b.to_string()),
            "{what}: cluster {a} != single node {b}"
        ),
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{what}: lengths differ");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_same_json(&format!("{what}[{i}]"), x, y);
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            let keys = |o: &serde_json::Map<String, Value>| {
                o.keys()
                    .filter(|k| *k != "generated_at")
                    .cloned()
                    .collect::<Vec<_>>()
            };
            assert_eq!(keys(a), keys(b), "{what}: keys differ");
            for key in keys(a) {
                assert_same_json(&format!("{what}.{key}"), &a[&key], &b[&key]);
            }
        }
        (a, b) => assert_eq!(a, b, "{what}"),
    }
}

/// The brief's question, and every function whose state buffers values.
const ACCURACY: &str = "SELECT framework, count(*) AS n, pearson(predicted_ms, actual_ms) AS r, \
     spearman(predicted_ms, actual_ms) AS rho, kendall_tau(predicted_ms, actual_ms) AS tau, \
     r2_score(actual_ms, predicted_ms) AS r2, mape(actual_ms, predicted_ms) AS mape, \
     medae(actual_ms, predicted_ms) AS medae, p50(actual_ms) AS p50, p99(actual_ms) AS p99, \
     mad(actual_ms) AS mad, iqr(actual_ms) AS iqr, outlier_fraction(actual_ms) AS outliers, \
     cv(actual_ms) AS cv FROM predictions GROUP BY framework ORDER BY framework";

/// About 100k groups.
const GROUPS: &str = "SELECT k, count(*) AS n, avg(x) AS mean, spearman(x, y) AS rho, \
     p99(x) AS p99, median(y) AS median FROM wide GROUP BY k ORDER BY k";

/// A list column.
const LISTS: &str = "SELECT run_id, count(*) AS steps, avg(list_stddev_pop(chunk_sizes)) AS s, \
     sum(array_sum(computed_tokens)) AS tokens FROM steps GROUP BY run_id ORDER BY run_id";

const WIDE: &str = "CREATE TABLE wide AS SELECT value % 100000 AS k, \
     CAST((value * 7919) % 1000 AS DOUBLE) + value / 1000.0 AS x, \
     CAST((value * 104729) % 997 AS DOUBLE) AS y FROM generate_series(1, 400000)";

#[test]
fn a_cluster_of_two_executors_answers_as_one_machine_does() {
    let moto = Moto::start("runlake-cluster");
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    moto.ok(dir, LAKE, &["demo"]);
    moto.ok(dir, LAKE, &["sql", WIDE]);
    let single = |sql: &str| moto.ok(dir, LAKE, &["sql", "--format", "csv", sql]);

    let mut cluster = Cluster::start(&moto, dir, 2);
    let on_cluster = |sql: &str| cluster.ok(&["sql", "--format", "csv", sql]);

    // The brief's question as a user types it, then the functions that buffer values,
    // a 100k-group query and a list column: the same numbers as one machine.
    let brief = "SELECT framework, pearson(predicted_ms, actual_ms), \
                 spearman(predicted_ms, actual_ms), p99(actual_ms) FROM predictions \
                 GROUP BY framework ORDER BY framework";
    assert_same_csv("brief", &on_cluster(brief), &single(brief));
    assert_same_csv("accuracy", &on_cluster(ACCURACY), &single(ACCURACY));
    let groups = single(GROUPS);
    assert_eq!(groups.lines().count(), 100_001);
    assert_same_csv("100k groups", &on_cluster(GROUPS), &groups);
    assert_same_csv("lists", &on_cluster(LISTS), &single(LISTS));
    // Each branch of a UNION ALL once (Ballista's adaptive planner repeats them).
    let union = "SELECT 'a' AS f, count(*) AS n FROM steps UNION ALL \
                 SELECT 'b', count(*) FROM predictions UNION ALL SELECT 'c', count(*) FROM wide";
    let sorted = |t: String| {
        let mut lines: Vec<String> = t.lines().map(str::to_string).collect();
        lines.sort();
        lines.join("\n")
    };
    assert_eq!(sorted(on_cluster(union)), sorted(single(union)));

    // A table created from a distributed query commits through the lake.
    let ctas = "CREATE TABLE per_framework AS SELECT framework, count(*) AS n, \
                p99(actual_ms) AS p99 FROM predictions GROUP BY framework";
    assert!(on_cluster(ctas).contains("created table per_framework with 6 rows"));
    let check = "SELECT * FROM per_framework ORDER BY framework";
    let by_framework = "SELECT framework, count(*) AS n, p99(actual_ms) AS p99 \
                        FROM predictions GROUP BY framework ORDER BY framework";
    assert_same_csv("CREATE TABLE AS", &single(check), &single(by_framework));

    // Every shipped report.
    let reports = moto.ok(dir, LAKE, &["report", "--list"]);
    let names: Vec<&str> = reports
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| {
            crate::repo()
                .join("sql/reports")
                .join(format!("{n}.sql"))
                .is_file()
        })
        .collect();
    assert_eq!(names.len(), 5, "{reports}");
    for name in &names {
        let report = |out: String| -> Value { serde_json::from_str(&out).unwrap() };
        let one = report(moto.ok(dir, LAKE, &["report", name, "--format", "json"]));
        let many = report(cluster.ok(&["report", name, "--format", "json"]));
        assert_same_json(name, &many, &one);
    }

    // The plans ran on both executors: each logged tasks.
    let logs: Vec<Vec<String>> = cluster.executors.iter().map(|e| drain(&e.log)).collect();
    for (i, log) in logs.iter().enumerate() {
        assert!(
            !jobs(log).is_empty(),
            "executor {i} ran no task; its log:\n{}",
            log.join("\n")
        );
    }
    let mut seen: Vec<String> = logs.iter().flat_map(|l| jobs(l)).collect();

    // An append and a compaction while a distributed query runs change nothing in its
    // answer: it reads the version it was planned against.
    let count = "SELECT count(*) AS n, sum(x) AS s FROM wide";
    let before = single(count);
    let query = cluster.spawn(&["sql", "--format", "csv", GROUPS]);
    let job = wait_for_new_job(&cluster.executors, &mut seen, 120);
    moto.ok(
        dir,
        LAKE,
        &[
            "sql",
            "INSERT INTO wide SELECT k, x + 1, y FROM wide WHERE k < 500",
        ],
    );
    moto.ok(dir, LAKE, &["compact", "--table", "wide"]);
    let out = wait_output(query, 300);
    assert!(out.status.success(), "job {job}: {}", stderr(&out));
    assert_same_csv(
        "during an ingest",
        &String::from_utf8(out.stdout).unwrap(),
        &groups,
    );
    let after = single(count);
    assert_ne!(after, before);
    assert_same_csv("after the ingest", &on_cluster(count), &after);

    // A Flight SQL server in front of the cluster: a read-only user reads the same
    // numbers through ADBC and may not write.
    let users = dir.join("users.json");
    super::security::add_users(dir, &users, &[("reader", "read", "r3ader-pw")]);
    let mut args = moto.lake_args(LAKE);
    args.extend(
        [
            "--users",
            users.to_str().unwrap(),
            "--cluster",
            &cluster.url,
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (server, server_log) = Server::start_watched(dir, &args, AWS_ENV);
    let adbc =
        flight_client(&["query", &server.uri, ACCURACY, "reader", "r3ader-pw"])["rows"].clone();
    let expected = single(ACCURACY);
    let csv: Vec<String> = std::iter::once(expected.lines().next().unwrap().to_string())
        .chain(adbc.as_array().unwrap().iter().map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(",")
        }))
        .collect();
    assert_same_csv("ADBC", &(csv.join("\n") + "\n"), &expected);
    let denied = flight_client(&["denied", &server.uri, "reader", "r3ader-pw"]);
    assert_eq!(denied["read"], 3600, "{denied}");
    for (write, role) in [("ingest", "write"), ("create", "write"), ("drop", "admin")] {
        let error = denied[write].as_str().unwrap();
        assert!(
            error.contains("PermissionDenied") && error.contains(&format!("needs the {role} role")),
            "{write}: {error}"
        );
    }
    assert_eq!(after, single(count), "the reader changed the lake");
    // The server's queries ran on the cluster.
    let server_jobs = wait_for_new_job(&cluster.executors, &mut seen, 60);
    assert!(!server_jobs.is_empty());
    drop(server);
    drop(server_log);

    // A query the server stops at its timeout is cancelled on the cluster too, not left
    // running there: a cross join of 400k x 400k rows, which no machine finishes in 1 s.
    let mut args = moto.lake_args(LAKE);
    args.extend(["--query-timeout", "1s", "--cluster", &cluster.url].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (server, server_log) = Server::start_watched(dir, &args, AWS_ENV);
    let endless = "SELECT sum(a.x * b.y) FROM wide a CROSS JOIN wide b";
    let out = Command::new(test_python())
        .arg(crate::repo().join("tests/python/flight_clients.py"))
        .args(["query", &server.uri, endless])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(error.contains("DeadlineExceeded"), "{error}");
    wait_for_log(&server_log, &["event=cluster_job_cancelled", "job="], 60);
    drop(server);
    drop(server_log);
    // The scheduler has cancelled the job, but Ballista 55's executors pull their tasks
    // and have no way to be told to stop one already running (only push-based executors
    // take a cancel): the cross join's task, if it started, runs on. New executors take
    // over, so the rest of the test does not share the cores with it (README: "Outgrowing
    // one machine").
    let executors = cluster.executors.len();
    cluster.executors.clear();
    cluster.executors = (0..executors).map(|_| cluster.executor()).collect();

    // An executor killed mid-query: the query completes with the right answer (its tasks
    // run again on the other executor) or fails with a clear error; the lake is
    // unchanged and the next query succeeds.
    let query = cluster.spawn(&["sql", "--format", "csv", GROUPS]);
    let groups_now = single(GROUPS);
    wait_for_new_job(&cluster.executors[1..], &mut seen, 120);
    cluster.executors[1].signal("-KILL");
    let out = wait_output(query, 300);
    eprintln!(
        "a query with an executor killed under it: {}",
        if out.status.success() {
            "completed".to_string()
        } else {
            stderr(&out)
        }
    );
    if out.status.success() {
        assert_same_csv(
            "after SIGKILL",
            &String::from_utf8(out.stdout).unwrap(),
            &groups_now,
        );
    } else {
        let error = stderr(&out);
        assert!(error.starts_with("runlake: error: "), "{error}");
    }
    assert_eq!(single(count), after, "the lake changed");
    let again = cluster.ok(&["sql", "--format", "csv", ACCURACY]);
    assert_same_csv("after the kill", &again, &expected);

    // SIGTERM stops an executor and the scheduler cleanly.
    cluster.executors[0].signal("-TERM");
    assert!(cluster.executors[0].wait(60).success());
    cluster.scheduler.signal("-TERM");
    assert!(cluster.scheduler.wait(60).success());
    let log = drain(&cluster.scheduler.log).join("\n");
    assert!(log.contains("runlake cluster scheduler: stopped"), "{log}");
}

/// Waits (at most `seconds`) until one of `executors` logs a task of a job not in
/// `seen`, and returns that job.
fn wait_for_new_job(executors: &[Process], seen: &mut Vec<String>, seconds: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        for executor in executors {
            match executor.log.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => {
                    for job in jobs(&[line]) {
                        if !seen.contains(&job) {
                            seen.push(job.clone());
                            return job;
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => panic!("an executor ended"),
            }
        }
        assert!(
            Instant::now() < deadline,
            "no executor started a new job within {seconds} s"
        );
    }
}

/// The output of `child`, waiting at most `seconds`.
fn wait_output(child: Child, seconds: u64) -> Output {
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(child.wait_with_output());
    });
    receive
        .recv_timeout(Duration::from_secs(seconds))
        .unwrap_or_else(|_| panic!("the query did not end within {seconds} s"))
        .unwrap()
}

/// Runs tests/python/flight_clients.py with `args` and returns the JSON it printed.
fn flight_client(args: &[&str]) -> Value {
    let script = crate::repo().join("tests/python/flight_clients.py");
    let out = Command::new(test_python())
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(text.lines().last().unwrap_or_default()).unwrap()
}

/// A `runlake` command on the local lake of `dir` (as [`crate::runlake`] runs it).
fn local(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_runlake"));
    command
        .args(args)
        .current_dir(dir)
        .env("RUNLAKE_LAKE", dir.join("lake"))
        .env_remove("RUNLAKE_CLUSTER")
        .stdin(Stdio::null());
    command
}

#[test]
fn an_executor_over_its_memory_limit_fails_the_task_not_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    crate::ok(dir, &["sql", WIDE]);
    let scheduler = Process::start(local(
        dir,
        &["cluster", "scheduler", "--bind", "127.0.0.1:0"],
    ));
    let url = scheduler.ready.rsplit(' ').next().unwrap().to_string();
    let address = url.trim_start_matches("df://").to_string();
    let executor = Process::start(local(
        dir,
        &[
            "cluster",
            "executor",
            "--scheduler",
            &address,
            "--concurrent-tasks",
            "1",
            "--memory-limit",
            "1MiB",
        ],
    ));
    let run = |sql: &str| {
        let child = local(dir, &["--cluster", &url, "sql", "--format", "csv", sql])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_output(child, 300)
    };
    // Every value of `x` held in one task: over 1 MiB.
    let out = run("SELECT spearman(x, y) AS rho, p99(x) AS p FROM wide");
    assert!(!out.status.success());
    let error = stderr(&out);
    assert!(
        error.starts_with("runlake: error: ") && error.contains("ResourcesExhausted"),
        "{error}"
    );
    // The executor is up and runs the next query.
    let out = run("SELECT count(*) AS n FROM wide");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "n\n400000\n");
    let mut executor = executor;
    assert!(
        executor.child.try_wait().unwrap().is_none(),
        "the executor ended"
    );
    executor.signal("-TERM");
    assert!(executor.wait(60).success());
}

#[test]
fn a_cluster_that_is_not_there_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::runlake(
        dir.path(),
        &["--cluster", "df://127.0.0.1:1", "sql", "SELECT 1"],
    );
    assert!(!out.status.success());
    let error = stderr(&out);
    assert!(
        error.starts_with("runlake: error: ")
            && error.contains("cannot reach the cluster's scheduler at df://127.0.0.1:1: ")
            && error.contains("runlake cluster scheduler")
            && error.lines().count() == 1,
        "{error}"
    );
    let out = crate::runlake(dir.path(), &["--cluster", "127.0.0.1:50050", "tables"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("expected df://HOST:PORT"),
        "{}",
        stderr(&out)
    );
}

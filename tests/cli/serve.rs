//! `runlake serve` with clients nobody here wrote: the ADBC Flight SQL driver (DB-API),
//! `pyarrow.flight`, and `flightsql-dbapi`'s SQLAlchemy dialect (Superset's path), driven
//! by tests/python/flight_clients.py against a server on 127.0.0.1:0.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::lake::test_python;
use super::{ok, runlake, stderr};

/// A running `runlake serve`; killed when dropped.
pub struct Server {
    child: Child,
    pub uri: String,
}

impl Server {
    pub fn start(dir: &Path, args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_runlake"))
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .current_dir(dir)
            .env("RUNLAKE_LAKE", dir.join("lake"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // The server's log, kept beside the lake for a failing test to show.
            .stderr(std::fs::File::create(dir.join("serve.log")).unwrap())
            .spawn()
            .expect("runlake serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("runlake serve printed no address: {line:?}"));
        Server {
            child,
            uri: format!(
                "{}://{address}",
                if line.contains("grpc+tls://") {
                    "grpc+tls"
                } else {
                    "grpc"
                }
            ),
        }
    }

    /// The server's peak resident memory so far, in bytes (Linux: `VmHWM`).
    pub fn peak_memory(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the server's /proc status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("a VmHWM line");
        kib * 1024
    }

    /// Starts a server with `envs` whose log lines also arrive on the returned channel
    /// (see [`wait_for_log`]).
    pub fn start_watched(
        dir: &Path,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> (Server, std::sync::mpsc::Receiver<String>) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_runlake"))
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .envs(envs.iter().copied())
            .current_dir(dir)
            .env("RUNLAKE_LAKE", dir.join("lake"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runlake serve starts");
        let (send, receive) = std::sync::mpsc::channel();
        let forward = |stream: Box<dyn std::io::Read + Send>,
                       send: std::sync::mpsc::Sender<String>| {
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if send.send(line).is_err() {
                        break;
                    }
                }
            })
        };
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        // Both streams stay drained: the server stops on a closed standard output.
        forward(Box::new(stdout), send.clone());
        forward(Box::new(child.stderr.take().unwrap()), send);
        let address = line
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("runlake serve printed no address: {line:?}"));
        let uri = format!("grpc://{address}");
        (Server { child, uri }, receive)
    }

    /// One query run through the ADBC driver, as the client process ends.
    fn run_query(&self, sql: &str) -> std::process::Output {
        let script = crate::repo().join("tests/python/flight_clients.py");
        Command::new(test_python())
            .arg(script)
            .args(["query", &self.uri, sql])
            .output()
            .expect("python runs")
    }

    /// The rows of one query run through the ADBC driver.
    pub fn query(&self, sql: &str) -> Value {
        let out = self.run_query(sql);
        assert!(
            out.status.success(),
            "query {sql} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        serde_json::from_str::<Value>(text.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("no JSON ({e}): {text}"))["rows"]
            .clone()
    }

    /// The error a query run through the ADBC driver fails with, as the client reports it.
    pub fn query_error(&self, sql: &str) -> String {
        let out = self.run_query(sql);
        assert!(!out.status.success(), "query {sql} did not fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Runs a client scenario and returns what it printed.
    fn client(&self, scenario: &str, credentials: Option<(&str, &str)>) -> Value {
        let script = crate::repo().join("tests/python/flight_clients.py");
        let mut command = Command::new(test_python());
        command.arg(script).arg(scenario).arg(&self.uri);
        if let Some((user, password)) = credentials {
            command.arg(user).arg(password);
        }
        let out = command.output().expect("python runs");
        assert!(
            out.status.success(),
            "client {scenario} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        serde_json::from_str(text.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("client {scenario} printed no JSON ({e}): {text}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (at most `seconds`) for a log line containing every one of `parts`; returns
/// the lines seen until then.
pub fn wait_for_log(
    log: &std::sync::mpsc::Receiver<String>,
    parts: &[&str],
    seconds: u64,
) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match log.recv_timeout(left) {
            Ok(line) => {
                let found = parts.iter().all(|p| line.contains(p));
                seen.push(line);
                if found {
                    return seen;
                }
            }
            Err(_) => panic!(
                "no log line with {parts:?} within {seconds} s; the log:\n{}",
                seen.join("\n")
            ),
        }
    }
}

pub fn demo_lake() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["demo"]);
    dir
}

#[test]
fn the_adbc_driver_queries_prepares_ingests_and_browses() {
    let dir = demo_lake();
    let server = Server::start(dir.path(), &[]);
    let out = server.client("adbc", None);

    // Exactly what `runlake sql` computes, to the last bit.
    let local: Value = serde_json::from_str(&ok(
        dir.path(),
        &[
            "sql",
            "--format",
            "json",
            "SELECT framework, pearson(predicted_ms, actual_ms) AS r, mape(actual_ms, predicted_ms) AS m \
             FROM predictions GROUP BY framework ORDER BY framework",
        ],
    ))
    .unwrap();
    let local: Vec<Value> = local
        .as_array()
        .unwrap()
        .iter()
        .map(|row| serde_json::json!([row["framework"], row["r"], row["m"]]))
        .collect();
    assert_eq!(out["accuracy"], Value::Array(local));
    assert_eq!(out["accuracy"].as_array().unwrap().len(), 6);

    // Prepared with parameters, `?` inside a literal left alone.
    let count = ok(
        dir.path(),
        &[
            "sql",
            "--format",
            "csv",
            "SELECT count(*) AS n, sum(actual_ms) AS s FROM predictions WHERE framework = 'vLLM' AND batch_size > 8",
        ],
    );
    let fields: Vec<&str> = count.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(out["prepared"][0][0], fields[0].parse::<i64>().unwrap());
    assert_eq!(out["prepared"][0][1], fields[1].parse::<f64>().unwrap());
    assert_eq!(
        out["literal_question_mark"],
        serde_json::json!([["it's ?", 41.5]])
    );

    // Metadata.
    assert_eq!(
        out["table_schema"][0],
        serde_json::json!(["framework", "string"])
    );
    assert!(
        out["table_schema"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!([
                "_ingested_at",
                "timestamp[ns, tz=UTC]"
            ]))
    );
    let objects = out["objects"].as_array().unwrap();
    for table in [
        "predictions",
        "runs",
        "requests",
        "steps",
        "spans",
        "framework_aliases",
    ] {
        assert!(
            objects.contains(&serde_json::json!([
                "runlake",
                "public",
                table,
                "BASE TABLE"
            ])),
            "{table} missing from {objects:?}"
        );
    }
    assert_eq!(
        out["table_types"],
        serde_json::json!(["BASE TABLE", "VIEW"])
    );

    // Bulk ingest through the lake's rules: snake_case names, flight:USER provenance,
    // the same data twice lands once; executemany inserts every row.
    assert_eq!(out["ingested"], 2);
    assert_eq!(out["ingested_again"], 0);
    assert_eq!(
        out["uploads"],
        serde_json::json!([
            ["vLLM", 1.5, "flight:local"],
            ["SGLang", 2.5, "flight:local"],
            ["TensorRT-LLM", 3.0, null],
            ["llama.cpp", 4.0, null],
            ["Deepspeed", 5.5, null]
        ])
    );
    let bad_batch = out["bad_batch"].as_str().unwrap();
    assert!(bad_batch.contains("slow"), "{bad_batch}");
    assert_eq!(
        out["create_view"],
        serde_json::json!([["created view slow"]])
    );
    assert_eq!(out["view_rows"], 4);

    // Errors carry their gRPC code.
    let missing = out["missing_table"].as_str().unwrap();
    assert!(
        missing.starts_with("NOT_FOUND") && missing.contains("no_such_table"),
        "{missing}"
    );
    let bad = out["bad_sql"].as_str().unwrap();
    assert!(
        bad.starts_with("INVALID_ARGUMENT") && bad.contains("SELEC"),
        "{bad}"
    );

    // What the client wrote is in the lake, for every other tool.
    let tables = ok(dir.path(), &["tables"]);
    // Versions: 0 the ingest that created it, 1 the three rows of executemany (one
    // commit); the ingest of the same data and the failed batch committed nothing.
    let uploads = tables
        .lines()
        .find(|l| l.starts_with("uploads "))
        .unwrap_or_else(|| panic!("{tables}"));
    assert_eq!(uploads.split_whitespace().last(), Some("1"), "{tables}");
    assert_eq!(
        ok(
            dir.path(),
            &["sql", "--format", "csv", "SELECT count(*) AS n FROM slow"]
        ),
        "n\n4\n"
    );
}

#[test]
fn a_prepared_statement_reads_what_was_committed_before_it_runs() {
    // The server keeps a prepared statement's plan for its execution; a commit or a view
    // change in between must be seen, as if it were planned when it runs.
    let dir = demo_lake();
    let server = Server::start(dir.path(), &[]);
    let out = server.client("stale", None);
    assert_eq!(out, serde_json::json!({"count": 3, "view": 3}), "{out}");
}

#[test]
fn pyarrow_flight_sees_one_endpoint_and_the_advertised_schema() {
    let dir = demo_lake();
    let server = Server::start(dir.path(), &[]);
    let out = server.client("pyarrow", None);
    for query in ["aggregate", "statistics", "lists", "empty"] {
        assert_eq!(out[query]["endpoints"], 1, "{query}");
        assert_eq!(out[query]["locations"], 0, "{query}");
        assert_eq!(out[query]["same_schema"], true, "{query}: {}", out[query]);
    }
    assert_eq!(out["aggregate"]["rows"], 6);
    assert_eq!(
        out["aggregate"]["schema"],
        serde_json::json!([
            ["framework", "string", true],
            ["n", "int64", true],
            ["mean_ms", "double", true]
        ])
    );
    assert_eq!(
        out["lists"]["schema"],
        serde_json::json!([
            ["run_id", "string", true],
            ["itl_ms", "list<element: double>", true],
            ["started_at", "timestamp[ns, tz=UTC]", true]
        ])
    );
    assert_eq!(out["lists"]["rows"], 3);
    assert_eq!(out["empty"]["rows"], 0);
    assert_eq!(
        out["table_types"],
        serde_json::json!([{"table_type": "BASE TABLE"}, {"table_type": "VIEW"}])
    );
    assert!(
        out["actions"]
            .as_array()
            .unwrap()
            .contains(&Value::from("CreatePreparedStatement"))
    );
    assert!(out["session_options_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn users_sign_in_and_roles_limit_what_they_may_do() {
    let dir = demo_lake();
    let users = dir.path().join("users.json");
    for (name, role, password) in [("alice", "write", "s3cret"), ("bob", "read", "r3ad")] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_runlake"))
            .args(["users", "add", name, "--role", role, "--file"])
            .arg(&users)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        assert!(child.wait().unwrap().success());
    }
    let listed = ok(
        dir.path(),
        &["users", "list", "--file", users.to_str().unwrap()],
    );
    assert_eq!(listed, "alice\twrite\nbob\tread\n");
    // Passwords are stored hashed.
    let file = std::fs::read_to_string(&users).unwrap();
    assert!(
        !file.contains("s3cret") && file.contains("pbkdf2-sha256$"),
        "{file}"
    );

    let server = Server::start(dir.path(), &["--users", users.to_str().unwrap()]);
    let out = server.client("denied", Some(("bob", "r3ad")));
    assert_eq!(out["read"], 3600);
    for (action, role) in [("ingest", "write"), ("create", "write"), ("drop", "admin")] {
        let message = out[action].as_str().unwrap();
        assert!(
            message.contains("PermissionDenied")
                && message.contains(&format!("needs the {role} role")),
            "{action}: {message}"
        );
    }
    let wrong = out["wrong_password"].as_str().unwrap();
    assert!(wrong.starts_with("UNAUTHENTICATED"), "{wrong}");
    assert!(ok(dir.path(), &["tables"]).contains("predictions"));

    // A writer gets a bearer token in the response header, and Superset's dialect works.
    let raw = server.client("pyarrow", Some(("alice", "s3cret")));
    assert_eq!(raw["token_header"], "authorization");
    assert_eq!(raw["aggregate"]["same_schema"], true);
    let superset = server.client("sqlalchemy", Some(("alice", "s3cret")));
    assert_eq!(
        superset["schemas"],
        serde_json::json!(["information_schema", "public", "system"])
    );
    assert!(
        superset["tables"]
            .as_array()
            .unwrap()
            .contains(&Value::from("predictions"))
    );
    assert_eq!(
        superset["columns"],
        serde_json::json!([
            ["framework", "TEXT"],
            ["model", "TEXT"],
            ["hardware", "TEXT"],
            ["phase", "TEXT"]
        ])
    );
    assert_eq!(
        superset["query"][0],
        serde_json::json!(["DeepSpeed-MII", 600])
    );

    // Users can be removed.
    ok(
        dir.path(),
        &["users", "remove", "bob", "--file", users.to_str().unwrap()],
    );
    assert_eq!(
        ok(
            dir.path(),
            &["users", "list", "--file", users.to_str().unwrap()]
        ),
        "alice\twrite\n"
    );
}

#[test]
fn without_users_the_server_stays_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let o = runlake(dir.path(), &["serve", "--addr", "0.0.0.0:0"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("refusing to listen on 0.0.0.0:0 without --users"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_query_over_a_limit_fails_alone() {
    let dir = demo_lake();
    let server = Server::start(
        dir.path(),
        &[
            "--query-memory-limit",
            "8MB",
            "--query-timeout",
            "2s",
            "--max-concurrent-queries",
            "1",
            "--queue-timeout",
            "1s",
        ],
    );
    let out = server.client("limits", None);
    let over_memory = out["over_memory"]["message"].as_str().unwrap();
    assert!(over_memory.contains("RESOURCE_EXHAUSTED"), "{over_memory}");
    assert_eq!(out["after_memory"], serde_json::json!({"rows": 1}));
    let over_time = out["over_time"]["message"].as_str().unwrap();
    assert!(
        over_time.contains("DEADLINE_EXCEEDED") && over_time.contains("--query-timeout"),
        "{over_time}"
    );
    assert_eq!(out["after_time"], serde_json::json!({"rows": 1}));
    let queued = out["queued_out"]["message"].as_str().unwrap();
    assert!(
        queued.contains("resource exhausted") && queued.contains("maximum of 1 queries"),
        "{queued}"
    );
    assert_eq!(out["after_queue"], serde_json::json!({"rows": 1}));
    // system.queries saw each: two failures, the stream the client dropped, the rest ok,
    // and the query reading it, running.
    assert_eq!(
        out["statuses"],
        serde_json::json!({"cancelled": 1, "error": 2, "ok": 3, "running": 1})
    );
    // system.ingests is the lake's ingest log.
    let local = ok(
        dir.path(),
        &[
            "sql",
            "--format",
            "csv",
            "SELECT count(*) AS n FROM _ingests",
        ],
    );
    assert_eq!(
        out["ingests_rows"].to_string(),
        local.lines().nth(1).unwrap()
    );
}

/// A Delta table written by another tool with partition columns (its log written here by
/// hand, as that tool would): runlake reads only unpartitioned tables, and says so, from
/// the CLI and through the server (`FAILED_PRECONDITION`), leaving the other tables
/// readable.
#[test]
fn a_partitioned_delta_table_is_refused_by_name() {
    let dir = demo_lake();
    let log = dir.path().join("lake/by_day/_delta_log");
    std::fs::create_dir_all(&log).unwrap();
    let schema = r#"{\"type\":\"struct\",\"fields\":[{\"name\":\"x\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}},{\"name\":\"day\",\"type\":\"string\",\"nullable\":true,\"metadata\":{}}]}"#;
    std::fs::write(
        log.join("00000000000000000000.json"),
        format!(
            "{}\n{}\n{}\n",
            r#"{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}"#,
            format_args!(
                r#"{{"metaData":{{"id":"5f5a3c1e-0000-4000-8000-000000000001","format":{{"provider":"parquet","options":{{}}}},"schemaString":"{schema}","partitionColumns":["day"],"configuration":{{}},"createdTime":0}}}}"#
            ),
            r#"{"add":{"path":"day=a/part-00000.parquet","partitionValues":{"day":"a"},"size":100,"modificationTime":0,"dataChange":true}}"#,
        ),
    )
    .unwrap();
    let o = runlake(dir.path(), &["sql", "SELECT * FROM by_day"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(
            "table 'by_day' cannot be read: partitioned by day (runlake writes unpartitioned tables)"
        ),
        "{}",
        stderr(&o)
    );
    let server = Server::start(dir.path(), &[]);
    let error = server.query_error("SELECT * FROM by_day");
    assert!(
        error.contains("FailedPrecondition") && error.contains("table 'by_day' cannot be read"),
        "{error}"
    );
    assert_eq!(
        server.query("SELECT count(*) FROM predictions"),
        serde_json::json!([[3600]])
    );
}

#[test]
fn tls_with_a_client_certificate_authority() {
    let dir = demo_lake();
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    let script = crate::repo().join("tests/python/flight_clients.py");
    let made = Command::new(test_python())
        .arg(&script)
        .arg("certs")
        .arg(&certs)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let path = |f: &str| certs.join(f).to_str().unwrap().to_string();
    let server = Server::start(
        dir.path(),
        &[
            "--tls-cert",
            &path("server.pem"),
            "--tls-key",
            &path("server.key"),
            "--tls-client-ca",
            &path("ca.pem"),
        ],
    );
    assert!(
        server.uri.starts_with("grpc+tls://127.0.0.1:"),
        "{}",
        server.uri
    );
    let out = server.client("tls", Some((certs.to_str().unwrap(), "-")));
    assert_eq!(out["with_client_cert"], 3600);
    // Refused in the TLS handshake ("certificate required", or the connection reset,
    // depending on when the client reads the alert).
    let refused = out["without_client_cert"]
        .as_str()
        .unwrap_or_else(|| panic!("a client without a certificate was served: {out}"));
    assert!(refused.contains("Unavailable"), "{refused}");
}

/// Peak resident memory of a process, in KiB (Linux).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// 32 concurrent ADBC clients, 1000 operations: queries with runlake functions, prepared
/// queries with parameters, and bulk ingests into one table. No errors, every ingested
/// row once, and the server's memory bounded. (Sized for a debug build on two cores;
/// throughput is measured by the benchmarks, not here.)
#[test]
fn many_clients_at_once_lose_nothing() {
    let dir = demo_lake();
    let server = Server::start(dir.path(), &["--memory-limit", "512MB"]);
    let out = server.client("load", Some(("32", "1000")));
    assert_eq!(out["error_count"], 0, "{out}");
    assert_eq!(out["ingests"], 50);
    assert_eq!(out["queries"], 950);
    assert_eq!(out["aggregate_checks"], out["aggregates"]);
    assert_eq!(out["ingested_rows"], 150); // 1..5 rows per ingest, 10 of each
    assert_eq!(out["lake_rows"], 150);
    assert_eq!(out["lake_ops"], 50);
    let peak = peak_rss_kib(server.child.id());
    assert!(peak < 1_500_000, "server peak RSS {peak} KiB");
}

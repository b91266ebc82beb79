//! The lake's guarantees under stress, as a user meets them: an S3 lake on moto's server,
//! an ingest killed with SIGKILL mid-way, and two processes ingesting into one table at
//! once.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;

use super::{ok, runlake, stderr, stdout};

/// The Python interpreter with the suite's packages (tests/python/requirements.txt),
/// set up once by tests/python/env.sh.
pub fn test_python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let script = crate::repo().join("tests/python/env.sh");
        let out = Command::new("bash")
            .arg(&script)
            .stderr(Stdio::inherit())
            .output()
            .expect("bash runs tests/python/env.sh");
        assert!(out.status.success(), "tests/python/env.sh failed");
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// The credentials moto takes, as the standard AWS variables runlake reads.
pub const AWS_ENV: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

/// moto's S3 server on 127.0.0.1 (an ephemeral port), with `bucket` created; stopped
/// when dropped.
pub struct Moto {
    child: Child,
    stdin: Option<ChildStdin>,
    pub port: u16,
}

impl Moto {
    pub fn start(bucket: &str) -> Self {
        let script = crate::repo().join("tests/python/moto_server.py");
        let mut child = Command::new(test_python())
            .arg(script)
            .arg(bucket)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("moto's server starts");
        let stdin = child.stdin.take();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("moto printed no port: {line:?}"));
        Moto { child, stdin, port }
    }

    /// `runlake` against `s3://bucket/prefix` on this server, with credentials from the
    /// standard AWS variables and the endpoint as storage options.
    /// A `runlake` command against `s3://bucket/prefix` on this server: credentials from
    /// the standard AWS variables, the endpoint as storage options.
    pub fn command(&self, dir: &Path, lake: &str, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_runlake"));
        command
            .args(self.lake_args(lake))
            .args(args)
            .current_dir(dir)
            .env_remove("RUNLAKE_LAKE")
            .env_remove("RUNLAKE_CLUSTER")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .envs(AWS_ENV.iter().copied())
            .stdin(Stdio::null());
        command
    }

    /// The global flags of `runlake` for a lake at `lake` on this server.
    pub fn lake_args(&self, lake: &str) -> Vec<String> {
        let endpoint = format!("endpoint=http://127.0.0.1:{}", self.port);
        [
            "--lake",
            lake,
            "--storage-option",
            &endpoint,
            "--storage-option",
            "allow_http=true",
            "--storage-option",
            "region=us-east-1",
        ]
        .map(str::to_string)
        .to_vec()
    }

    pub fn runlake(&self, dir: &Path, lake: &str, args: &[&str]) -> std::process::Output {
        self.command(dir, lake, args)
            .output()
            .expect("runlake runs")
    }

    pub fn ok(&self, dir: &Path, lake: &str, args: &[&str]) -> String {
        let o = self.runlake(dir, lake, args);
        assert!(
            o.status.success(),
            "runlake {args:?} failed: {}",
            stderr(&o)
        );
        stdout(&o)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

#[test]
fn an_s3_lake_round_trips_through_moto() {
    let moto = Moto::start("runlake-lake");
    let dir = tempfile::tempdir().unwrap();
    let lake = "s3://runlake-lake/team/lake";
    let samples = crate::repo().join("examples/data/samples");
    std::fs::write(
        dir.path().join("latency.csv"),
        "framework,predicted_ms,actual_ms\nvLLM,10.5,11\nSGLang,20,19.5\nvLLM,30,33\n",
    )
    .unwrap();
    let llmperf = samples.join("groq_70b_summary.json");
    let out = moto.ok(
        dir.path(),
        lake,
        &["ingest", "latency.csv", llmperf.to_str().unwrap()],
    );
    assert!(out.contains("latency +3"), "{out}");
    assert!(out.contains("runs +1"), "{out}");
    // Nothing went to the local disk.
    assert!(!dir.path().join("runlake-data").exists());

    // A second process reads what the first committed.
    let sql = |q: &str| moto.ok(dir.path(), lake, &["sql", "--format", "csv", q]);
    assert_eq!(
        sql(
            "SELECT framework, sum(actual_ms) AS a FROM latency GROUP BY framework ORDER BY framework"
        ),
        "framework,a\nSGLang,19.5\nvLLM,44.0\n"
    );
    assert_eq!(
        sql("SELECT tool, num_requests FROM runs"),
        "tool,num_requests\nllmperf,150\n"
    );

    // Re-ingest is a no-op; the ingest log says where the rows came from.
    let again = moto.ok(dir.path(), lake, &["ingest", "latency.csv"]);
    assert!(again.contains("already ingested"), "{again}");
    assert_eq!(sql("SELECT count(*) AS n FROM latency"), "n\n3\n");

    // Writes through SQL, compaction and drop work on the bucket too.
    sql("INSERT INTO latency (framework, predicted_ms, actual_ms) VALUES ('TensorRT-LLM', 5, 6)");
    let compact = moto.ok(
        dir.path(),
        lake,
        &["compact", "--table", "latency", "--retain", "0s"],
    );
    assert!(compact.contains("latency"), "{compact}");
    assert_eq!(
        sql("SELECT count(*) AS n, sum(actual_ms) AS a FROM latency"),
        "n,a\n4,69.5\n"
    );
    let tables = moto.ok(dir.path(), lake, &["tables"]);
    assert!(
        tables.contains("latency") && tables.contains("runs"),
        "{tables}"
    );
    moto.ok(dir.path(), lake, &["drop", "latency"]);
    let tables = moto.ok(dir.path(), lake, &["tables"]);
    assert!(!tables.contains("latency "), "{tables}");

    // A bad option is named.
    let o = moto.runlake(
        dir.path(),
        lake,
        &["--storage-option", "colour=blue", "tables"],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("colour"), "{}", stderr(&o));
}

/// A vLLM `--save-detailed` result with `n` requests, each with `itl_count` gaps.
fn big_vllm_result(seed: usize, n: usize, itl_count: usize) -> String {
    let list = |f: &dyn Fn(usize) -> String| (0..n).map(f).collect::<Vec<_>>().join(",");
    let itls = list(&|i| {
        let gaps: Vec<String> = (0..itl_count)
            .map(|k| format!("0.0{}", 10 + (i + k + seed) % 80))
            .collect();
        format!("[{}]", gaps.join(","))
    });
    format!(
        r#"{{"date": "20250929-09{:04}", "backend": "vllm", "model_id": "m", "num_prompts": {n}, "completed": {n}, "duration": 12.5, "request_rate": "inf", "mean_ttft_ms": 100.0, "input_lens": [{}], "output_lens": [{}], "ttfts": [{}], "itls": [{itls}], "errors": [{}]}}"#,
        seed,
        list(&|i| (100 + i % 900).to_string()),
        list(&|_| (itl_count + 1).to_string()),
        list(&|i| format!("0.{:03}", 100 + (i * 7 + seed) % 800)),
        list(&|_| "\"\"".to_string()),
    )
}

/// Per source file: (runs rows, requests rows) in the lake.
fn rows_per_file(dir: &Path) -> Vec<(String, i64, i64)> {
    let out = ok(
        dir,
        &[
            "sql",
            "--format",
            "csv",
            "SELECT q._source, (SELECT count(*) FROM runs r WHERE r._source = q._source) AS runs, count(*) AS requests \
             FROM requests q GROUP BY q._source ORDER BY q._source",
        ],
    );
    out.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].to_string(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn an_ingest_killed_mid_way_leaves_whole_files_and_a_rerun_completes_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let files = 6;
    let per_file = 20_000;
    let mut names = Vec::new();
    for f in 0..files {
        let name = format!("run{f}.json");
        std::fs::write(dir.path().join(&name), big_vllm_result(f, per_file, 8)).unwrap();
        names.push(name);
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_runlake"))
        .arg("ingest")
        .args(&names)
        .current_dir(dir.path())
        .env("RUNLAKE_LAKE", dir.path().join("lake"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it as soon as the first file is reported: the second is then in flight.
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).unwrap();
        assert!(n > 0, "the ingest ended before reporting a file");
        if line.starts_with("run0.json") {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());

    // Every file is all there or not there; a visible run has all its requests.
    let after_kill = rows_per_file(dir.path());
    assert!(
        after_kill.len() < files,
        "the kill came too late: {after_kill:?}"
    );
    assert!(after_kill.iter().any(|(s, _, _)| s == "run0.json"));
    for (source, runs, requests) in &after_kill {
        assert_eq!(*requests, per_file as i64, "{source}: {after_kill:?}");
        assert!(*runs <= 1, "{source}: {after_kill:?}");
    }

    // The re-run completes the rest, each file exactly once.
    let mut args = vec!["ingest"];
    args.extend(names.iter().map(String::as_str));
    ok(dir.path(), &args);
    let complete = rows_per_file(dir.path());
    assert_eq!(complete.len(), files, "{complete:?}");
    for (source, runs, requests) in &complete {
        assert_eq!((*runs, *requests), (1, per_file as i64), "{source}");
    }
    let ingests = ok(
        dir.path(),
        &[
            "sql",
            "--format",
            "csv",
            "SELECT count(DISTINCT source) AS n FROM _ingests WHERE table_name = 'runs'",
        ],
    );
    assert_eq!(ingests, "n\n6\n");
}

#[test]
fn two_processes_ingesting_into_one_table_lose_and_double_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let per_process = 8;
    let mut batches: Vec<Vec<String>> = vec![Vec::new(), Vec::new()];
    for (p, batch) in batches.iter_mut().enumerate() {
        for f in 0..per_process {
            let name = format!("p{p}_{f}.csv");
            let mut text = String::from("worker,file,row,latency_ms\n");
            for r in 0..500 {
                text.push_str(&format!(
                    "{p},{f},{r},{}\n",
                    (p * 1000 + f * 10 + r) as f64 / 4.0
                ));
            }
            std::fs::write(dir.path().join(&name), text).unwrap();
            batch.push(name);
        }
    }
    // The same shared file from both processes too: it must land once.
    std::fs::write(
        dir.path().join("shared.csv"),
        "worker,file,row,latency_ms\n9,9,0,1.5\n9,9,1,2.5\n",
    )
    .unwrap();
    let children: Vec<Child> = batches
        .iter()
        .map(|batch| {
            Command::new(env!("CARGO_BIN_EXE_runlake"))
                .args(["ingest", "--table", "latency"])
                .args(batch)
                .arg("shared.csv")
                .current_dir(dir.path())
                .env("RUNLAKE_LAKE", dir.path().join("lake"))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let out = ok(
        dir.path(),
        &[
            "sql",
            "--format",
            "csv",
            "SELECT count(*) AS n, (SELECT count(*) FROM (SELECT DISTINCT worker, file, row FROM latency)) AS distinct_rows, count(DISTINCT _source) AS files, sum(latency_ms) AS s FROM latency",
        ],
    );
    let expected_sum: f64 = (0..2)
        .flat_map(|p| {
            (0..per_process)
                .flat_map(move |f| (0..500).map(move |r| (p * 1000 + f * 10 + r) as f64 / 4.0))
        })
        .sum::<f64>()
        + 4.0;
    assert_eq!(
        out,
        format!("n,distinct_rows,files,s\n8002,8002,17,{expected_sum:?}\n")
    );
}

#[test]
fn views_persist_across_sessions_until_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let sql = |q: &str| ok(dir.path(), &["sql", "--format", "csv", q]);
    sql(
        "CREATE TABLE lat AS VALUES ('vLLM', 10.0, 11.0), ('vLLM', 20.0, 19.0), ('SGLang', 5.0, 7.5)",
    );
    assert_eq!(
        sql(
            "CREATE VIEW errors AS SELECT column1 AS framework, abs(column2 - column3) AS err FROM lat"
        ),
        "result\ncreated view errors\n"
    );
    // A view over a view, in another process.
    sql("CREATE VIEW worst AS SELECT framework, max(err) AS worst FROM errors GROUP BY framework");
    assert_eq!(
        sql("SELECT * FROM worst ORDER BY framework"),
        "framework,worst\nSGLang,2.5\nvLLM,1.0\n"
    );
    // Replacing keeps the name; the new definition wins in later sessions.
    sql(
        "CREATE OR REPLACE VIEW errors AS SELECT column1 AS framework, (column3 - column2) * 10 AS err FROM lat",
    );
    assert_eq!(
        sql("SELECT * FROM worst ORDER BY framework"),
        "framework,worst\nSGLang,25.0\nvLLM,10.0\n"
    );
    assert_eq!(sql("SELECT sum(err) AS s FROM errors"), "s\n25.0\n");
    let taken = runlake(dir.path(), &["sql", "CREATE VIEW lat AS SELECT 1"]);
    assert!(
        stderr(&taken).contains("'lat' is a table"),
        "{}",
        stderr(&taken)
    );
    let exists = runlake(dir.path(), &["sql", "CREATE VIEW worst AS SELECT 1"]);
    assert!(!exists.status.success());

    assert_eq!(sql("DROP VIEW worst"), "result\ndropped view worst\n");
    let gone = runlake(dir.path(), &["sql", "SELECT * FROM worst"]);
    assert!(stderr(&gone).contains("worst"), "{}", stderr(&gone));
    assert_eq!(sql("DROP VIEW IF EXISTS worst"), "result\nno view worst\n");

    // A view whose table went away is reported, not fatal.
    sql("DROP TABLE lat");
    let o = runlake(dir.path(), &["sql", "--format", "csv", "SELECT 1 AS one"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o), "one\n1\n");
    assert!(
        stderr(&o).contains("view errors is not available"),
        "{}",
        stderr(&o)
    );
    assert_eq!(sql("DROP VIEW errors"), "result\ndropped view errors\n");
}

#[test]
fn a_sort_order_set_on_a_table_orders_the_appends_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let sql = |q: &str| ok(dir.path(), &["sql", "--format", "csv", q]);
    let csv = |name: &str, rows: &[(&str, &str, f64)]| {
        let mut text = String::from("model,framework,actual_ms\n");
        for (model, framework, ms) in rows {
            text += &format!("{model},{framework},{ms}\n");
        }
        std::fs::write(dir.path().join(name), text).unwrap();
    };
    let files = || -> Vec<String> {
        let mut files: Vec<String> = std::fs::read_dir(dir.path().join("lake/latency"))
            .unwrap()
            .map(|e| e.unwrap().path().to_string_lossy().into_owned())
            .filter(|p| p.ends_with(".parquet"))
            .collect();
        files.sort();
        files
    };
    csv("a.csv", &[("m2", "vLLM", 1.0), ("m1", "SGLang", 2.0)]);
    ok(dir.path(), &["ingest", "a.csv", "--table", "latency"]);
    assert_eq!(
        ok(dir.path(), &["sort-by", "latency"]),
        "appends to latency are not sorted (no natural keys; `runlake sort-by latency COLUMN...` sets an order)\n"
    );

    // Columns are checked against the table before anything is committed.
    for (columns, says) in [
        (
            &["nope"][..],
            "no column 'nope' (the table has model, framework, actual_ms",
        ),
        (&["model", "model"][..], "'model' is named twice"),
    ] {
        let mut args = vec!["sort-by", "latency"];
        args.extend(columns);
        let o = runlake(dir.path(), &args);
        assert_eq!(o.status.code(), Some(1));
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
    }
    let missing = runlake(dir.path(), &["sort-by", "nothing", "model"]);
    assert!(
        stderr(&missing).contains("'nothing' does not exist"),
        "{}",
        stderr(&missing)
    );

    let set = ok(dir.path(), &["sort-by", "latency", "framework", "model"]);
    assert!(
        set.starts_with("version ")
            && set.ends_with(": appends to latency are sorted by framework, model; the files already written keep their order\n"),
        "{set}"
    );
    assert!(
        ok(dir.path(), &["schema", "latency"])
            .ends_with("appends to latency are sorted by framework, model\n")
    );
    let before = files();
    csv(
        "b.csv",
        &[
            ("m2", "vLLM", 3.0),
            ("m1", "vLLM", 4.0),
            ("m3", "SGLang", 5.0),
            ("m1", "SGLang", 6.0),
        ],
    );
    ok(dir.path(), &["ingest", "b.csv", "--table", "latency"]);
    let new: Vec<String> = files()
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    assert_eq!(new.len(), 1);
    // The file as written, in its own order.
    assert_eq!(
        sql(&format!(
            "SELECT framework, model, actual_ms FROM '{}'",
            new[0]
        )),
        "framework,model,actual_ms\nSGLang,m1,6.0\nSGLang,m3,5.0\nvLLM,m1,4.0\nvLLM,m2,3.0\n"
    );
    // The older file kept its order, and the table holds every row once.
    assert_eq!(
        sql(&format!("SELECT model FROM '{}'", before[0])),
        "model\nm2\nm1\n"
    );
    assert_eq!(
        sql("SELECT count(*) AS n, sum(actual_ms) AS s FROM latency"),
        "n,s\n6,21.0\n"
    );

    let reset = ok(dir.path(), &["sort-by", "latency", "--reset"]);
    assert!(
        reset.contains(": appends to latency are not sorted (no natural keys"),
        "{reset}"
    );
    assert!(
        ok(dir.path(), &["sort-by", "latency"]).starts_with("appends to latency are not sorted")
    );
    assert_eq!(
        stderr(&runlake(
            dir.path(),
            &["sort-by", "latency", "model", "--reset"]
        ))
        .lines()
        .next()
        .unwrap_or(""),
        "error: the argument '[COLUMNS]...' cannot be used with '--reset'"
    );
}

/// `runlake ... | head`: a reader that stops early ends the command quietly (exit 141,
/// as for any Unix filter killed by SIGPIPE), with nothing on standard error.
#[test]
fn a_closed_standard_output_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_runlake"))
        .args([
            "sql",
            "--format",
            "csv",
            "SELECT * FROM generate_series(1, 1000000)",
        ])
        .current_dir(dir.path())
        .env("RUNLAKE_LAKE", dir.path().join("lake"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "value\n");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// The same for a command that prints its lines itself (not through a result writer):
/// standard output closed before the first line, `runlake demo` ends at that line with
/// exit 141, nothing on standard error and nothing ingested.
#[test]
fn a_closed_standard_output_ends_a_printing_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_runlake"))
        .arg("demo")
        .current_dir(dir.path())
        .env("RUNLAKE_LAKE", dir.path().join("lake"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert!(!dir.path().join("lake").join("predictions").exists());
}

/// A Parquet file is read in batches of 65,536 rows; an append to a table with natural
/// keys sorts the rows of every batch together (the key columns are sorted, then the rows
/// gathered from the batches), so each written file holds its rows in key order and
/// every row lands once with its values.
#[test]
fn a_parquet_file_of_several_batches_is_sorted_as_a_whole() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("requests.parquet");
    // 150,000 rows over 13 runs, in scrambled order.
    ok(
        dir.path(),
        &[
            "sql",
            &format!(
                "COPY (SELECT 'r' || lpad(CAST(i * 7919 % 13 AS VARCHAR), 2, '0') AS run_id, \
                 (i * 104729) % 150000 AS request_index, CAST(i AS DOUBLE) / 4 AS ttft_ms \
                 FROM generate_series(0, 149999) t(i)) TO '{}'",
                file.display()
            ),
        ],
    );
    let said = ok(
        dir.path(),
        &["ingest", file.to_str().unwrap(), "--table", "requests"],
    );
    assert!(said.contains("-> requests +150000"), "{said}");
    let files: Vec<PathBuf> = std::fs::read_dir(dir.path().join("lake/requests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    assert!(!files.is_empty());
    let mut rows = 0;
    for f in &files {
        // One partition, so the rows come back in the file's order.
        let text = ok(
            dir.path(),
            &[
                "sql",
                "--format",
                "csv",
                &format!(
                    "SET datafusion.execution.target_partitions = 1; \
                     SELECT run_id, request_index, ttft_ms FROM '{}'",
                    f.display()
                ),
            ],
        );
        let keys: Vec<(String, i64, f64)> = text
            .lines()
            .skip_while(|l| *l != "run_id,request_index,ttft_ms")
            .skip(1)
            .map(|l| {
                let mut v = l.split(',');
                let run = v.next().unwrap().to_string();
                let index = v.next().unwrap().parse().unwrap();
                let ttft = v.next().unwrap().parse().unwrap();
                (run, index, ttft)
            })
            .collect();
        assert!(
            keys.windows(2)
                .all(|w| (&w[0].0, w[0].1) < (&w[1].0, w[1].1)),
            "{} is not in key order",
            f.display()
        );
        // Each row kept its own values: the row made from i has ttft_ms i / 4.
        for (run, index, ttft) in &keys {
            let i = (ttft * 4.0) as i64;
            assert_eq!(run, &format!("r{:02}", i * 7919 % 13));
            assert_eq!(*index, (i * 104_729) % 150_000);
        }
        rows += keys.len();
    }
    assert_eq!(rows, 150_000);
    // s: the sum of i / 4 for i below 150,000 (149,999 * 150,000 / 8, exact in doubles).
    assert_eq!(
        ok(
            dir.path(),
            &[
                "sql",
                "--format",
                "csv",
                "SELECT count(DISTINCT request_index) AS n, count(DISTINCT _line) AS lines, \
                 sum(ttft_ms) AS s FROM requests"
            ]
        ),
        "n,lines,s\n150000,150000,2812481250.0\n"
    );
}

//! End-to-end tests of the `runlake` binary, run as a user runs it.

mod cluster;
mod ingest;
mod lake;
mod real;
mod replay;
mod report;
mod security;
mod serve;
mod windows;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn runlake(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_runlake"))
        .args(args)
        .current_dir(dir)
        .env("RUNLAKE_LAKE", dir.join("lake"))
        .stdin(Stdio::null())
        .output()
        .expect("runlake runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = runlake(dir, args);
    assert!(
        o.status.success(),
        "runlake {args:?} failed: {}",
        stderr(&o)
    );
    stdout(&o)
}

/// The repository's root (this binary belongs to crates/runlake-cli, which names the
/// top-level tests/ by path).
fn repo() -> &'static Path {
    let cli = Path::new(env!("CARGO_MANIFEST_DIR"));
    cli.parent()
        .and_then(Path::parent)
        .expect("crates/runlake-cli is two levels down")
}

fn reference_dir() -> PathBuf {
    repo().join("crates/runlake-functions/tests/reference")
}

fn parse_float(s: &str) -> Option<f64> {
    match s {
        "" => None,
        "NaN" => Some(f64::NAN),
        s => Some(s.parse().unwrap()),
    }
}

/// The acceptance query, verbatim, against scipy / scikit-learn values.
#[test]
fn sql_csv_on_a_parquet_file_matches_scipy_and_sklearn() {
    let dir = reference_dir();
    let out = ok(
        &dir,
        &[
            "sql",
            "--format",
            "csv",
            "SELECT framework, pearson(predicted_ms, actual_ms), spearman(predicted_ms, actual_ms), \
             mape(actual_ms, predicted_ms) FROM 'predictions.parquet' GROUP BY framework",
        ],
    );
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let want = |f: &str, g: &str| -> Option<f64> {
        match &expected["functions"][f]["groups"][g] {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) if s == "NaN" => Some(f64::NAN),
            v => Some(v.as_f64().unwrap()),
        }
    };
    let mut lines = out.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("framework,\"pearson("), "{header}");
    let mut rows = 0;
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 4, "{line}");
        let group = fields[0];
        for (i, f) in ["pearson", "spearman", "mape"].iter().enumerate() {
            let got = parse_float(fields[i + 1]);
            let want = want(f, group);
            let tol = if group.starts_with("offset") {
                1e-7
            } else {
                1e-9
            };
            let same = match (got, want) {
                (None, None) => true,
                (Some(g), Some(w)) if w.is_nan() => g.is_nan(),
                (Some(g), Some(w)) => (g - w).abs() <= tol * w.abs() + 1e-12,
                _ => false,
            };
            assert!(same, "{f} for {group}: runlake {got:?}, reference {want:?}");
        }
        rows += 1;
    }
    let groups = expected["functions"]["pearson"]["groups"]
        .as_object()
        .unwrap()
        .len();
    assert!(groups > 3000);
    assert_eq!(rows, groups, "one row per framework");
}

#[test]
fn csv_prints_full_precision_nulls_nan_and_lists() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(
        dir.path(),
        &[
            "sql",
            "--format",
            "csv",
            "SELECT 0.1 + 0.2 AS a, CAST(NULL AS DOUBLE) AS b, 'NaN'::double AS c, \
             [1.0, 2.5] AS l, 'x,y' AS s, 'inf'::double AS inf",
        ],
    );
    assert_eq!(
        out,
        "a,b,c,l,s,inf\n0.30000000000000004,,NaN,\"[1.0, 2.5]\",\"x,y\",Infinity\n"
    );
}

#[test]
fn json_keeps_nan_and_infinity_distinct_from_null() {
    let dir = tempfile::tempdir().unwrap();
    let sql = "SELECT 'NaN'::double AS nan, CAST(NULL AS DOUBLE) AS null_value, \
               '-inf'::double AS neg_inf, 2.5 AS x, 7 AS n, [1.0, 2.5] AS l, true AS b";
    let out = ok(dir.path(), &["sql", "--format", "json", sql]);
    assert_eq!(
        out,
        "[\n  {\"nan\":\"NaN\",\"null_value\":null,\"neg_inf\":\"-Infinity\",\"x\":2.5,\"n\":7,\"l\":[1.0,2.5],\"b\":true}\n]\n"
    );
    let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(parsed[0]["nan"], "NaN");
    assert!(parsed[0]["null_value"].is_null());

    let out = ok(
        dir.path(),
        &[
            "sql",
            "--format",
            "ndjson",
            "SELECT * FROM (VALUES (1), (2)) t(v)",
        ],
    );
    assert_eq!(out, "{\"v\":1}\n{\"v\":2}\n");
    let out = ok(
        dir.path(),
        &["sql", "--format", "json", "SELECT 1 AS v WHERE false"],
    );
    assert_eq!(out, "[]\n");
}

#[test]
fn table_output_has_a_row_count() {
    let dir = tempfile::tempdir().unwrap();
    // numpy 2.4: np.quantile([1, 2, 3, 4, 10], 0.95) == 8.799999999999999 (bit for bit).
    let out = ok(
        dir.path(),
        &[
            "sql",
            "SELECT p95(v) AS p95 FROM (VALUES (1.0), (2.0), (3.0), (4.0), (10.0)) t(v)",
        ],
    );
    assert!(
        out.contains("| p95 ") && out.contains("| 8.799999999999999 |"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("1 row"), "{out}");
}

#[test]
fn reads_csv_tsv_json_lines_json_arrays_and_compressed_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("a.csv"), "x,y\n1,2\n2,4\n3,5\n4,4\n5,5\n").unwrap();
    std::fs::write(p.join("a.tsv"), "x\ty\n1\t2\n2\t4\n3\t5\n4\t4\n5\t5\n").unwrap();
    std::fs::write(p.join("lines.jsonl"), "{\"x\":1,\"y\":2}\n{\"x\":2,\"y\":4}\n{\"x\":3,\"y\":5}\n{\"x\":4,\"y\":4}\n{\"x\":5,\"y\":5}\n").unwrap();
    std::fs::write(
        p.join("array.json"),
        "[\n {\"x\":1,\"y\":2},\n {\"x\":2,\"y\":4},\n {\"x\":3,\"y\":5},\n {\"x\":4,\"y\":4},\n {\"x\":5,\"y\":5}\n]\n",
    )
    .unwrap();
    let gz = std::process::Command::new("gzip")
        .arg("-k")
        .arg(p.join("a.csv"))
        .status()
        .unwrap();
    assert!(gz.success());
    for file in ["a.csv", "a.tsv", "lines.jsonl", "array.json", "a.csv.gz"] {
        let out = ok(
            p,
            &[
                "sql",
                "--format",
                "csv",
                &format!("SELECT count(*) AS n, round(pearson(x, y), 12) AS r FROM '{file}'"),
            ],
        );
        assert_eq!(out, "n,r\n5,0.774596669241\n", "{file}");
    }
}

#[test]
fn runs_statements_from_a_file_and_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("q.sql"),
        "SELECT 1 AS a;\n-- a comment\nSELECT 2 AS b;\n",
    )
    .unwrap();
    let out = ok(dir.path(), &["sql", "--format", "csv", "-f", "q.sql"]);
    assert_eq!(out, "a\n1\nb\n2\n");

    let mut child = Command::new(env!("CARGO_BIN_EXE_runlake"))
        .args(["sql", "--format", "csv"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SELECT mae(3, 1) AS e;")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(stdout(&out), "e\n2.0\n");
}

#[test]
fn errors_are_one_clear_line_with_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    for (sql, needle) in [
        ("SELEC 1", "SELEC"),
        ("SELECT * FROM no_such_table", "no_such_table"),
        (
            "SELECT quantile(v, 95) FROM (VALUES (1.0)) t(v)",
            "probability must be between 0 and 1",
        ),
        ("SELECT pearson('a', 1.0)", "pearson"),
    ] {
        let o = runlake(dir.path(), &["sql", sql]);
        assert_eq!(o.status.code(), Some(1), "{sql}");
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "one line for {sql}: {err}");
        assert!(
            err.starts_with("runlake: error: ") && err.contains(needle),
            "{sql}: {err}"
        );
        assert!(stdout(&o).is_empty());
    }
    let o = runlake(dir.path(), &["sql", "-f", "missing.sql"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("missing.sql"));

    // A file that is not what its name says (here a Parquet file cut short, as while a
    // tool is still writing it) is named in the error.
    let whole = std::fs::read(reference_dir().join("predictions.parquet")).unwrap();
    std::fs::write(dir.path().join("cut.parquet"), &whole[..whole.len() / 2]).unwrap();
    let o = runlake(dir.path(), &["sql", "SELECT count(*) FROM 'cut.parquet'"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("reading 'cut.parquet'"), "{err}");
    assert!(err.contains("Parquet"), "{err}");
}

#[test]
fn usage_errors_exit_with_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let o = runlake(dir.path(), &["sql", "--format", "xml", "SELECT 1"]);
    assert_eq!(o.status.code(), Some(2));
    let o = runlake(dir.path(), &["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    // Durations, sizes and offsets are checked as the arguments are read: the error
    // names the flag and the value, and the server never starts.
    for (args, flag, value) in [
        (
            &["serve", "--query-timeout", "5x"][..],
            "--query-timeout",
            "'5x'",
        ),
        (
            &["serve", "--idle-timeout", "soon"],
            "--idle-timeout",
            "'soon'",
        ),
        (
            &["serve", "--memory-limit", "4QB"],
            "--memory-limit",
            "'4QB'",
        ),
        (&["serve", "--token-ttl", "12"], "--token-ttl", "'12'"),
        (&["compact", "--retain", "a week"], "--retain", "'a week'"),
        (
            &["ingest", "--timezone", "+25:00", "x.csv"],
            "--timezone",
            "'+25:00'",
        ),
        (
            &["ingest", "--max-input-size", "lots", "x.csv"],
            "--max-input-size",
            "'lots'",
        ),
    ] {
        let o = runlake(dir.path(), args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("invalid value") && err.contains(flag) && err.contains(value),
            "{args:?}: {err}"
        );
    }
    // Unquoted, `5 minutes` is two arguments: the second is refused by name.
    let o = runlake(dir.path(), &["serve", "--query-timeout", "5", "minutes"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("'minutes'"), "{}", stderr(&o));
    assert!(
        !dir.path().join("lake").exists(),
        "no usage error touched the lake"
    );
}

#[test]
fn writing_statements_persist_in_the_lake() {
    let dir = tempfile::tempdir().unwrap();
    ok(
        dir.path(),
        &["sql", "CREATE TABLE t AS SELECT 1.5 AS a, 'x' AS b"],
    );
    ok(dir.path(), &["sql", "INSERT INTO t VALUES (2.5, 'y')"]);
    // A new process sees both rows: they are in the lake, not in a lost session.
    let out = ok(
        dir.path(),
        &["sql", "--format", "csv", "SELECT a, b FROM t ORDER BY a"],
    );
    assert_eq!(out, "a,b\n1.5,x\n2.5,y\n");
    let o = runlake(dir.path(), &["sql", "CREATE TABLE t AS SELECT 1 AS a"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    ok(dir.path(), &["sql", "DROP TABLE t"]);
    let o = runlake(dir.path(), &["sql", "SELECT * FROM t"]);
    assert_eq!(o.status.code(), Some(1));
    // Statements that would only change this session's catalog are refused.
    let o = runlake(dir.path(), &["sql", "CREATE SCHEMA scratch"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("CREATE SCHEMA is not supported"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn functions_are_documented_in_information_schema() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(
        dir.path(),
        &[
            "sql",
            "--format",
            "csv",
            "SELECT routine_name, syntax_example FROM information_schema.routines \
             WHERE routine_name IN ('pearson', 'mape', 'quantiles') ORDER BY routine_name",
        ],
    );
    assert_eq!(
        out,
        "routine_name,syntax_example\nmape,\"mape(actual, predicted)\"\npearson,\"pearson(x, y)\"\nquantiles,\"quantiles(x, [p1, p2, ...])\"\n"
    );
}

#[test]
fn quickstart_sql_runs_on_the_bundled_example() {
    let root = repo();
    let out = ok(
        root,
        &["sql", "--format", "csv", "-f", "examples/quickstart.sql"],
    );
    let mut lines = out.lines();
    assert_eq!(
        lines.next().unwrap(),
        "framework,n,pearson,spearman,r2,rmse_ms,mae_ms,mape,pearson_p"
    );
    let frameworks: Vec<&str> = lines.map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(
        frameworks,
        [
            "DeepSpeed-MII",
            "Deepspeed",
            "SGLang",
            "TensorRT-LLM",
            "llama.cpp",
            "vLLM"
        ]
    );
}

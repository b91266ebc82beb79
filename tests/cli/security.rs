//! `runlake serve` tried as an attacker would, from outside: a read-only user over ADBC
//! and raw `pyarrow.flight` (tests/python/attack.py), then the lake and the disk checked
//! for anything written. Also the token keys, revocation, the limits under abuse, and the
//! ingest log after a crash.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::lake::test_python;
use super::serve::{Server, demo_lake};
use super::{ok, runlake, stderr};

/// Runs an attack.py scenario with `args` (the server's URI added) and returns its JSON.
fn attack(server: &Server, scenario: &str, mut args: Value) -> Value {
    args["uri"] = Value::from(server.uri.clone());
    let script = crate::repo().join("tests/python/attack.py");
    let out = Command::new(test_python())
        .arg(script)
        .arg(scenario)
        .arg(args.to_string())
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "attack {scenario} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(text.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("attack {scenario} printed no JSON ({e}): {text}"))
}

/// Adds users (name, role, password) to `file`.
pub fn add_users(dir: &Path, file: &Path, users: &[(&str, &str, &str)]) {
    for (name, role, password) in users {
        let mut child = Command::new(env!("CARGO_BIN_EXE_runlake"))
            .args(["users", "add", name, "--role", role, "--file"])
            .arg(file)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        assert!(child.wait().unwrap().success());
    }
}

const USERS: &[(&str, &str, &str)] = &[
    ("reader", "read", "r3ader-pw"),
    ("writer", "write", "wr1ter-pw"),
    ("admin", "admin", "adm1n-pw"),
];

/// A demo lake with the three users, and the users file.
fn lake_with_users() -> (tempfile::TempDir, PathBuf) {
    let dir = demo_lake();
    let users = dir.path().join("users.json");
    add_users(dir.path(), &users, USERS);
    (dir, users)
}

/// A demo lake with the three users, the users file, and a server on them (with `args`).
fn serve_with_users(args: &[&str]) -> (tempfile::TempDir, PathBuf, Server) {
    let (dir, users) = lake_with_users();
    let mut all = vec!["--users", users.to_str().unwrap()];
    all.extend_from_slice(args);
    let server = Server::start(dir.path(), &all);
    (dir, users, server)
}

/// Every file under `dir` and its bytes' length (what a write anywhere would change).
fn files(dir: &Path) -> BTreeMap<PathBuf, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                out.insert(entry.path(), meta.len());
            }
        }
    }
    out
}

fn error_of(outcome: &Value) -> String {
    outcome["error"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error, got {outcome}"))
        .to_string()
}

#[test]
fn a_reader_cannot_write_export_read_files_escalate_or_forge_tickets() {
    let (dir, users) = lake_with_users();
    let outdir = dir.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    let lake = dir.path().join("lake");
    let server = Server::start(dir.path(), &["--users", users.to_str().unwrap()]);
    // An admin's query with a secret in it, which the reader must not see.
    let admin = attack(
        &server,
        "token",
        json!({"user": "admin", "password": "adm1n-pw"}),
    );
    let seen = attack(
        &server,
        "with_token",
        json!({"token": admin["token"], "sql": "SELECT 'hunter2' AS password"}),
    );
    assert_eq!(seen["ok"], json!([{"password": "hunter2"}]));
    let users_before = std::fs::read(&users).unwrap();
    let lake_before = files(&lake);

    let out = attack(
        &server,
        "reader",
        json!({
            "user": "reader", "password": "r3ader-pw", "writer": ["writer", "wr1ter-pw"],
            "outdir": outdir, "lake": lake, "users": users,
        }),
    );

    // Each write, export or file read is refused, with the reason.
    let expect = |name: &str, parts: &[&str]| {
        let message = error_of(&out[name]);
        for part in parts {
            assert!(message.contains(part), "{name}: {message}");
        }
    };
    for copy in [
        "copy_csv",
        "copy_parquet",
        "copy_json",
        "copy_arrow",
        "copy_table",
        "copy_over_users",
        "copy_into_delta_log",
    ] {
        expect(copy, &["PermissionDenied", "COPY ... TO is not available"]);
    }
    for explain in [
        "explain_analyze_copy",
        "explain_analyze_insert",
        "explain_analyze_overwrite",
        "explain_analyze_ctas",
    ] {
        expect(
            explain,
            &[
                "InvalidArgument",
                "EXPLAIN ANALYZE of a statement that writes is not supported",
            ],
        );
    }
    for (write, role) in [
        ("insert", "write"),
        ("ctas", "write"),
        ("create_view", "write"),
        ("create_or_replace", "admin"),
        ("drop_table", "admin"),
        ("drop_view", "admin"),
        ("prepared_insert", "write"),
        ("executemany_insert", "write"),
        ("ingest", "write"),
        ("set_partitions", "admin"),
        ("set_batch_size", "admin"),
    ] {
        expect(
            write,
            &["PermissionDenied", &format!("needs the {role} role")],
        );
    }
    expect("ingest_replace", &["PermissionDenied"]);
    expect("ingest_log", &["PermissionDenied"]);
    expect(
        "set_memory",
        &["PermissionDenied", "the operator's (runlake serve"],
    );
    for unsupported in [
        "insert_overwrite",
        "delete",
        "update",
        "external_file",
        "external_lake",
        "prepare_insert",
        "create_schema",
    ] {
        expect(unsupported, &["InvalidArgument", "not supported"]);
    }
    for alter in ["alter_properties", "alter_add_column"] {
        expect(
            alter,
            &["InvalidArgument", "Unsupported SQL statement: ALTER TABLE"],
        );
    }
    expect("truncate", &["InvalidArgument"]);
    expect("begin", &["InvalidArgument", "BEGIN TRANSACTION"]);
    expect("two_statements", &["expected one SQL statement, got 2"]);
    for path in ["file_path", "file_url", "lake_file_path", "view_of_file"] {
        expect(path, &["NotFound"]);
    }
    // A display option is the reader's to set.
    assert!(
        out["set_time_zone"]["ok"].is_array(),
        "{}",
        out["set_time_zone"]
    );

    // Tickets: made by hand, altered, or another user's are refused; one's own works.
    for forged in ["forged_write", "forged_select", "forged_pinned"] {
        let message = error_of(&out[forged]);
        assert!(
            message.contains("PERMISSION_DENIED:ticket refused: ")
                && (message.contains("not a ticket of this server")
                    || message.contains("its signature does not verify")),
            "{forged}: {message}"
        );
    }
    assert_eq!(out["own_ticket"]["ok"], json!([{"n": 3600}]));
    let altered = error_of(&out["altered_ticket"]);
    assert!(
        altered.contains("ticket refused: its signature does not verify"),
        "altered ticket: {altered}"
    );
    let borrowed = error_of(&out["borrowed_ticket"]);
    assert!(
        borrowed.contains("ticket refused: it was issued to another user"),
        "{borrowed}"
    );

    // The reader sees its own queries, not the admin's.
    assert_eq!(out["query_users"]["ok"], json!([["reader"]]));
    assert_eq!(out["admin_query_seen"]["ok"], json!([{"n": 0}]));

    // Nothing was written: not the lake, not the disk, not the users file.
    assert_eq!(out["count"]["ok"], json!([["3600"]]));
    assert_eq!(out["aliases"]["ok"], json!([["13"]]));
    assert_eq!(std::fs::read(&users).unwrap(), users_before);
    assert_eq!(files(&outdir), BTreeMap::new());
    assert_eq!(files(&lake), lake_before);
    let tables = ok(dir.path(), &["tables"]);
    assert!(!tables.contains("stolen"), "{tables}");
}

#[test]
fn the_shell_refuses_explain_analyze_of_a_write_and_writes_to_the_lakes_own_tables() {
    let dir = demo_lake();
    for (sql, message) in [
        (
            "EXPLAIN ANALYZE INSERT INTO framework_aliases SELECT * FROM framework_aliases",
            "EXPLAIN ANALYZE of a statement that writes is not supported",
        ),
        (
            "INSERT OVERWRITE framework_aliases SELECT * FROM framework_aliases LIMIT 1",
            "INSERT OVERWRITE is not supported",
        ),
        (
            "INSERT INTO _ingests (sha256) VALUES ('forged')",
            "'_ingests' is one of the lake's own tables",
        ),
    ] {
        let o = runlake(dir.path(), &["sql", sql]);
        assert_eq!(o.status.code(), Some(1), "{sql}");
        assert!(stderr(&o).contains(message), "{sql}: {}", stderr(&o));
    }
    let count = |sql: &str| ok(dir.path(), &["sql", "--format", "csv", sql]);
    assert_eq!(
        count("SELECT count(*) AS n FROM framework_aliases"),
        "n\n13\n"
    );
    assert_eq!(
        count("SELECT count(*) AS n FROM _ingests WHERE sha256 = 'forged'"),
        "n\n0\n"
    );
}

#[test]
fn a_ticket_pinned_behind_a_forget_is_refused() {
    let (dir, _users, server) = serve_with_users(&[]);
    let reader = json!({"user": "reader", "password": "r3ader-pw"});
    let mut args = reader.clone();
    args["sql"] = Value::from("SELECT count(*) AS n FROM predictions");
    let ticket = attack(&server, "ticket", args);
    let mut redeem = reader.clone();
    redeem["ticket"] = ticket["ticket"].clone();
    assert_eq!(
        attack(&server, "redeem", redeem.clone())["ok"],
        json!([{"n": 3600}])
    );

    ok(dir.path(), &["forget", "examples/data/predictions.csv"]);
    let refused = error_of(&attack(&server, "redeem", redeem));
    assert!(
        refused.contains("ticket refused: rows of table 'predictions' at version 0 were deleted"),
        "{refused}"
    );
}

#[test]
fn the_same_statement_from_two_users_answers_each_as_themselves() {
    // The server keeps a statement's session and plan from one call to the next; a
    // reader's and an admin's identical statements, interleaved, must not share them.
    let (_dir, _users, server) = serve_with_users(&[]);
    let out = attack(
        &server,
        "two_users",
        json!({"users": [["reader", "r3ader-pw"], ["admin", "adm1n-pw"]]}),
    );
    assert_eq!(out["reader"]["ok"], json!([{"user": "reader"}]), "{out}");
    assert_eq!(
        out["admin"]["ok"],
        json!([{"user": "admin"}, {"user": "reader"}]),
        "{out}"
    );
}

#[test]
fn a_removed_users_token_is_refused_at_once() {
    let (dir, users, server) = serve_with_users(&[]);
    let token = attack(
        &server,
        "token",
        json!({"user": "reader", "password": "r3ader-pw"}),
    )["token"]
        .clone();
    let query = json!({"token": token, "sql": "SELECT 1 AS one"});
    assert_eq!(
        attack(&server, "with_token", query.clone())["ok"],
        json!([{"one": 1}])
    );
    ok(
        dir.path(),
        &[
            "users",
            "remove",
            "reader",
            "--file",
            users.to_str().unwrap(),
        ],
    );
    let refused = error_of(&attack(&server, "with_token", query));
    assert!(
        refused.contains("no longer exists or has a new password"),
        "{refused}"
    );
}

#[test]
fn token_keys_are_at_least_32_bytes_and_live_outside_the_lake() {
    let (dir, users) = lake_with_users();
    let users = users.to_str().unwrap();
    for (secret, message) in [
        ("", "--token-secret (RUNLAKE_TOKEN_SECRET) is empty"),
        ("short", "at least 32 bytes, this one has 5"),
    ] {
        let o = runlake(
            dir.path(),
            &[
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--users",
                users,
                "--token-secret",
                secret,
            ],
        );
        assert_eq!(o.status.code(), Some(1), "{secret:?}");
        assert!(stderr(&o).contains(message), "{}", stderr(&o));
    }
    let inside = dir.path().join("lake/keys");
    let o = runlake(
        dir.path(),
        &[
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--users",
            users,
            "--token-key-file",
            inside.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is inside the lake"), "{}", stderr(&o));

    // A key an earlier version kept in the lake is moved to the key file, once.
    let in_lake = dir.path().join("lake/_runlake/token-secret");
    std::fs::create_dir_all(in_lake.parent().unwrap()).unwrap();
    std::fs::write(&in_lake, [7u8; 32]).unwrap();
    let (server, log) = Server::start_watched(dir.path(), &["--users", users], &[]);
    let lines = super::serve::wait_for_log(&log, &["now in", "removed from the lake"], 60);
    assert!(
        lines.iter().any(|l| l.contains("runlake-token.keys")),
        "{lines:?}"
    );
    assert!(!in_lake.exists());
    let key_file = dir.path().join("runlake-token.keys");
    let text = std::fs::read_to_string(&key_file).unwrap();
    assert!(text.contains(&"07".repeat(32)), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let token = attack(
        &server,
        "token",
        json!({"user": "writer", "password": "wr1ter-pw"}),
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    drop(server);
    // Another server with the same key file accepts the token; one with another key not.
    let again = Server::start(dir.path(), &["--users", users]);
    let query = json!({"token": token, "sql": "SELECT 1 AS one"});
    assert_eq!(
        attack(&again, "with_token", query.clone())["ok"],
        json!([{"one": 1}])
    );
    drop(again);
    let other = Server::start(
        dir.path(),
        &["--users", users, "--token-secret", &"k".repeat(32)],
    );
    let refused = error_of(&attack(&other, "with_token", query));
    assert!(refused.contains("invalid bearer token"), "{refused}");
}

#[test]
fn an_endless_stream_ends_at_the_query_timeout() {
    let dir = demo_lake();
    let server = Server::start(dir.path(), &["--query-timeout", "3s"]);
    let out = attack(
        &server,
        "endless",
        json!({"sql": "SELECT v FROM generate_series(1, 2000000000) t(v)"}),
    );
    let ended = out["ended"].as_str().unwrap();
    assert!(
        ended.contains("ran longer than the server's limit of 3s"),
        "{out}"
    );
    assert!(out["rows"].as_u64().unwrap() > 0, "{out}");
}

#[test]
fn clients_that_stop_reading_lose_their_slots() {
    let dir = demo_lake();
    let server = Server::start(
        dir.path(),
        &[
            "--max-concurrent-queries",
            "2",
            "--idle-timeout",
            "1s",
            "--queue-timeout",
            "120s",
        ],
    );
    let out = attack(&server, "stall", json!({}));
    assert_eq!(out["small_query"]["ok"], json!([{"one": 1}]), "{out}");
    let log = out["log"]["ok"].as_array().unwrap();
    assert_eq!(log.len(), 2, "{out}");
    for entry in log {
        assert_eq!(entry["status"], "error", "{out}");
        assert!(
            entry["error"].as_str().unwrap().contains("--idle-timeout"),
            "{out}"
        );
    }
    for end in out["stalled_ends"].as_array().unwrap() {
        assert_ne!(end, "complete", "{out}");
    }
}

#[test]
fn writes_and_large_values_stay_within_the_query_memory_limit() {
    let (dir, _users, server) = serve_with_users(&["--query-memory-limit", "64MB"]);
    let out = attack(
        &server,
        "memory",
        json!({"user": "writer", "password": "wr1ter-pw"}),
    );
    for name in ["ctas", "insert", "large_values", "ingest"] {
        let message = error_of(&out[name]);
        assert!(
            message.contains("ResourceExhausted") && message.contains("--query-memory-limit"),
            "{name}: {message}"
        );
    }
    // Functions whose values grow with an argument are refused before they allocate,
    // also a constant value that the projection would copy into every row of a batch.
    let growing = out["growing"].as_object().unwrap();
    assert_eq!(growing.len(), 9, "{out}");
    for (name, outcome) in growing {
        let message = error_of(outcome);
        let function = name.split('_').next().unwrap();
        let function = match name.as_str() {
            "repeat_one" | "constant_rows" | "column_counts" => "repeat",
            "array_repeat" | "array_resize" | "generate_series" => name.as_str(),
            _ => function,
        };
        assert!(
            message.contains(&format!("{function}() would make"))
                && message.contains("--query-memory-limit"),
            "{name}: {message}"
        );
    }
    assert!(
        error_of(&out["large_values"]).contains("repeat() would make 100000000 bytes"),
        "{out}"
    );
    assert_eq!(
        out["growing_within"]["ok"],
        json!([[
            "ababab",
            "---x",
            "x  ",
            "[7, 7, 7]",
            "[1, 0, 0]",
            "[1, 2, 3]",
            "[1, 2, 3]",
            "1000000"
        ]]),
        "{out}"
    );
    // Everything above asked for 100 MB to 490 GB at once; the server never held more
    // than a few times the 64 MB limit beyond its own (debug build) footprint.
    let peak = server.peak_memory();
    assert!(peak < 512 << 20, "peak resident memory {peak} bytes");
    assert_eq!(out["small_after"]["ok"], json!([["13"]]));
    for name in ["insert_log", "ingest_log"] {
        let message = error_of(&out[name]);
        assert!(
            message.contains("one of the lake's own tables"),
            "{name}: {message}"
        );
    }
    let tables = ok(dir.path(), &["tables"]);
    assert!(
        !tables.contains("big ") && !tables.contains("big_upload"),
        "{tables}"
    );
}

#[test]
fn a_small_query_runs_while_a_heavy_one_holds_its_threads() {
    // The heavy query (a nested-loop join of 10^12 pairs) does all its work inside
    // polls that never return to the runtime; on shared threads the small query would
    // wait for them (minutes). With threads of its own it is answered while the heavy
    // query still runs.
    let dir = demo_lake();
    let server = Server::start(dir.path(), &[]);
    let out = attack(&server, "fair", json!({}));
    assert_eq!(out["heavy_running_before"], json!(1), "{out}");
    assert_eq!(out["small"]["ok"], json!([[535]]), "{out}");
    assert_eq!(out["heavy_running_after"], json!(1), "{out}");
}

#[test]
fn failed_sign_ins_are_rate_limited_per_peer() {
    let (_dir, _users, server) = serve_with_users(&[]);
    let out = attack(
        &server,
        "sign_ins",
        json!({"user": "reader", "password": "r3ader-pw"}),
    );
    let guesses = &out["guesses"];
    let limited = guesses["resource_exhausted"].as_u64().unwrap_or(0);
    let checked = guesses["unauthenticated"].as_u64().unwrap_or(0);
    assert_eq!(limited + checked, 160, "{out}");
    // Ten failures, then one more every two seconds: the rest are refused unchecked.
    assert!(limited >= 100, "{out}");
    assert_eq!(out["token_query"]["ok"], json!([{"one": 1}]));
}

/// Writes `name` in `dir` from Python (zlib streaming, so a large bomb costs no memory
/// here): `kind` is "zeros" (2.7 GB of NUL bytes), "lines" (1 GiB of CSV rows) or
/// "line" (one 8 MiB line), gzip-compressed.
fn gzip_bomb(dir: &Path, name: &str, kind: &str) -> PathBuf {
    let path = dir.join(name);
    let script = r#"
import sys, zlib
path, kind = sys.argv[1], sys.argv[2]
c = zlib.compressobj(9, zlib.DEFLATED, 31)
with open(path, "wb") as out:
    if kind == "zeros":
        chunk, n = b"\0" * (1 << 20), 2700
    elif kind == "lines":
        out.write(c.compress(b"name,value\n"))
        chunk, n = b"a,1\n" * (1 << 18), 1024
    else:
        out.write(c.compress(b"name,value\nb,2\n"))
        chunk, n = b"a" * (1 << 20), 8
    for _ in range(n):
        out.write(c.compress(chunk))
    out.write(c.flush())
"#;
    let made = Command::new(test_python())
        .args(["-c", script])
        .arg(&path)
        .arg(kind)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    path
}

/// `runlake ingest ARGS` with its address space capped at `cap_kib` (ulimit -v), so a
/// read that grew with its input would fail there instead of finishing.
fn ingest_capped(dir: &Path, cap_kib: u64, args: &[&str]) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {cap_kib} && exec \"$0\" ingest \"$@\"",))
        .arg(env!("CARGO_BIN_EXE_runlake"))
        .args(args)
        .current_dir(dir)
        .env("RUNLAKE_LAKE", dir.join("lake"))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn decompression_bombs_and_binary_junk_end_in_clear_errors_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    // Each bomb is refused, with its reason, inside a 1 GB address space.
    for (kind, args, message) in [
        // 2.7 GB of NUL bytes in 2.7 MB: refused at the first chunk, as not text.
        (
            "zeros",
            &[][..],
            "zeros.gz: line 1: column 1: a NUL byte: this is not a text file",
        ),
        // 1 GiB of valid rows: refused once past --max-input-size.
        (
            "lines",
            &["--max-input-size", "64MiB"][..],
            "lines.gz: the input holds more than 67108864 bytes (after decompression; raise \
             the limit with --max-input-size)",
        ),
        // One line of 8 MiB: refused at its line.
        (
            "line",
            &["--max-line-size", "1MiB"][..],
            "line.gz: line 3: the line is longer than 1048576 bytes",
        ),
    ] {
        let file = format!("{kind}.gz");
        gzip_bomb(dir.path(), &file, kind);
        let mut all = args.to_vec();
        all.push(&file);
        let o = ingest_capped(dir.path(), 1_000_000, &all);
        assert_eq!(o.status.code(), Some(1), "{kind}: {}", stderr(&o));
        assert!(stderr(&o).contains(message), "{kind}: {}", stderr(&o));
    }
    // A plain file of NUL bytes, and one with a NUL in the middle of a CSV.
    std::fs::write(dir.path().join("nul.bin"), vec![0u8; 1 << 20]).unwrap();
    std::fs::write(dir.path().join("mixed.csv"), b"a,b\n1,2\n3,\x004\n").unwrap();
    for (file, at) in [
        ("nul.bin", "line 1: column 1"),
        ("mixed.csv", "line 3: column 3"),
    ] {
        let o = runlake(dir.path(), &["ingest", file]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(
            stderr(&o).contains(&format!("{file}: {at}: a NUL byte")),
            "{}",
            stderr(&o)
        );
    }
    // Nothing was committed.
    let tables = ok(dir.path(), &["tables"]);
    assert!(tables.contains("has no tables yet"), "{tables}");
}

#[test]
fn the_ingest_log_is_complete_after_a_crash_between_the_data_and_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("framework,predicted_ms,actual_ms\n");
    for i in 0..1000 {
        csv.push_str(&format!("vLLM,{}.5,{}.25\n", i, i + 1));
    }
    std::fs::write(dir.path().join("base.csv"), &csv).unwrap();
    // Stopped exactly after the table's commit, before the log's.
    let o = Command::new(env!("CARGO_BIN_EXE_runlake"))
        .args(["ingest", "--table", "t1", "base.csv"])
        .current_dir(dir.path())
        .env("RUNLAKE_LAKE", dir.path().join("lake"))
        .env("RUNLAKE_FAILPOINT", "ingest:before-log")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let count = |sql: &str| ok(dir.path(), &["sql", "--format", "csv", sql]);
    assert_eq!(count("SELECT count(*) AS n FROM t1"), "n\n1000\n");
    assert!(!ok(dir.path(), &["tables"]).contains("_ingests"));

    // The re-run writes nothing again and completes the log.
    let again = ok(dir.path(), &["ingest", "--table", "t1", "base.csv"]);
    assert!(again.contains("already ingested"), "{again}");
    assert_eq!(count("SELECT count(*) AS n FROM t1"), "n\n1000\n");
    let log = "SELECT table_name, action, rows FROM _ingests ORDER BY table_name";
    assert_eq!(count(log), "table_name,action,rows\nt1,ingest,\n");
    // A third run changes nothing.
    ok(dir.path(), &["ingest", "--table", "t1", "base.csv"]);
    assert_eq!(count(log), "table_name,action,rows\nt1,ingest,\n");

    // The same content into another table is an ingest of its own, in the log too.
    ok(dir.path(), &["ingest", "--table", "t2", "base.csv"]);
    assert_eq!(count("SELECT count(*) AS n FROM t2"), "n\n1000\n");
    assert_eq!(
        count(log),
        "table_name,action,rows\nt1,ingest,\nt2,ingest,1000\n"
    );
}

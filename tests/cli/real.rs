//! Real tool outputs from other people's runs (tests/cli/fixtures/real, provenance in its
//! SOURCES.md): each lands with the numbers its tool wrote, or is refused naming file,
//! line and column. The expected numbers come from the raw files, computed by
//! fixtures/real_reference.py (its output: fixtures/real_reference.json).

use std::path::Path;

use serde_json::Value;

use super::{ok, runlake, stderr};

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/fixtures")
}

/// The rows of `sql` as JSON objects.
fn rows(dir: &Path, sql: &str) -> Vec<Value> {
    let out = ok(dir, &["sql", "--format", "json", sql]);
    match serde_json::from_str(&out).unwrap_or_else(|e| panic!("{sql}: {e}: {out}")) {
        Value::Array(rows) => rows,
        other => panic!("{sql}: not an array: {other}"),
    }
}

#[test]
fn every_reader_parses_a_decimal_to_the_correctly_rounded_double() {
    // 4,501 decimal strings (Python reprs of latencies, 15-25 digit fractions, exponents
    // from e-320 to e290, exact halfway cases) with the double Python's float() gives.
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("decimals.json")).unwrap())
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mut csv, mut jsonl) = (String::from("i,v\n"), String::new());
    for (i, case) in cases.iter().enumerate() {
        let text = case["text"].as_str().unwrap();
        csv.push_str(&format!("{i},{text}\n"));
        jsonl.push_str(&format!("{{\"i\": {i}, \"v\": {text}}}\n"));
    }
    std::fs::write(dir.path().join("decimals.csv"), csv).unwrap();
    std::fs::write(dir.path().join("decimals.jsonl"), jsonl).unwrap();
    ok(dir.path(), &["ingest", "decimals.csv", "--table", "from_csv"]);
    ok(dir.path(), &["ingest", "decimals.jsonl", "--table", "from_json"]);
    for table in ["from_csv", "from_json"] {
        let got = rows(dir.path(), &format!("SELECT i, v FROM {table} ORDER BY i"));
        assert_eq!(got.len(), cases.len(), "{table}");
        let wrong: Vec<String> = got
            .iter()
            .zip(&cases)
            .filter_map(|(row, case)| {
                let bits = format!("{:016x}", row["v"].as_f64().unwrap().to_bits());
                (bits != case["bits"].as_str().unwrap())
                    .then(|| format!("{} -> {bits}, not {}", case["text"], case["bits"]))
            })
            .collect();
        assert!(wrong.is_empty(), "{table}: {} wrong: {:?}", wrong.len(), &wrong[..wrong.len().min(5)]);
    }
}

#[test]
fn an_overflowing_number_is_refused_the_same_way_by_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.csv"), "a,b\n1,2.5\n2,1e400\n").unwrap();
    std::fs::write(dir.path().join("big.jsonl"), "{\"a\": 1, \"b\": 2.5}\n{\"a\": 2, \"b\": 1e400}\n").unwrap();
    // The CSV's header is line 1; serde_json places the error at the number's last digit.
    for (file, place) in [
        ("big.csv", "line 3, column 'b'"),
        ("big.jsonl", "line 2: invalid JSON at column 19"),
    ] {
        let o = runlake(dir.path(), &["ingest", file]);
        assert!(!o.status.success(), "{file}");
        let message = stderr(&o);
        assert!(
            message.contains(file)
                && message.contains(place)
                && message.contains("out of range")
                && message.contains("nothing was committed"),
            "{file}: {message}"
        );
    }
    // Infinity written as such is a value, not an overflow.
    std::fs::write(dir.path().join("inf.csv"), "a,b\n1,inf\n").unwrap();
    ok(dir.path(), &["ingest", "inf.csv"]);
    assert_eq!(rows(dir.path(), "SELECT CAST(b AS VARCHAR) AS b FROM inf")[0]["b"], "inf");
}

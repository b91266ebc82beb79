//! Large CSV files read window by window (`runlake ingest --window`): the rows, types,
//! lines, provenance and commit are those of a whole read (`--window 0`), and a file the
//! window path cannot take as it is gets read whole, leaving no files behind.

use std::path::Path;

use super::{ok, runlake, stderr};

fn csv(dir: &Path, sql: &str) -> String {
    ok(dir, &["sql", "--format", "csv", sql])
}

/// The Parquet files in a table's folder, committed or not.
fn parquet_files(table_dir: &Path) -> usize {
    match std::fs::read_dir(table_dir) {
        Ok(entries) => entries
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".parquet"))
            })
            .count(),
        Err(_) => 0,
    }
}

/// A CSV of `n` rows that exercises the reader: a byte-order mark, names renamed to
/// snake_case, quoted fields holding the delimiter, escaped quotes and line breaks (LF
/// and CR LF), CR LF line ends on some lines, blank lines, empty values, non-ASCII text
/// and no line end after the last row. `last` replaces the last row's fields after the
/// index when given.
fn varied_csv(n: usize, last: Option<&str>) -> String {
    let mut text = String::from("\u{feff}Request Index,Model Name,latency_ms,output_tokens,note\n");
    for i in 0..n {
        let model = match i % 7 {
            0 => "\"m,comma\"".to_string(),
            1 => "modèle-é".to_string(),
            k => format!("m{k}"),
        };
        let latency = if i % 11 == 0 {
            String::new()
        } else {
            format!("{}", i as f64 * 0.25)
        };
        let note = match i % 97 {
            0 => format!("\"two\nlines, \"\"quoted\"\" {i}\""),
            1 => format!("\"cr lf\r\ninside {i}\""),
            2 => String::new(),
            _ => format!("n{i}"),
        };
        let fields = match (i + 1 == n, last) {
            (true, Some(last)) => last.to_string(),
            _ => format!("{model},{latency},{},{note}", i % 300),
        };
        text.push_str(&format!("{i},{fields}"));
        if i + 1 < n {
            text.push_str(if i % 5 == 0 { "\r\n" } else { "\n" });
        }
        if i % 1000 == 999 {
            text.push('\n'); // a blank line
        }
    }
    text
}

/// A last row whose latency is not a number: a bad row at the file's end.
const LATE_BAD_ROW: &str = "m1,slow,3,late";

/// `late_bad_row.csv` in `dir`: 20,000 rows, the last of them bad.
fn write_late_bad_row(dir: &Path) {
    std::fs::write(
        dir.join("late_bad_row.csv"),
        varied_csv(20_000, Some(LATE_BAD_ROW)),
    )
    .unwrap();
}

/// The table as CSV in line order, every column but the ingest time.
fn table_text(dir: &Path, table: &str) -> String {
    csv(
        dir,
        &format!("SELECT * EXCLUDE (_ingested_at) FROM {table} ORDER BY _line"),
    )
}

#[test]
fn a_csv_read_in_windows_lands_as_a_whole_read_does() {
    let dir = tempfile::tempdir().unwrap();
    let n = 40_000;
    let text = varied_csv(n, None);
    assert!(text.len() > 1 << 20, "{} bytes", text.len());
    std::fs::write(dir.path().join("latency.csv"), &text).unwrap();
    let whole_dir = dir.path().join("whole");
    std::fs::create_dir(&whole_dir).unwrap();
    std::fs::write(whole_dir.join("latency.csv"), &text).unwrap();

    let windowed = ok(dir.path(), &["ingest", "--window", "64KiB", "latency.csv"]);
    let whole = ok(&whole_dir, &["ingest", "--window", "0", "latency.csv"]);
    let windows: usize = windowed
        .split("read in ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the file was read in windows: {windowed}"));
    assert!(windows >= 15, "{windowed}");
    assert!(!whole.contains("read in"), "{whole}");
    // The same report: records, rows and renamed columns.
    let summary = |out: &str| -> Vec<String> {
        out.lines()
            .map(|l| match l.find(" [") {
                Some(at) => l[..at].to_string(),
                None => l.to_string(),
            })
            .collect()
    };
    assert_eq!(summary(&windowed), summary(&whole));
    assert!(
        windowed.contains(&format!("latency.csv: csv, {n} records -> latency +{n}"))
            && windowed.contains("column 'Request Index' -> request_index"),
        "{windowed}"
    );
    // The same table: types, values, lines and provenance.
    assert_eq!(
        ok(dir.path(), &["schema", "latency"]),
        ok(&whole_dir, &["schema", "latency"])
    );
    let rows = table_text(dir.path(), "latency");
    assert_eq!(rows, table_text(&whole_dir, "latency"));
    assert_eq!(rows.matches("two\nlines").count(), n.div_ceil(97));
    assert_eq!(
        csv(
            dir.path(),
            "SELECT arrow_typeof(request_index) AS i, arrow_typeof(latency_ms) AS l, \
             count(*) AS n, max(_line) AS last FROM latency GROUP BY 1, 2"
        ),
        csv(
            &whole_dir,
            "SELECT arrow_typeof(request_index) AS i, arrow_typeof(latency_ms) AS l, \
             count(*) AS n, max(_line) AS last FROM latency GROUP BY 1, 2"
        ),
    );
    // The same content hash, the file's own.
    let sha =
        runlake_ingest::Source::from_path(&dir.path().join("latency.csv"), &Default::default())
            .unwrap()
            .sha256;
    let logged = format!("sha256,rows\n{sha},{n}\n");
    assert_eq!(csv(dir.path(), "SELECT sha256, rows FROM _ingests"), logged);
    assert_eq!(csv(&whole_dir, "SELECT sha256, rows FROM _ingests"), logged);
    // Only committed files are in the table's folder: as many as the log lists.
    let table_dir = dir.path().join("lake/latency");
    let files = parquet_files(&table_dir);
    assert!(files >= 1);
    let again = ok(dir.path(), &["ingest", "--window", "64KiB", "latency.csv"]);
    assert!(again.contains("already ingested"), "{again}");
    assert_eq!(parquet_files(&table_dir), files, "no files left behind");
    assert_eq!(
        csv(dir.path(), "SELECT count(*) AS n FROM latency"),
        format!("n\n{n}\n")
    );
    let forced = ok(
        dir.path(),
        &["ingest", "--window", "64KiB", "--force", "latency.csv"],
    );
    assert!(forced.contains(&format!("latency +{n}")), "{forced}");
    assert_eq!(
        csv(dir.path(), "SELECT count(*) AS n FROM latency"),
        format!("n\n{}\n", 2 * n)
    );
}

/// Each case's last row makes a whole read type or reject differently from what the
/// first windows show: the window path gives the file back to the whole read, which
/// lands it as it always did, and what the window path had written is deleted.
#[test]
fn a_file_the_windows_cannot_take_as_it_is_is_read_whole() {
    let cases = [
        // A count column whole in every row but the last: FLOAT, not INT.
        ("late_fraction", "m1,2.5,2.5,late", &[][..]),
        // A value no number: a bad row, rejected with its line's text.
        (
            "late_bad_row",
            "m1,slow,3,late",
            &["--max-bad-rows", "1"][..],
        ),
    ];
    for (name, last, extra) in cases {
        let dir = tempfile::tempdir().unwrap();
        let file = format!("{name}.csv");
        let text = varied_csv(20_000, Some(last));
        std::fs::write(dir.path().join(&file), &text).unwrap();
        let whole_dir = dir.path().join("whole");
        std::fs::create_dir(&whole_dir).unwrap();
        std::fs::write(whole_dir.join(&file), &text).unwrap();
        let mut args = vec!["ingest", "--window", "64KiB"];
        args.extend_from_slice(extra);
        args.push(&file);
        let windowed = ok(dir.path(), &args);
        assert!(!windowed.contains("read in"), "{name}: {windowed}");
        let mut args = vec!["ingest", "--window", "0"];
        args.extend_from_slice(extra);
        args.push(&file);
        ok(&whole_dir, &args);
        assert_eq!(
            table_text(dir.path(), name),
            table_text(&whole_dir, name),
            "{name}"
        );
        assert_eq!(
            ok(dir.path(), &["schema", name]),
            ok(&whole_dir, &["schema", name]),
            "{name}"
        );
        assert_eq!(
            parquet_files(&dir.path().join("lake").join(name)),
            1,
            "{name}: only the whole read's file"
        );
    }
    // The two cases' outcomes, as a whole read gives them.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("late_fraction.csv"),
        varied_csv(20_000, Some("m1,2.5,2.5,late")),
    )
    .unwrap();
    ok(
        dir.path(),
        &["ingest", "--window", "64KiB", "late_fraction.csv"],
    );
    assert_eq!(
        csv(
            dir.path(),
            "SELECT arrow_typeof(output_tokens) AS t, sum(output_tokens) AS s FROM late_fraction GROUP BY 1"
        ),
        format!(
            "t,s\nFloat64,{}\n",
            (0..19_999).map(|i| (i % 300) as f64).sum::<f64>() + 2.5
        )
    );
    write_late_bad_row(dir.path());
    let o = runlake(
        dir.path(),
        &["ingest", "--window", "64KiB", "late_bad_row.csv"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("column 'latency_ms'") && stderr(&o).contains("slow"),
        "{}",
        stderr(&o)
    );
    assert_eq!(parquet_files(&dir.path().join("lake/late_bad_row")), 0);
}

#[test]
fn a_broken_byte_in_a_late_window_fails_at_its_line_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = varied_csv(20_000, None).into_bytes();
    // Latin-1 "é" (0xE9 alone is not UTF-8) on the last line.
    let at = text.len() - 2;
    text.insert(at, 0xE9);
    std::fs::write(dir.path().join("broken.csv"), &text).unwrap();
    let whole = runlake(dir.path(), &["ingest", "--window", "0", "broken.csv"]);
    let windowed = runlake(dir.path(), &["ingest", "--window", "64KiB", "broken.csv"]);
    assert_eq!(windowed.status.code(), Some(1));
    assert_eq!(stderr(&windowed), stderr(&whole));
    assert!(
        stderr(&windowed).contains("broken.csv") && stderr(&windowed).contains("not valid UTF-8"),
        "{}",
        stderr(&windowed)
    );
    assert_eq!(parquet_files(&dir.path().join("lake/broken")), 0);
    let o = runlake(dir.path(), &["sql", "SELECT count(*) FROM broken"]);
    assert_eq!(o.status.code(), Some(1), "nothing was committed");
    // A window too small to be worth its work is refused up front.
    let o = runlake(dir.path(), &["ingest", "--window", "1KiB", "broken.csv"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--window 1024: use 0 (read files whole) or at least 16KiB"),
        "{}",
        stderr(&o)
    );
}

/// A table kept in a sort order needs all of an append's rows at once: its appends are
/// read whole and land sorted.
#[test]
fn appends_to_a_sorted_table_are_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("first.csv"), varied_csv(20_000, None)).unwrap();
    let first = ok(
        dir.path(),
        &["ingest", "--window", "64KiB", "--table", "t", "first.csv"],
    );
    assert!(first.contains("read in"), "{first}");
    ok(
        dir.path(),
        &["sort-by", "t", "output_tokens", "request_index"],
    );
    std::fs::write(dir.path().join("second.csv"), varied_csv(20_001, None)).unwrap();
    let second = ok(
        dir.path(),
        &["ingest", "--window", "64KiB", "--table", "t", "second.csv"],
    );
    assert!(!second.contains("read in"), "{second}");
    assert!(second.contains("t +20001"), "{second}");
}

/// A column with no value in some windows: those windows would type it as text, but a
/// whole read types it by the rows that have values, and so do the windows. When the
/// first window has none, the file is read whole.
#[test]
fn a_sparse_column_types_as_in_a_whole_read() {
    for (name, empty) in [("gap_later", 8_000..20_000), ("gap_first", 0..12_000)] {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("id,value_ms,extra_ms\n");
        for i in 0..30_000u32 {
            let extra = if empty.contains(&i) {
                String::new()
            } else {
                format!("{}.5", i % 1000)
            };
            text.push_str(&format!("{i},{}.25,{extra}\n", i % 777));
        }
        let file = format!("{name}.csv");
        std::fs::write(dir.path().join(&file), &text).unwrap();
        let whole_dir = dir.path().join("whole");
        std::fs::create_dir(&whole_dir).unwrap();
        std::fs::write(whole_dir.join(&file), &text).unwrap();
        let windowed = ok(dir.path(), &["ingest", "--window", "32KiB", &file]);
        assert_eq!(
            windowed.contains("read in"),
            name == "gap_later",
            "{windowed}"
        );
        ok(&whole_dir, &["ingest", "--window", "0", &file]);
        assert_eq!(
            ok(dir.path(), &["schema", name]),
            ok(&whole_dir, &["schema", name])
        );
        assert_eq!(table_text(dir.path(), name), table_text(&whole_dir, name));
        assert_eq!(
            csv(
                dir.path(),
                &format!(
                    "SELECT arrow_typeof(extra_ms) AS t, count(extra_ms) AS n FROM {name} GROUP BY 1"
                )
            ),
            "t,n\nFloat64,18000\n"
        );
    }
}

/// `--max-input-size` bounds what a whole read holds; a file read in windows holds a
/// window at a time, so it is not bound by it, unless it has to be read whole.
#[test]
fn the_input_limit_bounds_whole_reads_not_windows() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.csv"), varied_csv(20_000, None)).unwrap();
    let limit = ["--max-input-size", "256KiB"];
    let whole = runlake(
        dir.path(),
        &["ingest", limit[0], limit[1], "--window", "0", "big.csv"],
    );
    assert_eq!(whole.status.code(), Some(1));
    assert!(
        stderr(&whole).contains("holds more than 262144 bytes"),
        "{}",
        stderr(&whole)
    );
    let windowed = ok(
        dir.path(),
        &["ingest", limit[0], limit[1], "--window", "64KiB", "big.csv"],
    );
    assert!(
        windowed.contains("big +20000") && windowed.contains("read in"),
        "{windowed}"
    );
    write_late_bad_row(dir.path());
    let o = runlake(
        dir.path(),
        &[
            "ingest",
            limit[0],
            limit[1],
            "--window",
            "64KiB",
            "late_bad_row.csv",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(
            "late_bad_row.csv: the file must be read whole (it has bad rows), and it holds \
             more than 262144 bytes (raise the limit with --max-input-size)"
        ),
        "{}",
        stderr(&o)
    );
    assert_eq!(parquet_files(&dir.path().join("lake/late_bad_row")), 0);
}

//! `runlake report` on the demo lake: every shipped report renders (Markdown snapshots in
//! tests/cli/snapshots, regenerated with RUNLAKE_UPDATE_SNAPSHOTS=1), parameters bind,
//! alerts fire or stay quiet as their conditions say, `--fail-on-alert` gates.

use std::path::Path;

use super::serve::demo_lake;
use super::{ok, runlake, stderr, stdout};

const REPORTS: &[&str] = &[
    "benchmark_regression",
    "framework_accuracy",
    "pipeline_latency_breakdown",
    "prefill_decode_accuracy",
    "step_duration_drivers",
];

/// The Markdown without its "Generated ..." line.
fn stable(markdown: &str) -> String {
    markdown
        .lines()
        .filter(|l| !l.starts_with("_Generated "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_shipped_report_renders_on_the_demo_lake() {
    let dir = demo_lake();
    let listed = ok(dir.path(), &["report", "--list"]);
    for name in REPORTS {
        assert!(listed.contains(name), "{listed}");
        let markdown = stable(&ok(dir.path(), &["report", name]));
        let snapshot = crate::repo()
            .join("tests/cli/snapshots")
            .join(format!("{name}.md"));
        if std::env::var_os("RUNLAKE_UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&snapshot, &markdown).unwrap();
        }
        let expected = std::fs::read_to_string(&snapshot)
            .unwrap_or_else(|_| panic!("no snapshot {}", snapshot.display()));
        assert_eq!(markdown, expected, "{name} differs from its snapshot");
    }
}

#[test]
fn benchmark_regression_gates_on_its_threshold() {
    let dir = demo_lake();
    let gated = runlake(
        dir.path(),
        &[
            "report",
            "benchmark_regression",
            "--param",
            "threshold=0.05",
            "--fail-on-alert",
        ],
    );
    assert_eq!(gated.status.code(), Some(3), "{}", stderr(&gated));
    assert!(
        stderr(&gated).contains(
            "alert (warning): Qwen/Qwen2.5-14B-Instruct @ inf req/s: TTFT 173.6801 -> 196.4726 ms (0.1312 slower)"
        ),
        "{}",
        stderr(&gated)
    );
    let quiet = runlake(
        dir.path(),
        &[
            "report",
            "benchmark_regression",
            "--param",
            "threshold=0.2",
            "--fail-on-alert",
        ],
    );
    assert_eq!(quiet.status.code(), Some(0), "{}", stderr(&quiet));
    assert!(stdout(&quiet).contains("No alerts fired."));
    // Without --fail-on-alert an alert is reported but the exit code stays 0.
    let reported = runlake(
        dir.path(),
        &[
            "report",
            "benchmark_regression",
            "--param",
            "threshold=0.05",
        ],
    );
    assert_eq!(reported.status.code(), Some(0));
    // Labels are parameters too: comparing the baseline with itself finds nothing.
    let same = ok(
        dir.path(),
        &[
            "report",
            "benchmark_regression",
            "--param",
            "current=baseline",
            "--format",
            "json",
        ],
    );
    let doc: serde_json::Value = serde_json::from_str(&same).unwrap();
    assert_eq!(doc["alerts"], serde_json::json!([]));
    assert_eq!(doc["params"]["current"], "baseline");
    let rows = doc["queries"]["comparison"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r["ttft_change"] == 0.0), "{rows:?}");
}

#[test]
fn a_fired_alert_keeps_its_row_typed_in_json() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("typed.sql"),
        "/*\ntitle: Typed\nalerts:\n  - {query: q, when: \"n > 1\", severity: critical, message: \"{label}: {missing}\"}\n*/\n\
         -- name: q\n\
         SELECT 'vllm' AS label, 2 AS n, CAST(NULL AS DOUBLE) AS missing, CAST('NaN' AS DOUBLE) AS nan_ms, 1.5 AS x",
    )
    .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&ok(
        dir.path(),
        &["report", "typed.sql", "--format", "json"],
    ))
    .unwrap();
    assert_eq!(
        doc["alerts"],
        serde_json::json!([{
            "query": "q",
            "when": "n > 1",
            "severity": "critical",
            "message": "vllm: NULL",
            "row": {"label": "vllm", "n": 2, "missing": null, "nan_ms": "NaN", "x": 1.5},
        }])
    );
}

#[test]
fn json_csv_and_html_outputs() {
    let dir = demo_lake();
    let doc: serde_json::Value = serde_json::from_str(&ok(
        dir.path(),
        &[
            "report",
            "framework_accuracy",
            "--format",
            "json",
            "--param",
            "min_n=700",
        ],
    ))
    .unwrap();
    assert_eq!(doc["report"], "framework_accuracy");
    assert_eq!(
        doc["params"],
        serde_json::json!({"max_mape": 0.25, "min_n": 700})
    );
    // Only the merged DeepSpeed group has 700 pairs or more.
    let summary = doc["queries"]["summary"].as_array().unwrap();
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0]["framework"], "DeepSpeed");
    assert_eq!(summary[0]["n"], 1200);
    assert_eq!(doc["queries"]["pairs"].as_array().unwrap().len(), 3600);
    assert_eq!(doc["alerts"], serde_json::json!([]));

    let out = dir.path().join("csv");
    ok(
        dir.path(),
        &[
            "report",
            "pipeline_latency_breakdown",
            "--format",
            "csv",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let components =
        std::fs::read_to_string(out.join("pipeline_latency_breakdown.components.csv")).unwrap();
    assert!(
        components.starts_with("component,n,mean_ms,p95_ms,p99_ms,share\ndecode,240,"),
        "{components}"
    );
    assert_eq!(components.lines().count(), 6);

    let html_path = dir.path().join("report.html");
    ok(
        dir.path(),
        &[
            "report",
            "pipeline_latency_breakdown",
            "--format",
            "html",
            "--out",
            html_path.to_str().unwrap(),
        ],
    );
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(
        html.starts_with("<!DOCTYPE html>") && html.contains("<h1>Pipeline latency breakdown</h1>")
    );
    assert!(
        html.contains("class=\"alert-critical\""),
        "the SLO alert is shown"
    );
    // Self-contained: nothing loaded from elsewhere (the SVG namespace is only a name).
    for reference in ["src=\"", "href=\"", "url(", "@import"] {
        assert!(!html.contains(reference), "{reference} in the page");
    }
}

#[test]
fn report_errors_name_what_is_wrong() {
    let dir = demo_lake();
    let unknown = runlake(dir.path(), &["report", "no_such_report"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("no report 'no_such_report' (reports: benchmark_regression"),
        "{}",
        stderr(&unknown)
    );
    let param = runlake(
        dir.path(),
        &["report", "framework_accuracy", "--param", "min_n=many"],
    );
    assert!(
        stderr(&param).contains("parameter 'min_n': 'many' is not an integer"),
        "{}",
        stderr(&param)
    );
    let extra = runlake(
        dir.path(),
        &["report", "framework_accuracy", "--param", "colour=red"],
    );
    assert!(
        stderr(&extra).contains("unknown parameter 'colour' (parameters: max_mape, min_n)"),
        "{}",
        stderr(&extra)
    );
    // A report file of one's own, with a header error.
    std::fs::write(
        dir.path().join("mine.sql"),
        "/*\ntitle: Mine\ncolour: red\n*/\n-- name: q\nSELECT 1",
    )
    .unwrap();
    let bad = runlake(dir.path(), &["report", "mine.sql"]);
    assert!(
        stderr(&bad).contains("report mine: header: unknown field `colour`"),
        "{}",
        stderr(&bad)
    );
    std::fs::write(
        dir.path().join("mine.sql"),
        "/*\ntitle: Mine\nparams:\n  n: {type: int, default: 2}\n*/\n-- name: q\nSELECT count(*) AS runs FROM runs WHERE num_requests > $n",
    )
    .unwrap();
    let mine = ok(dir.path(), &["report", "mine.sql", "--format", "csv"]);
    assert!(mine.starts_with("# q\nruns\n"), "{mine}");
}

/// The SVG charts of `html`, in order.
fn charts(html: &str) -> Vec<String> {
    html.split("<svg ")
        .skip(1)
        .map(|s| s.split("</svg>").next().unwrap().to_string())
        .collect()
}

#[test]
fn html_charts_have_a_mark_per_point_or_bar_and_axes() {
    let dir = demo_lake();
    let render = |name: &str| {
        let path = dir.path().join(format!("{name}.html"));
        ok(
            dir.path(),
            &[
                "report",
                name,
                "--format",
                "html",
                "--out",
                path.to_str().unwrap(),
            ],
        );
        std::fs::read_to_string(path).unwrap()
    };
    let marks = |svg: &str| svg.matches("class=\"mark\"").count();
    let html = render("framework_accuracy");
    assert!(!html.contains("chart-error"));
    let c = charts(&html);
    assert_eq!(c.len(), 2);
    assert!(c[0].contains("class=\"chart scatter\"") && c[0].contains("class=\"identity\""));
    assert_eq!(marks(&c[0]), 3600, "one point per pair");
    assert_eq!(
        c[0].matches("class=\"legend\"").count(),
        5,
        "a colour per framework"
    );
    assert!(c[1].contains("class=\"chart bar\""));
    assert_eq!(marks(&c[1]), 5, "one bar per framework");
    for svg in c.iter() {
        for part in [
            "class=\"axis x\"",
            "class=\"axis y\"",
            "class=\"label x\"",
            "class=\"label y\"",
            "class=\"ticks\"",
        ] {
            assert!(svg.contains(part), "{part} missing");
        }
    }
    let c = charts(&render("step_duration_drivers"));
    assert!(c[0].contains("class=\"chart line\"") && c[1].contains("class=\"chart histogram\""));
    assert_eq!(marks(&c[1]), 20, "twenty bins");
    let c = charts(&render("pipeline_latency_breakdown"));
    assert!(c[0].contains("class=\"chart cdf\""));
    assert_eq!(marks(&c[0]), 240, "one step per query");
    let c = charts(&render("prefill_decode_accuracy"));
    assert!(c[1].contains("class=\"chart box\""));
    assert_eq!(marks(&c[1]), 2, "a box per phase");
    let c = charts(&render("benchmark_regression"));
    assert_eq!(marks(&c[0]), 4, "a bar per configuration");

    // Scatter plots over 5000 points are thinned deterministically, and say so.
    std::fs::write(
        dir.path().join("big.sql"),
        "/*\ntitle: Big\ncharts:\n  - {query: q, type: scatter, x: a, y: b}\n*/\n-- name: q\nSELECT value AS a, value * 2 AS b FROM generate_series(1, 12000)",
    )
    .unwrap();
    let c = charts(&render("big.sql"));
    assert_eq!(marks(&c[0]), 4000);
    assert!(c[0].contains("4000 of 12000 points shown (every 3th)"));
}

/// The scheduler tests' reports, shared with runlake-report's own scheduler test.
const MINUTELY: &str =
    include_str!("../../crates/runlake-report/tests/report/fixtures/minutely.sql");

const BROKEN: &str = include_str!("../../crates/runlake-report/tests/report/fixtures/broken.sql");

#[test]
fn a_schedule_runs_reports_and_records_runs_alerts_and_missed_runs() {
    use super::serve::{Server, wait_for_log};
    let dir = demo_lake();
    let reports = dir.path().join("sql/reports");
    std::fs::create_dir_all(&reports).unwrap();
    std::fs::write(reports.join("minutely.sql"), MINUTELY).unwrap();
    std::fs::write(reports.join("broken.sql"), BROKEN).unwrap();
    let listed = ok(dir.path(), &["report", "--list"]);
    assert!(
        listed.contains("minutely") && listed.contains("schedule: '* * * * *' UTC"),
        "{listed}"
    );

    // The scheduler's clock starts 1.5 s before 11:50, so both reports fire at once.
    let (server, log) = Server::start_watched(
        dir.path(),
        &["--schedule"],
        &[("RUNLAKE_NOW", "2026-11-22T11:49:58.5Z")],
    );
    let first = [
        [
            "report=minutely",
            "scheduled_at=2026-11-22T11:50:00Z status=ok",
        ],
        [
            "report=broken",
            "scheduled_at=2026-11-22T11:50:00Z status=failed",
        ],
    ];
    let mut seen = Vec::new();
    for parts in first {
        if !seen
            .iter()
            .any(|l: &String| parts.iter().all(|p| l.contains(p)))
        {
            seen.extend(wait_for_log(&log, &parts, 60));
        }
    }
    drop(server);

    // Ten minutes later (by the clock): the runs in between are recorded as missed, the
    // 12:00 run, 29 s late, still runs.
    let (server, log) = Server::start_watched(
        dir.path(),
        &["--schedule"],
        &[("RUNLAKE_NOW", "2026-11-22T12:00:29Z")],
    );
    let mut seen = Vec::new();
    for parts in [
        [
            "report=minutely",
            "scheduled_at=2026-11-22T12:00:00Z status=ok",
        ],
        [
            "report=broken",
            "scheduled_at=2026-11-22T12:00:00Z status=failed",
        ],
    ] {
        if !seen
            .iter()
            .any(|l: &String| parts.iter().all(|p| l.contains(p)))
        {
            seen.extend(wait_for_log(&log, &parts, 60));
        }
    }
    let log_text = seen.join("\n");
    assert!(
        log_text
            .contains("event=alert report=minutely severity=warning message=\"baseline: 4 runs\""),
        "{log_text}"
    );

    // An ADBC client sees every run and alert up to 12:00. (The server's clock keeps
    // going in real time: a 12:01 run may come while the test looks; the scheduler's
    // own tests step an injected clock and count every run.)
    let runs = server.query(
        "SELECT report, status, count(*) AS n, min(scheduled_at) AS first, max(scheduled_at) AS last, \
                sum(alerts) AS alerts \
         FROM system.report_runs WHERE scheduled_at <= TIMESTAMP '2026-11-22T12:00:00Z' \
         GROUP BY report, status ORDER BY report, status",
    );
    assert_eq!(
        runs,
        serde_json::json!([
            [
                "broken",
                "failed",
                2,
                "2026-11-22 11:50:00+00:00",
                "2026-11-22 12:00:00+00:00",
                0
            ],
            [
                "broken",
                "missed",
                4,
                "2026-11-22 11:52:00+00:00",
                "2026-11-22 11:58:00+00:00",
                0
            ],
            [
                "minutely",
                "missed",
                9,
                "2026-11-22 11:51:00+00:00",
                "2026-11-22 11:59:00+00:00",
                0
            ],
            [
                "minutely",
                "ok",
                2,
                "2026-11-22 11:50:00+00:00",
                "2026-11-22 12:00:00+00:00",
                6
            ]
        ])
    );
    let errors = server.query(
        "SELECT DISTINCT report, status, error FROM system.report_runs \
         WHERE error IS NOT NULL AND scheduled_at <= TIMESTAMP '2026-11-22T12:00:00Z' \
         ORDER BY report, status",
    );
    assert_eq!(errors[0][0], "broken");
    assert!(
        errors[0][2].as_str().unwrap().contains("no_such_table"),
        "{errors}"
    );
    assert_eq!(
        errors[1],
        serde_json::json!(["broken", "missed", "the server was not running"])
    );
    let alerts = server.query(
        "SELECT CAST(scheduled_at AS VARCHAR) AS t, severity, query, condition, message \
         FROM system.alerts WHERE scheduled_at <= TIMESTAMP '2026-11-22T12:00:00Z' \
         ORDER BY scheduled_at, message",
    );
    let row = |t: &str, label: &str, n: u32| {
        serde_json::json!([
            t,
            "warning",
            "counts",
            "n >= 4",
            format!("{label}: {n} runs")
        ])
    };
    assert_eq!(
        alerts,
        serde_json::json!([
            row("2026-11-22T11:50:00Z", "baseline", 4),
            row("2026-11-22T11:50:00Z", "current", 4),
            row("2026-11-22T11:50:00Z", "none", 5),
            row("2026-11-22T12:00:00Z", "baseline", 4),
            row("2026-11-22T12:00:00Z", "current", 4),
            row("2026-11-22T12:00:00Z", "none", 5),
        ])
    );
    drop(server);

    // Each run's pages are in the lake.
    let pages = dir.path().join("lake/_reports/minutely");
    let md = std::fs::read_to_string(pages.join("20261122T115000Z.md")).unwrap();
    assert!(md.contains("| baseline | 4 |"), "{md}");
    let html = std::fs::read_to_string(pages.join("20261122T120000Z.html")).unwrap();
    assert!(
        html.contains("<title>Runs per label</title>"),
        "{}",
        &html[..200]
    );
    assert!(!dir.path().join("lake/_reports/broken").exists());
}

/// What a page looked like once loaded: appended to a copy of the page, run by the browser.
const PROBE: &str = r#"<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || e)));
window.addEventListener('load', () => {
  const charts = [...document.querySelectorAll('svg.chart')].map(svg => {
    const r = svg.getBoundingClientRect();
    const marks = [...svg.querySelectorAll('.mark')];
    const drawn = marks.filter(m => { const b = m.getBBox(); return b.width > 0 || b.height > 0; });
    return {kind: svg.getAttribute('class'), width: r.width, height: r.height,
            marks: marks.length, drawn: drawn.length};
  });
  const tables = [...document.querySelectorAll('table')].map(t => ({
    height: t.getBoundingClientRect().height, first: t.querySelector('th').textContent}));
  const sections = document.querySelectorAll('section').length;
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({charts, tables, sections, errors: window.__errors,
    resources: performance.getEntriesByType('resource').length, title: document.title});
  document.body.appendChild(out);
});
</script>"#;

fn chromium() -> String {
    let candidates = [
        std::env::var("RUNLAKE_CHROMIUM").unwrap_or_default(),
        "/usr/bin/chromium".to_string(),
        "/usr/bin/chromium-browser".to_string(),
    ];
    candidates
        .into_iter()
        .find(|c| !c.is_empty() && Path::new(c).exists())
        .unwrap_or_else(|| {
            panic!(
                "this test opens the HTML reports in Debian's chromium: install it \
                 (apt-get install chromium; .ci/run does) or set RUNLAKE_CHROMIUM"
            )
        })
}

/// Opens `page` (with [`PROBE`] added) in headless Chromium and returns what the probe saw,
/// after checking that nothing failed, logged to the console, or loaded from elsewhere.
fn open_in_chromium(browser: &str, profile: &Path, page: &Path) -> serde_json::Value {
    let name = page.display().to_string();
    let html = std::fs::read_to_string(page).unwrap();
    let probed = page.with_extension("probe.html");
    std::fs::write(
        &probed,
        html.replacen("</head>", &format!("{PROBE}</head>"), 1),
    )
    .unwrap();
    let out = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("file://{}", probed.display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{name}: chromium failed: {log}");
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "{name}: console messages {console:?}");
    let probe = dom
        .split("<pre id=\"probe\">")
        .nth(1)
        .and_then(|s| s.split("</pre>").next())
        .unwrap_or_else(|| panic!("{name}: the page did not finish loading: {dom:.300}"));
    let probe: serde_json::Value = serde_json::from_str(
        &probe
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
    .unwrap();
    assert_eq!(probe["errors"], serde_json::json!([]), "{name}");
    assert_eq!(probe["resources"], 0, "{name}: loaded something");
    assert!(!probe["title"].as_str().unwrap().is_empty());
    let charts = probe["charts"].as_array().unwrap();
    assert!(!charts.is_empty(), "{name}: no charts");
    for c in charts {
        assert!(
            c["width"].as_f64().unwrap() >= 300.0 && c["height"].as_f64().unwrap() >= 200.0,
            "{name}: {c}"
        );
        assert!(c["marks"].as_u64().unwrap() > 0, "{name}: {c}");
        assert_eq!(c["marks"], c["drawn"], "{name}: marks of no size in {c}");
    }
    for table in probe["tables"].as_array().unwrap() {
        assert!(
            table["height"].as_f64().unwrap() > 0.0,
            "{name}: an empty table"
        );
    }
    probe
}

#[test]
fn html_reports_load_in_headless_chromium_with_sized_charts() {
    let dir = demo_lake();
    let browser = chromium();
    let profile = tempfile::tempdir().unwrap();
    for name in REPORTS {
        let page = dir.path().join(format!("{name}.html"));
        ok(
            dir.path(),
            &[
                "report",
                name,
                "--format",
                "html",
                "--out",
                page.to_str().unwrap(),
            ],
        );
        open_in_chromium(&browser, profile.path(), &page);
    }
    // The page `runlake demo` ends with: every report, the framework scatter, the latency
    // CDF and the step time per number of running requests among them.
    let probe = open_in_chromium(
        &browser,
        profile.path(),
        &dir.path().join("runlake-reports/index.html"),
    );
    let kinds: Vec<&str> = probe["charts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "chart scatter",
        "chart cdf",
        "chart histogram",
        "chart box",
        "chart bar",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    assert_eq!(probe["sections"], 5);
    let headers: Vec<&str> = probe["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["first"].as_str().unwrap())
        .collect();
    for first in [
        "framework",
        "num_running_reqs",
        "component",
        "config",
        "phase",
    ] {
        assert!(
            headers.contains(&first),
            "no table of {first} in {headers:?}"
        );
    }
}

/// Whether `got` (a report's JSON value) equals the reference `want`: text and integers
/// exactly, floats to 1e-9 relative (NULL and NaN alike).
fn same(got: &serde_json::Value, want: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (got, want) {
        (Value::Null, Value::Null) => true,
        (Value::String(g), Value::Null) => g == "NaN",
        (g, Value::Number(w)) if w.is_f64() => {
            let w = w.as_f64().unwrap();
            let g = g
                .as_f64()
                .or_else(|| g.as_str().and_then(|s| s.parse().ok()));
            g.is_some_and(|g| (g - w).abs() <= 1e-9 * g.abs().max(w.abs()) + 1e-12)
        }
        (g, w) => g == w,
    }
}

#[test]
fn report_numbers_equal_numpy_scipy_and_sklearn_on_the_same_rows() {
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(crate::repo().join("tests/cli/fixtures/reports_reference.json"))
            .unwrap(),
    )
    .unwrap();
    let dir = demo_lake();
    let reports = fixture["reports"].as_object().unwrap();
    assert_eq!(reports.len(), REPORTS.len());
    let mut compared = 0;
    for (name, queries) in reports {
        let out: serde_json::Value =
            serde_json::from_str(&ok(dir.path(), &["report", name, "--format", "json"])).unwrap();
        for (query, want_rows) in queries.as_object().unwrap() {
            let got_rows = out["queries"][query].as_array().unwrap();
            let want_rows = want_rows.as_array().unwrap();
            assert_eq!(got_rows.len(), want_rows.len(), "{name}.{query}: row count");
            assert!(!want_rows.is_empty(), "{name}.{query}: no reference rows");
            for (i, (got, want)) in got_rows.iter().zip(want_rows).enumerate() {
                for (column, w) in want.as_object().unwrap() {
                    let g = &got[column];
                    assert!(same(g, w), "{name}.{query} row {i} {column}: {g} != {w}");
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 300, "only {compared} values compared");
}

#[test]
fn numbers_keep_their_significant_digits_in_markdown_and_html() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("numbers.sql"),
        "/*\ntitle: Numbers\n*/\n-- name: values\nSELECT CAST(1.54e-22 AS DOUBLE) AS p_value, \
         CAST(0.00012345 AS DOUBLE) AS small, CAST(3228.73123 AS DOUBLE) AS normal, \
         CAST(0.0 AS DOUBLE) AS pearson_pvalue, CAST(2.5e15 AS DOUBLE) AS big, \
         CAST(0.0 AS DOUBLE) AS zero, 42 AS n;\n",
    )
    .unwrap();
    // Small and large magnitudes in scientific notation, the rest with at most four
    // decimals; a p-value of exactly 0 underflowed double precision.
    let cells = [
        "1.54e-22",
        "1.2345e-4",
        "3228.7312",
        "< 1e-300",
        "2.5e15",
        "0",
        "42",
    ];
    let md = ok(dir.path(), &["report", "numbers.sql"]);
    assert!(md.contains(&format!("| {} |", cells.join(" | "))), "{md}");
    let html = ok(dir.path(), &["report", "numbers.sql", "--format", "html"]);
    let row: Vec<String> = cells
        .iter()
        .map(|c| format!("<td>{}</td>", c.replace('<', "&lt;")))
        .collect();
    assert!(
        html.contains(&format!("<tr>{}</tr>", row.join(""))),
        "{html}"
    );
}

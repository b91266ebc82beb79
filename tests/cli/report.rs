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
        let snapshot = Path::new(env!("CARGO_MANIFEST_DIR"))
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

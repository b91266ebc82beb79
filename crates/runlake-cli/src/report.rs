//! `runlake report`: render a report of `sql/reports/` (or any report file).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use runlake_lake::Lake;
use runlake_report::{Report, Severity};

/// The reports shipped with runlake; a file of the same name in `./sql/reports/` wins.
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "framework_accuracy",
        include_str!("../../../sql/reports/framework_accuracy.sql"),
    ),
    (
        "step_duration_drivers",
        include_str!("../../../sql/reports/step_duration_drivers.sql"),
    ),
    (
        "prefill_decode_accuracy",
        include_str!("../../../sql/reports/prefill_decode_accuracy.sql"),
    ),
    (
        "pipeline_latency_breakdown",
        include_str!("../../../sql/reports/pipeline_latency_breakdown.sql"),
    ),
    (
        "benchmark_regression",
        include_str!("../../../sql/reports/benchmark_regression.sql"),
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Md,
    Html,
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A report name (see --list) or the path of a report file.
    #[arg(required_unless_present = "list")]
    report: Option<String>,
    /// List the available reports.
    #[arg(long)]
    list: bool,
    /// A parameter, e.g. --param threshold=0.05 (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    format: ReportFormat,
    /// Write to this file (for csv: this folder, one file per query) instead of standard
    /// output.
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Exit with code 3 when an alert of severity warning or critical fires.
    #[arg(long)]
    fail_on_alert: bool,
}

/// Every available report: the shipped ones, overridden or extended by `./sql/reports`.
pub fn available() -> crate::error::Result<Vec<Report>> {
    available_in(Path::new(LOCAL_DIR))
}

/// Where reports of one's own go (relative to the working directory).
pub const LOCAL_DIR: &str = "sql/reports";

/// The shipped reports, overridden or extended by the `.sql` files of `local`.
pub fn available_in(local: &Path) -> crate::error::Result<Vec<Report>> {
    let mut reports: Vec<Report> = Vec::new();
    for (name, text) in SHIPPED {
        reports.push(Report::parse(name, text)?);
    }
    if let Ok(entries) = std::fs::read_dir(local) {
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        paths.sort();
        for path in paths {
            let report = load_file(&path)?;
            reports.retain(|r| r.name != report.name);
            reports.push(report);
        }
    }
    reports.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(reports)
}

fn load_file(path: &Path) -> crate::error::Result<Report> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read report {}: {e}", path.display()))?;
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("report")
        .to_string();
    Ok(Report::parse(&name, &text)?)
}

fn find(name: &str) -> crate::error::Result<Report> {
    let path = Path::new(name);
    if name.ends_with(".sql") || path.is_file() {
        return load_file(path);
    }
    available()?
        .into_iter()
        .find(|r| r.name == name)
        .ok_or_else(|| {
            let names: Vec<String> = available()
                .map(|a| a.into_iter().map(|r| r.name).collect())
                .unwrap_or_default();
            format!("no report '{name}' (reports: {})", names.join(", ")).into()
        })
}

/// Renders one report to text in `format` (CSV: the queries one after another).
pub async fn render(
    lake: &Lake,
    report: &Report,
    params: &HashMap<String, String>,
    cluster: Option<&str>,
) -> crate::error::Result<runlake_report::Rendered> {
    let session = crate::session::open_engine(lake, cluster).await?;
    // Long renders show which query runs, on a terminal.
    let steps = report.queries.len() + usize::from(!report.alerts.is_empty());
    let status = std::io::stderr()
        .is_terminal()
        .then(|| crate::commands::StatusLine::steps(steps));
    let done = std::sync::atomic::AtomicUsize::new(0);
    let progress = |what: &str| {
        if let Some(status) = &status {
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            status.next_file(n, &format!("{}: {what}", report.name));
        }
    };
    let rendered = report
        .run_with_progress(session.ctx(), params, &progress)
        .await
        .map_err(|e| crate::output::one_line(&e.to_string()));
    if let Some(status) = &status {
        status.clear();
    }
    Ok(rendered?)
}

pub async fn run(
    lake: &Lake,
    cluster: Option<&str>,
    args: ReportArgs,
) -> crate::error::Result<ExitCode> {
    if args.list {
        for r in available()? {
            let params: Vec<String> = r.params.keys().cloned().collect();
            let mut notes = Vec::new();
            if !params.is_empty() {
                notes.push(format!("params: {}", params.join(", ")));
            }
            if let Some(s) = &r.schedule {
                notes.push(format!("schedule: '{}' {}", s.text(), s.timezone()));
            }
            outln!(
                "{:<28} {}{}",
                r.name,
                r.title,
                if notes.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", notes.join("; "))
                }
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let report = find(args.report.as_deref().unwrap_or_default())?;
    let mut params = HashMap::new();
    for item in &args.params {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| format!("--param '{item}': expected NAME=VALUE"))?;
        params.insert(k.trim().to_string(), v.to_string());
    }
    let rendered = render(lake, &report, &params, cluster).await?;
    for a in &rendered.alerts {
        eprintln!("runlake: alert ({}): {}", a.severity.name(), a.message);
    }
    match args.format {
        ReportFormat::Csv => {
            let files = runlake_report::csv(&rendered);
            match &args.out {
                Some(dir) => {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                    for (name, text) in files {
                        let path = dir.join(format!("{}.{name}.csv", report.name));
                        std::fs::write(&path, text)
                            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                        outln!("{}", path.display())?;
                    }
                }
                None => {
                    for (name, text) in files {
                        outln!("# {name}\n{text}")?;
                    }
                }
            }
        }
        format => {
            let text = match format {
                ReportFormat::Md => runlake_report::markdown(&rendered),
                ReportFormat::Html => runlake_report::html(&rendered),
                _ => runlake_report::json(&rendered),
            };
            match &args.out {
                Some(path) => {
                    std::fs::write(path, text)
                        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                    outln!("{}", path.display())?;
                }
                None => out!("{text}")?,
            }
        }
    }
    Ok(
        if args.fail_on_alert && rendered.fired_at_least(Severity::Warning) {
            ExitCode::from(3)
        } else {
            ExitCode::SUCCESS
        },
    )
}

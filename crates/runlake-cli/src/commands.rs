//! The lake commands: `ingest`, `tables`, `schema`, `forget`, `compact`, `demo`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use runlake_ingest::{Format, InputLimits, Options, Source};
use runlake_lake::{IngestOptions, IngestReport, Lake};

use crate::output::{self, Format as OutputFormat};
use crate::session::Session;

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files, directories (read recursively), globs, or - for standard input. `.gz` and
    /// `.zst` are read transparently.
    #[arg(required = true)]
    paths: Vec<String>,
    /// The table generic formats (csv, tsv, json, jsonl, parquet) land in; default: the
    /// file stem.
    #[arg(long)]
    table: Option<String>,
    /// The format (default: detected from the content): csv, tsv, json, jsonl, parquet,
    /// arrow, vllm-bench, sglang-bench, sched-steps, llama-bench, guidellm, llmperf,
    /// mlperf, vidur, genai-perf, aiperf, otlp.
    #[arg(long, default_value = "auto")]
    format: String,
    /// Add or override a column on every row written, e.g. --set framework=vllm
    /// --set label=baseline.
    #[arg(long = "set", value_name = "COL=VALUE")]
    set: Vec<String>,
    /// Bad rows a file may have (they go to `_rejects`); more fail the file.
    #[arg(long, default_value_t = 0)]
    max_bad_rows: usize,
    /// Append the content again even if it was ingested before.
    #[arg(long)]
    force: bool,
    /// Show the detected format, target tables, schema, first rows and rejects; commit
    /// nothing.
    #[arg(long)]
    dry_run: bool,
    /// Show, per column of each target table, the field of the file that fills it, the
    /// conversion and the first value; commit nothing (a dry run). For checking what a
    /// new tool version's file becomes.
    #[arg(long)]
    explain: bool,
    /// Offset of times written without a zone (vLLM's `date`), e.g. +08:00; default UTC.
    #[arg(long, value_name = "OFFSET", default_value = "UTC", value_parser = crate::values::offset)]
    timezone: i32,
    /// The most a file read whole may hold after decompression, e.g. 512MiB or 8GiB: a
    /// larger one (or a decompression bomb) is refused once it is read that far. CSV and
    /// TSV files read in windows (--window) are not bound by it.
    #[arg(long, value_name = "SIZE", default_value = "4GiB", value_parser = crate::values::size)]
    max_input_size: usize,
    /// The longest line a text file may have (a JSON document on one line is one line).
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = crate::values::size)]
    max_line_size: usize,
    /// CSV and TSV files larger than this are read, typed and written this much at a
    /// time, so memory follows the window instead of the file; the rows and the commit
    /// are those of a whole read. 0 reads every file whole; otherwise at least 16KiB.
    #[arg(long, value_name = "SIZE", default_value = "16MiB", value_parser = crate::values::size)]
    window: usize,
}

/// The smallest `--window`: smaller ones cost more in per-window work than they save.
const MIN_WINDOW: usize = 16 << 10;

pub async fn ingest(lake: &Lake, args: IngestArgs) -> crate::error::Result<ExitCode> {
    let format = match args.format.as_str() {
        "auto" => None,
        name => Some(Format::from_name(name).ok_or_else(|| {
            let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
            format!(
                "unknown format '{name}' (known: auto, {})",
                names.join(", ")
            )
        })?),
    };
    let mut tags = Vec::new();
    for item in &args.set {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| format!("--set '{item}': expected COL=VALUE"))?;
        let k = runlake_ingest::names::snake_case(k.trim());
        tags.push((k, v.to_string()));
    }
    if let Some(t) = &args.table {
        runlake_lake::validate_table_name(t)?;
    }
    if args.window > 0 && args.window < MIN_WINDOW {
        return Err(format!(
            "--window {}: use 0 (read files whole) or at least 16KiB",
            args.window
        )
        .into());
    }
    let mut options = IngestOptions {
        read: Options {
            format,
            table: args.table.clone(),
            timezone_offset_s: args.timezone,
            progress: None,
        },
        tags,
        max_bad_rows: args.max_bad_rows,
        force: args.force,
        dry_run: args.dry_run || args.explain,
        window: args.window,
    };
    let limits = InputLimits {
        max_bytes: args.max_input_size as u64,
        max_line_bytes: args.max_line_size as u64,
    };
    let inputs = expand(&args.paths)?;
    let (mut failed, mut done) = (0usize, 0usize);
    let total = inputs.len();
    let status = std::io::stderr()
        .is_terminal()
        .then(|| StatusLine::start(total));
    options.read.progress = status.as_ref().map(|s| s.progress.clone());
    for (n, input) in inputs.iter().enumerate() {
        let started = Instant::now();
        if let Some(status) = &status {
            status.next_file(n, &input.display().to_string());
        }
        let result = if input.as_os_str() == "-" {
            match Source::from_stdin(&limits) {
                Ok(source) => lake
                    .ingest(&source, &options)
                    .await
                    .map_err(crate::error::Error::from),
                Err(e) => Err(e.into()),
            }
        } else {
            lake.ingest_path(input, &limits, &options)
                .await
                .map_err(crate::error::Error::from)
        };
        if let Some(status) = &status {
            status.clear();
        }
        match result {
            Ok(report) => {
                done += 1;
                print_report(&report, started.elapsed(), args.dry_run && !args.explain)?;
                if args.explain {
                    print_explain(&report)?;
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("runlake: error: {}", output::one_line(&e.to_string()));
            }
        }
    }
    drop(status);
    if total > 1 {
        outln!("{done} file(s) ingested, {failed} failed")?;
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The progress bar of a long ingest on a terminal: files done, the current file and
/// phase, rows read and rows/s, redrawn on standard error a few times a second.
/// A status line redrawn on standard error (when it is a terminal) while long work runs:
/// step n of total, what is being done, and (for ingests) rows read and rows/s.
pub struct StatusLine {
    progress: runlake_ingest::Progress,
    shared: std::sync::Arc<std::sync::Mutex<StatusState>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct StatusState {
    file: String,
    index: usize,
    started: Option<Instant>,
    visible: bool,
}

impl StatusLine {
    /// A line for `total` files being ingested.
    fn start(total: usize) -> Self {
        Self::spawn(total, true)
    }

    /// A line for `total` steps (no row counts), e.g. the queries of reports.
    pub fn steps(total: usize) -> Self {
        Self::spawn(total, false)
    }

    fn spawn(total: usize, rows_read: bool) -> Self {
        use std::sync::atomic::Ordering;
        let progress = runlake_ingest::Progress::default();
        let shared = std::sync::Arc::new(std::sync::Mutex::new(StatusState::default()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = {
            let (progress, shared, stop) = (progress.clone(), shared.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(150));
                    let Ok(mut state) = shared.lock() else { return };
                    let Some(started) = state.started else {
                        continue;
                    };
                    let elapsed = started.elapsed().as_secs_f64();
                    if elapsed < 0.5 {
                        continue; // short files finish before a bar is worth drawing
                    }
                    let rows = progress.rows();
                    let width = 20;
                    let filled = state.index * width / total.max(1);
                    let detail = if rows_read {
                        format!(
                            "  {}  {} rows  {:.0} rows/s",
                            progress.phase(),
                            rows,
                            rows as f64 / elapsed.max(1e-3)
                        )
                    } else {
                        String::new()
                    };
                    eprint!(
                        "\r\x1b[2K[{}{}] {}/{total} {}{detail}  {:.1}s",
                        "#".repeat(filled),
                        "-".repeat(width - filled),
                        state.index + 1,
                        state.file,
                        elapsed
                    );
                    state.visible = true;
                }
            })
        };
        Self {
            progress,
            shared,
            stop,
            thread: Some(thread),
        }
    }

    /// Step `index` (from 0), doing `what`.
    pub fn next_file(&self, index: usize, file: &str) {
        self.progress.start();
        if let Ok(mut state) = self.shared.lock() {
            state.index = index;
            state.file = file.to_string();
            state.started = Some(Instant::now());
        }
    }

    /// Erases the line (before a file's summary is printed).
    pub fn clear(&self) {
        if let Ok(mut state) = self.shared.lock() {
            state.started = None;
            if state.visible {
                eprint!("\r\x1b[2K");
                state.visible = false;
            }
        }
    }
}

impl Drop for StatusLine {
    fn drop(&mut self) {
        self.clear();
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn print_report(report: &IngestReport, took: Duration, dry_run: bool) -> crate::error::Result<()> {
    let tables: Vec<String> = report
        .tables
        .iter()
        .map(|t| match t.written {
            Some(w) if w < t.rows => format!("{} +{w} ({} already present)", t.table, t.rows - w),
            Some(w) => format!("{} +{w}", t.table),
            None if dry_run => format!("{} ({} rows)", t.table, t.rows),
            None => format!("{} (already committed)", t.table),
        })
        .collect();
    let rate = report.records as f64 / took.as_secs_f64().max(1e-9);
    if report.already_ingested {
        outln!(
            "{}: already ingested (same content, sha256 {}), nothing written; --force appends it again",
            report.source,
            &report.sha256[..12]
        )?;
        return Ok(());
    }
    outln!(
        "{}: {}, {} records -> {}{} [{:.2}s, {:.0} records/s{}]",
        report.source,
        report.format,
        report.records,
        tables.join(", "),
        if report.rejects.is_empty() {
            String::new()
        } else {
            format!(", {} rejected (in _rejects)", report.rejects.len())
        },
        took.as_secs_f64(),
        rate,
        match report.windows {
            0 => String::new(),
            n => format!(", read in {n} windows"),
        }
    )?;
    for (from, to) in &report.renamed {
        outln!("  column '{from}' -> {to}")?;
    }
    for r in report.rejects.iter().take(10) {
        outln!(
            "  rejected line {}{}: {}",
            r.line,
            r.column
                .as_ref()
                .map(|c| format!(", column '{c}'"))
                .unwrap_or_default(),
            r.reason
        )?;
    }
    if dry_run {
        outln!("  (dry run: nothing committed)")?;
        for (table, batch) in &report.preview {
            outln!("  table {table}:")?;
            for f in batch.schema().fields() {
                outln!("    {} {}", f.name(), f.data_type())?;
            }
            if let Ok(text) =
                datafusion::arrow::util::pretty::pretty_format_batches(std::slice::from_ref(batch))
            {
                for line in text.to_string().lines() {
                    outln!("  {line}")?;
                }
            }
        }
    }
    Ok(())
}

/// `--explain`: per target column, where its values come from and the first of them.
fn print_explain(report: &IngestReport) -> crate::error::Result<()> {
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    outln!("  (explain: nothing committed; format {})", report.format)?;
    for (table, batch) in &report.preview {
        outln!("  table {table}:")?;
        let schema = batch.schema();
        let width = schema
            .fields()
            .iter()
            .map(|f| f.name().len())
            .max()
            .unwrap_or(0);
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            let name = field.name();
            let first = (0..column.len()).find(|&i| column.is_valid(i));
            let from = match runlake_ingest::explain::source_of(report.format, table, name) {
                _ if first.is_none() => "(not in this file)".into(),
                _ if name == "tool" => "<- the format".into(),
                Some((source, conversion)) => format!("<- {source} ({conversion})"),
                None if name.starts_with('_') => {
                    "<- provenance (the source, its line, the ingest)".into()
                }
                None if matches!(name.as_str(), "run_id") => {
                    "<- a hash of the run's content".into()
                }
                None if matches!(name.as_str(), "config" | "extra") => {
                    "<- the fields not read into a column, as JSON".into()
                }
                None => "<- the field of that name, as written".into(),
            };
            let value = match first {
                Some(i) => ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())
                    .map(|f| f.value(i).to_string())
                    .unwrap_or_default(),
                None => "NULL".to_string(),
            };
            let value: String = value.chars().take(60).collect();
            if first.is_some() {
                outln!("    {name:<width$}  {from}  e.g. {value}")?;
            } else {
                outln!("    {name:<width$}  {from}")?;
            }
        }
    }
    Ok(())
}

/// Files from paths, directories (recursive, sorted) and globs.
fn expand(paths: &[String]) -> crate::error::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p == "-" {
            out.push(PathBuf::from("-"));
            continue;
        }
        let path = Path::new(p);
        if path.is_dir() {
            walk(path, &mut out).map_err(|e| format!("{p}: {e}"))?;
        } else if path.exists() {
            out.push(path.to_path_buf());
        } else if p.contains(['*', '?', '[']) {
            let mut matched: Vec<PathBuf> = glob::glob(p)
                .map_err(|e| format!("{p}: bad pattern: {e}"))?
                .filter_map(std::result::Result::ok)
                .filter(|m| m.is_file())
                .collect();
            if matched.is_empty() {
                return Err(format!("{p}: no file matches").into());
            }
            matched.sort();
            out.extend(matched);
        } else {
            return Err(format!("{p}: no such file or directory").into());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    entries.sort();
    for e in entries {
        let hidden = e
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.') || n.ends_with(".md"));
        if hidden {
            continue;
        }
        if e.is_dir() {
            walk(&e, out)?;
        } else {
            out.push(e);
        }
    }
    Ok(())
}

pub async fn tables(lake: &Lake) -> crate::error::Result<ExitCode> {
    let names = lake.table_names().await?;
    if names.is_empty() {
        outln!(
            "the lake at {} has no tables yet: try `runlake demo` or `runlake ingest FILE`",
            lake.location()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{:<24} {:>12} {:>7} {:>12} {:>8}",
        "table",
        "rows",
        "files",
        "size",
        "version"
    )?;
    for name in names {
        let info = lake.info(&name).await?;
        outln!(
            "{:<24} {:>12} {:>7} {:>12} {:>8}",
            info.name,
            info.rows,
            info.files,
            human_bytes(info.bytes),
            info.version
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

pub async fn schema(lake: &Lake, table: &str) -> crate::error::Result<ExitCode> {
    let info = lake.info(table).await?;
    outln!(
        "table {} ({} rows, version {})",
        info.name,
        info.rows,
        info.version
    )?;
    for f in info.schema.fields() {
        outln!(
            "  {:<32} {}",
            f.name(),
            runlake_engine::types::sql_type_name(f.data_type())
        )?;
    }
    outln!(
        "{}",
        sort_order_line(&info.name, lake.sort_order(table).await?)
    )?;
    Ok(ExitCode::SUCCESS)
}

pub async fn sort_by(
    lake: &Lake,
    table: &str,
    columns: &[String],
    reset: bool,
) -> crate::error::Result<ExitCode> {
    if columns.is_empty() && !reset {
        outln!("{}", sort_order_line(table, lake.sort_order(table).await?))?;
        return Ok(ExitCode::SUCCESS);
    }
    let version = lake.set_sort_order(table, columns).await?;
    let set = (!columns.is_empty()).then(|| columns.to_vec());
    outln!(
        "version {version}: {}; the files already written keep their order",
        sort_order_line(table, set)
    )?;
    Ok(ExitCode::SUCCESS)
}

/// How the appends to `table` are sorted, given the order set on it.
fn sort_order_line(table: &str, set: Option<Vec<String>>) -> String {
    match set {
        Some(columns) => format!("appends to {table} are sorted by {}", columns.join(", ")),
        None => match runlake_ingest::natural_keys(table) {
            [] => format!(
                "appends to {table} are not sorted (no natural keys; `runlake sort-by {table} COLUMN...` sets an order)"
            ),
            keys => format!(
                "appends to {table} are sorted by {} (its natural keys, the default)",
                keys.join(", ")
            ),
        },
    }
}

pub async fn forget(lake: &Lake, source: &str) -> crate::error::Result<ExitCode> {
    let deleted = lake.forget(source).await?;
    if deleted.is_empty() {
        outln!(
            "no rows came from '{source}' (sources are named as they were given to ingest; SELECT DISTINCT source FROM _ingests lists them)"
        )?;
    }
    for (table, rows) in deleted {
        outln!("{table}: deleted {rows} rows from '{source}'")?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn compact(
    lake: &Lake,
    table: Option<String>,
    retention: Duration,
) -> crate::error::Result<ExitCode> {
    let names = match table {
        Some(t) => vec![t],
        None => lake.table_names().await?,
    };
    for name in names {
        let r = lake.compact(&name, retention).await?;
        outln!(
            "{}: {} files -> {}, {} unreferenced files removed",
            r.table,
            r.files_before,
            r.files_after,
            r.files_removed
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The bundled demo data: (name as shown, table for generic files, content).
const DEMO_FILES: &[(&str, Option<&str>, &[u8])] = &[
    (
        "examples/data/predictions.csv",
        Some("predictions"),
        include_bytes!("../../../examples/data/predictions.csv"),
    ),
    (
        "examples/data/scheduler_profiling_chunk_2048.jsonl.gz",
        None,
        include_bytes!("../../../examples/data/scheduler_profiling_chunk_2048.jsonl.gz"),
    ),
    (
        "examples/data/pipeline_traces.json.gz",
        None,
        include_bytes!("../../../examples/data/pipeline_traces.json.gz"),
    ),
    (
        "examples/data/bench_baseline.json",
        None,
        include_bytes!("../../../examples/data/bench_baseline.json"),
    ),
    (
        "examples/data/bench_current.json",
        None,
        include_bytes!("../../../examples/data/bench_current.json"),
    ),
    (
        "sql/framework_aliases.csv",
        Some("framework_aliases"),
        include_bytes!("../../../sql/framework_aliases.csv"),
    ),
    (
        "examples/data/samples/groq_70b_summary.json",
        None,
        include_bytes!("../../../examples/data/samples/groq_70b_summary.json"),
    ),
    (
        "examples/data/samples/groq_70b_individual_responses.json",
        None,
        include_bytes!("../../../examples/data/samples/groq_70b_individual_responses.json"),
    ),
    (
        "examples/data/samples/llama2-70b-99_Server_mlperf_log_summary.txt",
        None,
        include_bytes!(
            "../../../examples/data/samples/llama2-70b-99_Server_mlperf_log_summary.txt"
        ),
    ),
    (
        "examples/data/samples/benchmarks_stripped_v0.3.json",
        None,
        include_bytes!("../../../examples/data/samples/benchmarks_stripped_v0.3.json"),
    ),
    (
        "examples/data/samples/llama-bench_readme_example.json",
        None,
        include_bytes!("../../../examples/data/samples/llama-bench_readme_example.json"),
    ),
];

const DEMO_QUERY: &str = "SELECT coalesce(a.framework, p.framework) AS framework,
    count(*) AS n,
    round(pearson(predicted_ms, actual_ms), 4) AS pearson,
    round(spearman(predicted_ms, actual_ms), 4) AS spearman,
    round(r2_score(actual_ms, predicted_ms), 4) AS r2,
    round(rmse(actual_ms, predicted_ms), 2) AS rmse_ms,
    round(mae(actual_ms, predicted_ms), 2) AS mae_ms,
    round(mape(actual_ms, predicted_ms), 4) AS mape
FROM predictions p LEFT JOIN framework_aliases a ON a.alias = p.framework
GROUP BY 1 ORDER BY 1";

pub async fn demo(lake: &Lake) -> crate::error::Result<ExitCode> {
    outln!(
        "Ingesting the bundled sample data into the lake at {} ...",
        lake.location()
    )?;
    for (name, table, bytes) in DEMO_FILES {
        let source =
            Source::from_bytes((*name).to_string(), bytes.to_vec(), &InputLimits::default())?;
        let options = IngestOptions {
            read: Options {
                table: table.map(str::to_string),
                ..Options::default()
            },
            ..IngestOptions::default()
        };
        let started = Instant::now();
        let report = lake.ingest(&source, &options).await?;
        print_report(&report, started.elapsed(), false)?;
    }
    outln!("\nPrediction accuracy per framework (variants merged through framework_aliases):\n")?;
    let session = Session::open(lake.clone(), None).await?;
    let mut stdout = std::io::stdout().lock();
    session
        .run_script(DEMO_QUERY, OutputFormat::Table, &mut stdout)
        .await?;
    drop(stdout);
    let folder = std::path::Path::new("runlake-reports");
    std::fs::create_dir_all(folder)
        .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    outln!("\nThe shipped reports, rendered:\n")?;
    let mut all = Vec::new();
    for report in crate::report::available()? {
        let rendered = crate::report::render(lake, &report, &Default::default(), None).await?;
        let path = folder.join(format!("{}.html", report.name));
        std::fs::write(&path, runlake_report::html(&rendered))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        let alerts = rendered.alerts.len();
        outln!(
            "  {:<60} {}{}",
            path.display(),
            report.title,
            if alerts > 0 {
                format!(" ({alerts} alert{})", if alerts == 1 { "" } else { "s" })
            } else {
                String::new()
            }
        )?;
        all.push(rendered);
    }
    let index = folder.join("index.html");
    std::fs::write(
        &index,
        runlake_report::html_all("runlake reports on the demo data", &all),
    )
    .map_err(|e| format!("cannot write {}: {e}", index.display()))?;
    let shown = std::fs::canonicalize(&index).unwrap_or(index);
    outln!(
        "\nAll of them on one page (framework scatter, latency CDF, step time per number of running requests, ...):\n  {}",
        shown.display()
    )?;
    outln!(
        "\nTry next:
  runlake report --list                 the reports; runlake report NAME prints one as Markdown
  runlake report benchmark_regression --param threshold=0.05 --fail-on-alert
                                        exits 3: the demo's current runs regressed
  runlake tables                        what the lake holds
  runlake schema requests               columns and types of a table
  runlake sql                           an interactive SQL shell
  runlake sql \"SELECT label, model, request_rate, mean_ttft_ms, p99_ttft_ms FROM runs WHERE tool = 'vllm-bench' ORDER BY model, request_rate, label\"
                                        baseline vs current benchmark runs
  runlake sql \"SELECT num_running_reqs, count(*) AS n, avg(model_run_duration_ms) AS mean_ms, cv(model_run_duration_ms) AS cv FROM steps WHERE total_scheduled_tokens = 2048 GROUP BY 1 ORDER BY 1\"
                                        what drives a scheduler step's model run time
  runlake sql \"SELECT name, count(*) AS n, p50(duration_ms) AS p50_ms, p99(duration_ms) AS p99_ms FROM spans GROUP BY name ORDER BY p99_ms DESC\"
                                        pipeline components, slowest tail first
  runlake ingest my_results.json        your own vLLM / SGLang / GuideLLM / llmperf / MLPerf / llama-bench /
                                        GenAI-Perf / AIPerf / OTLP output (--set label=... to tag runs)"
    )?;
    Ok(ExitCode::SUCCESS)
}

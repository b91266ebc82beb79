//! `runlake`: the command-line interface of the runlake latency data warehouse.

// First, so its `outln!` / `out!` macros are in scope in the modules below.
#[macro_use]
mod output;
mod cluster;
mod commands;
mod error;
mod log;
mod report;
mod schedule;
mod server;
mod session;
mod shell;
mod values;

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::output::Format;
use crate::session::Session;

/// A latency data warehouse for LLM-serving run logs.
#[derive(Debug, Parser)]
#[command(name = "runlake", version, about, long_about = None)]
struct Cli {
    /// Where the lake lives: a path, file:// URL, s3://bucket/prefix (also gs://, az://),
    /// or memory:// (tests).
    #[arg(
        long,
        global = true,
        env = "RUNLAKE_LAKE",
        default_value = "./runlake-data"
    )]
    lake: String,

    /// A setting of the lake's object store, e.g. endpoint=http://127.0.0.1:9000,
    /// region=eu-west-1, allow_http=true (repeatable; the standard AWS_*, GOOGLE_* and
    /// AZURE_* environment variables are read too).
    #[arg(long = "storage-option", global = true, value_name = "KEY=VALUE")]
    storage_options: Vec<String>,

    /// Run queries on a cluster (`runlake cluster scheduler`): df://HOST:PORT. `sql`,
    /// `report` and `serve` plan and run their queries there; writes still commit here.
    #[arg(
        long,
        global = true,
        env = "RUNLAKE_CLUSTER",
        value_name = "df://HOST:PORT"
    )]
    cluster: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Ingest the bundled sample logs into the lake, run a first report, and say what to
    /// try next.
    Demo,
    /// Ingest run logs (files, directories, globs, or - for standard input) into the lake.
    Ingest(commands::IngestArgs),
    /// List the lake's tables with row counts, files and sizes.
    Tables,
    /// Show a table's columns and types.
    Schema {
        /// The table.
        table: String,
    },
    /// Show or set the order a table's appends are written in. Filters on the leading
    /// columns skip the most files and pages; the default is the table's natural keys.
    SortBy {
        /// The table.
        table: String,
        /// The columns, most significant first (none: show the current order).
        columns: Vec<String>,
        /// Return to the table's natural keys.
        #[arg(long, conflicts_with = "columns")]
        reset: bool,
    },
    /// Delete a table and its files.
    Drop {
        /// The table.
        table: String,
    },
    /// Delete every row that came from one source (as it was named at ingest), so it can
    /// be ingested again.
    Forget {
        /// The source, as `_source` shows it.
        source: String,
    },
    /// Merge small files, then remove unreferenced files older than the retention.
    Compact {
        /// Only this table (default: every table).
        #[arg(long)]
        table: Option<String>,
        /// Keep unreferenced files younger than this (e.g. 7d, 12h, 0s).
        #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = crate::values::duration)]
        retain: std::time::Duration,
    },
    /// Render a report (SQL file with a YAML header) as Markdown, HTML, JSON or CSV.
    Report(report::ReportArgs),
    /// Serve the lake over Arrow Flight SQL (ADBC, JDBC, Superset, Grafana, pyarrow).
    Serve(Box<server::ServeArgs>),
    /// Manage the server's users file.
    #[command(subcommand)]
    Users(server::UsersCommand),
    /// Run a scheduler or an executor of a cluster on Apache DataFusion Ballista (see
    /// "Outgrowing one machine" in the README).
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Run SQL against the lake and against files named by path, with every runlake
    /// function. Without SQL on a terminal, opens an interactive shell.
    Sql {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Read the statements from a file.
        #[arg(
            short = 'f',
            long = "file",
            value_name = "FILE",
            conflicts_with = "sql"
        )]
        file: Option<PathBuf>,
        /// The SQL to run (one or more statements separated by `;`).
        sql: Option<String>,
    },
}

/// glibc's allocator hands every buffer over 32 MiB back to the kernel when it is freed
/// and takes fresh zeroed pages for the next one, and gives each thread its own arena.
/// Query and ingest work allocates such buffers by the hundred (a column of a 10M-row
/// batch, a group's values): keeping freed memory for reuse, in one arena per core,
/// roughly halves an ingest's system time (see BENCHMARKS.md).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn tune_allocator() {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    // SAFETY: mallopt only sets allocator parameters; called first thing in main,
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, cores.min(64) as libc::c_int);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runlake: error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        // Standard output closed early (`| head`): end quietly like every Unix filter.
        // Every write to stdout goes through `outln!`/`out!` or a `Write`, so the closed
        // pipe arrives here as an `io::Error`; SIGPIPE stays ignored (Rust's default),
        // or a client going away mid-stream would kill the server.
        Err(e) if e.is_broken_pipe() => ExitCode::from(141),
        Err(e) => {
            // One line, whatever the error's text holds (DataFusion's span line breaks).
            eprintln!("runlake: error: {}", output::one_line(&e.to_string()));
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> crate::error::Result<ExitCode> {
    if let Command::Users(command) = cli.command {
        return server::users(command);
    }
    let mut storage_options = std::collections::HashMap::new();
    for item in &cli.storage_options {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| format!("--storage-option '{item}': expected KEY=VALUE"))?;
        storage_options.insert(k.trim().to_string(), v.to_string());
    }
    if let Command::Cluster(command) = cli.command {
        return cluster::run(command, &cli.lake, storage_options).await;
    }
    if let Some(cluster) = &cli.cluster {
        runlake_engine::cluster::scheduler_url(cluster)?;
    }
    let cluster = cli.cluster.as_deref();
    let lake = runlake_lake::Lake::open(&cli.lake, storage_options)?;
    match cli.command {
        Command::Demo => commands::demo(&lake).await,
        Command::Ingest(args) => commands::ingest(&lake, args).await,
        Command::Tables => commands::tables(&lake).await,
        Command::Schema { table } => commands::schema(&lake, &table).await,
        Command::SortBy {
            table,
            columns,
            reset,
        } => commands::sort_by(&lake, &table, &columns, reset).await,
        Command::Drop { table } => {
            lake.drop_table(&table).await?;
            outln!("dropped table {table}")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Forget { source } => commands::forget(&lake, &source).await,
        Command::Compact { table, retain } => commands::compact(&lake, table, retain).await,
        Command::Serve(args) => server::serve(&lake, cluster, *args).await,
        Command::Report(args) => report::run(&lake, cluster, args).await,
        Command::Users(_) | Command::Cluster(_) => {
            unreachable!("handled before the lake opens")
        }
        Command::Sql { format, file, sql } => {
            let session = Session::open(lake, cluster).await?;
            for warning in session.warnings() {
                eprintln!("runlake: warning: {warning}");
            }
            let text = match (file, sql) {
                (Some(path), _) => std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
                (None, Some(sql)) => sql,
                (None, None) if std::io::stdin().is_terminal() => {
                    shell::run(&session, format).await?;
                    return Ok(ExitCode::SUCCESS);
                }
                (None, None) => {
                    let mut text = String::new();
                    std::io::stdin()
                        .read_to_string(&mut text)
                        .map_err(|e| format!("cannot read SQL from standard input: {e}"))?;
                    text
                }
            };
            let mut stdout = std::io::stdout().lock();
            session.run_script(&text, format, &mut stdout).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

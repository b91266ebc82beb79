//! `runlake serve` and `runlake users`.

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use runlake_flight::{Keys, Limits, Role, RunlakeFlightSql, Tls, Tokens, Users, UsersFile};
use runlake_lake::Lake;
use runlake_report::scheduler::Scheduler;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on (port 0 picks a free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:50051")]
    addr: SocketAddr,
    /// The users file (see `runlake users`). Without it the server has one local user
    /// with every right and listens on loopback addresses only.
    #[arg(long, value_name = "FILE")]
    users: Option<PathBuf>,
    /// The key that signs bearer tokens and tickets, at least 32 bytes (e.g. 64 hex
    /// digits from `openssl rand -hex 32`). Default: the key file.
    #[arg(long, env = "RUNLAKE_TOKEN_SECRET", hide_env_values = true)]
    token_secret: Option<String>,
    /// The token key file: one key per line in hex, the first signs, all verify (put a
    /// new key first to rotate). Created with a random key, readable by its owner only,
    /// on first start. Default: `runlake-token.keys` beside the users file.
    #[arg(long, value_name = "FILE")]
    token_key_file: Option<PathBuf>,
    /// How long a token is valid.
    #[arg(long, default_value = "12h", value_parser = crate::values::duration)]
    token_ttl: Duration,
    /// TLS certificate chain (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require client certificates signed by this CA (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// Memory all queries may hold together, e.g. 4GiB (default: unbounded).
    #[arg(long, value_name = "SIZE", value_parser = crate::values::size)]
    memory_limit: Option<usize>,
    /// Memory one query may hold, e.g. 512MB (default: the whole --memory-limit).
    #[arg(long, value_name = "SIZE", value_parser = crate::values::size)]
    query_memory_limit: Option<usize>,
    /// How long a query may run, e.g. 30s or 5m (default: no limit).
    #[arg(long, value_name = "DURATION", value_parser = crate::values::duration)]
    query_timeout: Option<Duration>,
    /// Queries that may run at once; more wait in a queue (default: no limit).
    #[arg(long, value_name = "N")]
    max_concurrent_queries: Option<usize>,
    /// How long a client may stop reading a result before its query is stopped and its
    /// slot released (0: no limit).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = crate::values::duration)]
    idle_timeout: Duration,
    /// How long a query may wait in that queue before RESOURCE_EXHAUSTED.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = crate::values::duration)]
    queue_timeout: Duration,
    /// Where sorts and aggregations over their memory may spill (default: they fail
    /// with RESOURCE_EXHAUSTED instead).
    #[arg(long, value_name = "DIR")]
    spill_dir: Option<PathBuf>,
    /// Run the reports whose header has a `schedule`, writing their pages under the
    /// lake's `_reports/` and recording each run in `system.report_runs`.
    #[arg(long)]
    schedule: bool,
    /// Reports of your own, next to the shipped ones (a file of the same name wins).
    #[arg(long, value_name = "DIR", default_value = crate::report::LOCAL_DIR)]
    reports: PathBuf,
}

pub async fn serve(
    lake: &Lake,
    cluster: Option<&str>,
    args: ServeArgs,
) -> crate::error::Result<ExitCode> {
    crate::log::init()?;
    let users = match &args.users {
        Some(path) => Some(UsersFile::open(path)?),
        None => {
            if !runlake_flight::is_loopback(&args.addr) {
                return Err(format!(
                    "refusing to listen on {} without --users: anyone who can reach it would \
                     have every right on the lake. Add users (runlake users add NAME --role read \
                     --file users.json) and pass --users users.json, or listen on 127.0.0.1",
                    args.addr
                )
                .into());
            }
            None
        }
    };
    let ttl = args.token_ttl;
    let keys = token_keys(lake, &args).await?;
    let read =
        |p: &PathBuf| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(Tls {
            cert_pem: read(cert)?,
            key_pem: read(key)?,
            client_ca_pem: args.tls_client_ca.as_ref().map(read).transpose()?,
        }),
        _ => None,
    };
    let limits = Limits {
        memory: args.memory_limit,
        query_memory: args.query_memory_limit,
        query_timeout: args.query_timeout,
        idle_timeout: Some(args.idle_timeout).filter(|d| !d.is_zero()),
        max_concurrent: args.max_concurrent_queries,
        queue_timeout: args.queue_timeout,
        spill_dir: args.spill_dir.clone(),
    };
    let user_count = users.as_ref().map(|u| u.current().map(|l| l.list().len()));
    let service = RunlakeFlightSql::new(
        lake.clone(),
        users,
        Tokens::new(keys, ttl),
        limits,
        cluster.map(str::to_string),
    )
    .await?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let bound = listener.local_addr()?;
    outln!(
        "runlake serve: Flight SQL on {}://{bound} (lake {}{}; {})",
        if tls.is_some() { "grpc+tls" } else { "grpc" },
        lake.location(),
        cluster
            .map(|c| format!(", queries on {c}"))
            .unwrap_or_default(),
        match user_count {
            Some(Ok(n)) => format!("{n} user(s)"),
            Some(Err(e)) => return Err(e.into()),
            None => "no users file: local access only, every right".to_string(),
        }
    )?;
    // Cancelled on Ctrl-C / SIGTERM: stops the scheduler's tasks and the server.
    let cancel = tokio_util::sync::CancellationToken::new();
    let mut scheduler = None;
    if args.schedule {
        let reports = crate::report::available_in(&args.reports)?;
        let clock = Arc::new(crate::schedule::clock_from_env()?);
        let store = Arc::new(crate::schedule::LakeRuns(
            lake.clone(),
            cluster.map(str::to_string),
        ));
        let started = Scheduler::start(store, clock, reports, cancel.clone()).await?;
        if started.scheduled.is_empty() {
            eprintln!(
                "runlake serve: --schedule: no report has a schedule (add e.g. \
                 `schedule: '0 6 * * *'` to a report header in {})",
                args.reports.display()
            );
        }
        for line in &started.scheduled {
            outln!("runlake serve: scheduled {line}")?;
        }
        scheduler = Some(started);
    }
    let _ = std::io::stdout().flush();
    tokio::spawn({
        let cancel = cancel.clone();
        async move {
            stop_signal().await;
            eprintln!("runlake serve: stopping");
            cancel.cancel();
        }
    });
    runlake_flight::serve(service, listener, tls, cancel.clone().cancelled_owned()).await?;
    cancel.cancel();
    if let Some(scheduler) = scheduler {
        scheduler.join().await;
    }
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C, or SIGTERM on Unix.
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The keys that sign tokens and tickets: `--token-secret` (or its env var), else the
/// key file, created on first start. A key an earlier version kept in the lake is moved
/// into a new key file, with a warning. A server without users signs with a key of its
/// own: nobody else needs to verify its tokens.
async fn token_keys(lake: &Lake, args: &ServeArgs) -> crate::error::Result<Keys> {
    if let Some(secret) = &args.token_secret {
        if secret.is_empty() {
            return Err(
                "--token-secret (RUNLAKE_TOKEN_SECRET) is empty: give a key of at \
                 least 32 bytes, e.g. `openssl rand -hex 32`, or leave it out to use the \
                 key file"
                    .into(),
            );
        }
        return Ok(Keys::new(vec![secret.as_bytes().to_vec()])
            .map_err(|e| format!("--token-secret: {e}"))?);
    }
    let Some(users) = &args.users else {
        return Ok(Keys::random()?);
    };
    let file = args.token_key_file.clone().unwrap_or_else(|| {
        users
            .parent()
            .unwrap_or(std::path::Path::new(""))
            .join("runlake-token.keys")
    });
    if let Some(root) = lake.local_root() {
        let absolute = std::path::absolute(&file).unwrap_or_else(|_| file.clone());
        if absolute.starts_with(&root) {
            return Err(format!(
                "the token key file {} is inside the lake ({}): whoever can read the lake \
                 could sign in as anyone. Name a file outside it with --token-key-file",
                file.display(),
                root.display()
            )
            .into());
        }
    }
    if file.exists() {
        warn_if_readable_by_others(&file);
        return Ok(Keys::read_file(&file)?);
    }
    let moved = lake.take_secret("token-secret").await?;
    let (key, from_lake) = match moved {
        Some(key) if key.len() >= runlake_flight::auth::MIN_KEY_BYTES => (key, true),
        _ => (runlake_flight::auth::random_key()?, false),
    };
    let keys = Keys::create_file(&file, &key)?;
    if from_lake {
        eprintln!(
            "runlake serve: warning: the token key was kept in the lake (_runlake/token-secret), \
             where whoever can read the lake could sign in as anyone. It is now in {} \
             (readable by its owner only) and removed from the lake; give other servers of \
             this lake a copy of that file (--token-key-file) so they accept the same tokens",
            file.display()
        );
    } else {
        eprintln!(
            "runlake serve: created the token key file {} (readable by its owner only)",
            file.display()
        );
    }
    Ok(keys)
}

/// Warns when the key file can be read by users other than its owner.
fn warn_if_readable_by_others(file: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(file)
            && meta.permissions().mode() & 0o077 != 0
        {
            eprintln!(
                "runlake serve: warning: the token key file {} can be read by other users \
                 (chmod 600 it)",
                file.display()
            );
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a user (or change one's role and password). The password is read from
    /// standard input.
    Add {
        name: String,
        /// read (queries), write (also ingest and create), admin (also drop and compact).
        #[arg(long)]
        role: String,
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// List the users and their roles.
    List {
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// Remove a user.
    Remove {
        name: String,
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
}

pub fn users(command: UsersCommand) -> crate::error::Result<ExitCode> {
    match command {
        UsersCommand::Add { name, role, file } => {
            let role = Role::parse(&role)?;
            let mut users = Users::load(&file, true)?;
            if std::io::stdin().is_terminal() {
                eprint!("password for {name}: ");
            }
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .map_err(|e| format!("cannot read the password: {e}"))?;
            let password = password.trim_end_matches(['\r', '\n']);
            users.set(&name, role, password)?;
            users.save(&file)?;
            outln!("user {name} ({}) saved in {}", role.name(), file.display())?;
        }
        UsersCommand::List { file } => {
            let users = Users::load(&file, false)?;
            for u in users.list() {
                outln!("{}\t{}", u.name, u.role.name())?;
            }
        }
        UsersCommand::Remove { name, file } => {
            let mut users = Users::load(&file, false)?;
            if !users.remove(&name) {
                return Err(format!("no user '{name}' in {}", file.display()).into());
            }
            users.save(&file)?;
            outln!("user {name} removed from {}", file.display())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

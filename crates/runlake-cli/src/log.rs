//! The server's log: every `tracing` event (runlake's own, and those of DataFusion,
//! deltalake and object_store, whose `log` records are bridged in) as one logfmt line
//! on standard error: `ts=... level=info event=query user=alice sql="SELECT 1"`.
//!
//! runlake's events name themselves in an `event` field; another crate's event is
//! named by its target and carries its text as `message`. Empty values are left out.
//! `RUNLAKE_LOG` chooses what is written, as `tracing_subscriber`'s target filters
//! (default `warn,runlake=info`: runlake's events from `info`, other crates' from `warn`).

use std::fmt::Write as _;
use std::io::Write as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// The default of `RUNLAKE_LOG`.
const DEFAULT_FILTER: &str = "warn,runlake=info";

/// Installs the logfmt writer as the process's `tracing` subscriber.
pub fn init() -> crate::error::Result<()> {
    let filter = std::env::var("RUNLAKE_LOG").unwrap_or_else(|_| DEFAULT_FILTER.to_string());
    let targets: Targets = filter.parse().map_err(|e| {
        format!("RUNLAKE_LOG='{filter}' is not a log filter such as '{DEFAULT_FILTER}': {e}")
    })?;
    // A second install (never in the binary) keeps the first.
    let _ = tracing_subscriber::registry()
        .with(Logfmt.with_filter(targets))
        .try_init();
    Ok(())
}

/// Writes each event as one logfmt line.
#[derive(Debug)]
struct Logfmt;

impl<S: Subscriber> Layer<S> for Logfmt {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = match *meta.level() {
            Level::ERROR => "error",
            Level::WARN => "warn",
            Level::INFO => "info",
            Level::DEBUG => "debug",
            Level::TRACE => "trace",
        };
        let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let name = fields
            .event
            .take()
            .unwrap_or_else(|| meta.target().to_string());
        let mut line = format!("ts={ts} level={level} event=");
        push_value(&mut line, &name);
        for (key, value) in &fields.pairs {
            if value.is_empty() {
                continue;
            }
            line.push(' ');
            line.push_str(key);
            line.push('=');
            push_value(&mut line, value);
        }
        line.push('\n');
        // One write per line, so lines from concurrent tasks never interleave.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// A value as logfmt writes it: quoted when it holds a space, a quote, `=` or a line
/// break (which becomes a space).
fn push_value(line: &mut String, value: &str) {
    if value.contains([' ', '"', '=', '\n']) {
        line.push('"');
        line.push_str(
            &value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', " "),
        );
        line.push('"');
    } else {
        line.push_str(value);
    }
}

/// An event's fields in the order they were written.
#[derive(Debug, Default)]
struct Fields {
    event: Option<String>,
    pairs: Vec<(&'static str, String)>,
}

impl Fields {
    fn push(&mut self, field: &Field, value: String) {
        match field.name() {
            "event" => self.event = Some(value),
            // Where a bridged `log` record came from: the target already names it.
            name if name.starts_with("log.") => {}
            name => self.pairs.push((name, value)),
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        self.push(field, text);
    }
}

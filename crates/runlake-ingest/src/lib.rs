//! Readers for LLM-serving run logs: a source's bytes (decompressed, hashed) -> the
//! detected format -> rows for the canonical tables (`runs`, `requests`, `steps`,
//! `spans`) or one generic table, with units normalised to milliseconds, column names in
//! snake_case, provenance columns, and the bad rows set aside as rejects with their line.
//!
//! Nothing here writes: the lake commits what a [`Parsed`] holds.

mod columns;
mod detect;
mod error;
pub mod explain;
mod formats;
mod generic;
pub mod names;
mod progress;
mod source;
mod stream;
pub mod table;
pub mod value;

use std::collections::HashMap;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;

pub use crate::columns::TextColumns;
pub use crate::detect::detect;
pub use crate::error::{Error, Result};
pub use crate::progress::Progress;
pub use crate::source::{InputLimits, Source};
pub use crate::stream::{DelimitedStream, Window};
pub use crate::table::{Kind, TableRows};
use crate::value::Cell;

/// Every format runlake reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Csv,
    Tsv,
    Json,
    Jsonl,
    Parquet,
    Arrow,
    VllmBench,
    SglangBench,
    SchedSteps,
    LlamaBench,
    Guidellm,
    Llmperf,
    Mlperf,
    Vidur,
    GenaiPerf,
    Aiperf,
    Otlp,
}

impl Format {
    pub const ALL: &[Format] = &[
        Format::Csv,
        Format::Tsv,
        Format::Json,
        Format::Jsonl,
        Format::Parquet,
        Format::Arrow,
        Format::VllmBench,
        Format::SglangBench,
        Format::SchedSteps,
        Format::LlamaBench,
        Format::Guidellm,
        Format::Llmperf,
        Format::Mlperf,
        Format::Vidur,
        Format::GenaiPerf,
        Format::Aiperf,
        Format::Otlp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Json => "json",
            Format::Jsonl => "jsonl",
            Format::Parquet => "parquet",
            Format::Arrow => "arrow",
            Format::VllmBench => "vllm-bench",
            Format::SglangBench => "sglang-bench",
            Format::SchedSteps => "sched-steps",
            Format::LlamaBench => "llama-bench",
            Format::Guidellm => "guidellm",
            Format::Llmperf => "llmperf",
            Format::Mlperf => "mlperf",
            Format::Vidur => "vidur",
            Format::GenaiPerf => "genai-perf",
            Format::Aiperf => "aiperf",
            Format::Otlp => "otlp",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        let name = name.to_ascii_lowercase();
        let name = match name.as_str() {
            "ndjson" => "jsonl",
            "vllm" => "vllm-bench",
            "sglang" => "sglang-bench",
            "steps" => "sched-steps",
            "genai_perf" | "genaiperf" => "genai-perf",
            "otel" | "opentelemetry" => "otlp",
            other => other,
        };
        Format::ALL.iter().copied().find(|f| f.name() == name)
    }

    /// Whether this is one of the generic formats (one table, named by `--table`).
    pub fn is_generic(self) -> bool {
        matches!(
            self,
            Format::Csv
                | Format::Tsv
                | Format::Json
                | Format::Jsonl
                | Format::Parquet
                | Format::Arrow
        )
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A bad row: left out of the data, recorded in `_rejects`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// The 1-based physical line (the header is line 1), or record number.
    pub line: u64,
    pub column: Option<String>,
    pub reason: String,
    /// The line as it was in the file (clipped).
    pub raw: String,
}

/// How to read one source.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The format, or `None` to detect it from the content.
    pub format: Option<Format>,
    /// The table a generic format lands in (default: the file stem).
    pub table: Option<String>,
    /// Seconds east of UTC for times written without a zone (vLLM's `date`).
    pub timezone_offset_s: i32,
    /// Receives the rows read, for a progress display.
    pub progress: Option<Progress>,
}

/// The natural keys of the canonical tables: records already present under these keys
/// are skipped, and files are sorted by them.
pub fn natural_keys(table: &str) -> &'static [&'static str] {
    match table {
        "runs" => &["run_id"],
        "requests" => &["run_id", "request_index"],
        "steps" => &["run_id", "step", "ts"],
        "spans" => &["trace_id", "span_id"],
        _ => &[],
    }
}

/// One table's worth of a parsed source.
#[derive(Debug)]
pub enum TableData {
    /// Rows to be typed and built (text formats).
    Rows(TableRows),
    /// Delimited text, column by column, to be typed and built.
    Text(TextColumns),
    /// Batches that keep their own types (Parquet, Arrow), provenance already added.
    Batches {
        table: String,
        batches: Vec<RecordBatch>,
    },
}

impl TableData {
    pub fn table(&self) -> &str {
        match self {
            TableData::Rows(r) => &r.table,
            TableData::Text(t) => &t.table,
            TableData::Batches { table, .. } => table,
        }
    }
}

/// What a source holds, before typing against the lake.
#[derive(Debug)]
pub struct Parsed {
    pub format: Format,
    /// In commit order: child tables first, `runs` last.
    pub tables: Vec<TableData>,
    pub rejects: Vec<Reject>,
    /// Original column names that were renamed to snake_case: (from, to).
    pub renamed: Vec<(String, String)>,
    /// Records read (good and bad).
    pub records: usize,
}

/// One table of a source, ready to commit.
#[derive(Debug)]
pub struct TableOut {
    pub table: String,
    pub batches: Vec<RecordBatch>,
    pub rows: usize,
}

/// Reads a source into rows for its tables.
pub fn parse(source: &Source, options: &Options) -> Result<Parsed> {
    let format = match options.format {
        Some(f) => f,
        None => detect(source)?,
    };
    let table = options
        .table
        .clone()
        .unwrap_or_else(|| default_table_name(&source.name));
    let mut parsed = progress::reporting(options.progress.as_ref(), || {
        formats::read(format, source, &table, options)
    })?;
    parsed.declare_canonical();
    Ok(parsed)
}

/// The canonical columns of `predictions` (more may follow from the input).
pub const PREDICTIONS: &[(&str, Kind)] = &[
    ("framework", Kind::Str),
    ("model", Kind::Str),
    ("hardware", Kind::Str),
    ("phase", Kind::Str),
    ("key", Kind::Str),
    ("predicted_ms", Kind::Float),
    ("actual_ms", Kind::Float),
    ("predictor", Kind::Str),
    ("run_id", Kind::Str),
];

impl Parsed {
    /// Declares the canonical columns reports rely on, so they exist even when a file
    /// lacks some (`predictions`: [`PREDICTIONS`]).
    fn declare_canonical(&mut self) {
        for t in &mut self.tables {
            if t.table() != "predictions" {
                continue;
            }
            for (name, kind) in PREDICTIONS {
                match t {
                    TableData::Rows(rows) if !rows.has_column(name) => rows.declare(name, *kind),
                    TableData::Text(text) if !text.has_column(name) => text.declare(name, *kind),
                    _ => {}
                }
            }
        }
    }

    /// Applies the `--set` tags to every row of every table.
    pub fn set(&mut self, tags: &[(String, String)]) {
        for table in &mut self.tables {
            match table {
                TableData::Rows(rows) => {
                    for (k, v) in tags {
                        rows.set_all(k, &Cell::Str(v.clone()));
                    }
                }
                TableData::Text(text) => {
                    for (k, v) in tags {
                        text.set_all(k, v);
                    }
                }
                TableData::Batches { batches, .. } => {
                    for batch in batches.iter_mut() {
                        *batch = generic::set_columns(batch, tags);
                    }
                }
            }
        }
    }

    /// Types every table (declared columns, then the existing table's schema from
    /// `known`, then inference) and builds its batches. Values that do not fit their
    /// column become rejects, with their line as it is in `source` when the format has
    /// one record per line.
    pub fn finish(
        self,
        known: &HashMap<String, Schema>,
        ingested_at_us: i64,
        source: &Source,
    ) -> Result<(Vec<TableOut>, Vec<Reject>)> {
        let line_based = matches!(self.format, Format::Csv | Format::Tsv | Format::Jsonl);
        let (out, mut rejects) = self.build(known, ingested_at_us, &source.name)?;
        if line_based {
            fill_raw(source.content(), &mut rejects);
        }
        Ok((out, rejects))
    }

    /// [`Parsed::finish`] without the rejects' line text (`raw` stays empty where the
    /// format reader did not set it), for a part of a source no longer in memory.
    pub fn build(
        self,
        known: &HashMap<String, Schema>,
        ingested_at_us: i64,
        source_name: &str,
    ) -> Result<(Vec<TableOut>, Vec<Reject>)> {
        let mut rejects = self.rejects;
        let mut out = Vec::new();
        for table in self.tables {
            match table {
                TableData::Rows(rows) => {
                    let name = rows.table.clone();
                    let (batch, bad) =
                        rows.finish(known.get(&name), source_name, ingested_at_us)?;
                    rejects.extend(bad);
                    out.push(TableOut {
                        table: name,
                        rows: batch.num_rows(),
                        batches: vec![batch],
                    });
                }
                TableData::Text(text) => {
                    let name = text.table.clone();
                    let (batches, bad) =
                        text.finish(known.get(&name), source_name, ingested_at_us)?;
                    rejects.extend(bad);
                    out.push(TableOut {
                        table: name,
                        rows: batches.iter().map(RecordBatch::num_rows).sum(),
                        batches,
                    });
                }
                TableData::Batches { table, batches } => {
                    let batches = generic::with_provenance(batches, source_name, ingested_at_us);
                    let rows = batches.iter().map(RecordBatch::num_rows).sum();
                    out.push(TableOut {
                        table,
                        batches,
                        rows,
                    });
                }
            }
        }
        rejects.sort_by_key(|r| r.line);
        Ok((out, rejects))
    }
}

/// Gives each reject without its text (a value its column's type refused, found after
/// the text was split into columns) the line it starts on, as it is in `content`.
/// `rejects` is sorted by line.
fn fill_raw(content: &[u8], rejects: &mut [Reject]) {
    let mut line = 1u64;
    let mut start = 0usize;
    let mut newlines = memchr::memchr_iter(b'\n', content);
    for reject in rejects.iter_mut().filter(|r| r.raw.is_empty()) {
        while line < reject.line {
            match newlines.next() {
                Some(at) => {
                    start = at + 1;
                    line += 1;
                }
                None => return,
            }
        }
        let rest = &content[start..];
        let text = &rest[..memchr::memchr(b'\n', rest).unwrap_or(rest.len())];
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        reject.raw = generic::clip_raw(&String::from_utf8_lossy(text));
    }
}

/// The default table of a generic file: its stem in snake_case (`runs/2026-11-01.csv.gz`
/// -> `_2026_11_01`).
pub fn default_table_name(source_name: &str) -> String {
    let base = source_name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(source_name);
    let mut stem = base;
    for ext in [".gz", ".zst", ".zstd"] {
        if let Some(s) = stem.strip_suffix(ext) {
            stem = s;
        }
    }
    if let Some(i) = stem.rfind('.') {
        stem = &stem[..i];
    }
    if stem.is_empty() || source_name == "-" {
        return "stdin".to_string();
    }
    names::snake_case(stem)
}

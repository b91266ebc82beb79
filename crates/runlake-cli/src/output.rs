//! Result printing: aligned tables for people, CSV / JSON / NDJSON for programs.
//!
//! CSV and JSON write floats in full round-trip precision. CSV writes NULL as an empty
//! field, NaN as `NaN`, infinities as `Infinity` / `-Infinity`, and lists as
//! `[1.0, 2.5]`. JSON writes NaN and the infinities as the strings `"NaN"`,
//! `"Infinity"`, `"-Infinity"`, so they stay distinct from `null`.

use std::io::Write;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float16Type, Float32Type, Float64Type, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned table.
    Table,
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON array of objects per statement.
    Json,
    /// One JSON object per line.
    Ndjson,
}

/// Collapses a multi-line error message onto one line.
pub fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Streams the results of one or more statements.
pub struct Printer {
    format: Format,
    schema: Option<SchemaRef>,
    batches: Vec<RecordBatch>,
    rows_written: usize,
}

impl Printer {
    pub fn new(format: Format) -> Self {
        Self {
            format,
            schema: None,
            batches: Vec::new(),
            rows_written: 0,
        }
    }

    pub fn begin(&mut self, schema: &SchemaRef, out: &mut dyn Write) -> Result<()> {
        self.schema = Some(schema.clone());
        self.rows_written = 0;
        match self.format {
            Format::Csv => {
                let header: Vec<String> = schema
                    .fields()
                    .iter()
                    .map(|f| csv_quote(f.name()))
                    .collect();
                writeln!(out, "{}", header.join(","))?;
            }
            Format::Json => write!(out, "[")?,
            Format::Table | Format::Ndjson => {}
        }
        Ok(())
    }

    pub fn batch(&mut self, batch: &RecordBatch, out: &mut dyn Write) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.format == Format::Table {
            self.batches.push(batch.clone());
            return Ok(());
        }
        let columns: Vec<ArrayRef> = batch.columns().iter().map(plain).collect::<Result<_>>()?;
        let names: Vec<String> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| json_string(f.name()))
            .collect();
        let mut line = String::new();
        for row in 0..batch.num_rows() {
            line.clear();
            match self.format {
                Format::Csv => {
                    for (i, c) in columns.iter().enumerate() {
                        if i > 0 {
                            line.push(',');
                        }
                        line.push_str(&csv_quote(&csv_value(c.as_ref(), row)?));
                    }
                    writeln!(out, "{line}")?;
                }
                Format::Json | Format::Ndjson => {
                    line.push('{');
                    for (i, c) in columns.iter().enumerate() {
                        if i > 0 {
                            line.push(',');
                        }
                        line.push_str(&names[i]);
                        line.push(':');
                        write_json(c.as_ref(), row, &mut line)?;
                    }
                    line.push('}');
                    if self.format == Format::Ndjson {
                        writeln!(out, "{line}")?;
                    } else {
                        let sep = if self.rows_written == 0 { "" } else { "," };
                        write!(out, "{sep}\n  {line}")?;
                    }
                }
                Format::Table => unreachable!("tables are collected"),
            }
            self.rows_written += 1;
        }
        Ok(())
    }

    pub fn end(&mut self, out: &mut dyn Write) -> Result<()> {
        match self.format {
            Format::Table => {
                let schema = self.schema.take().expect("begin before end");
                let batches = std::mem::take(&mut self.batches);
                let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                if schema.fields().is_empty() {
                    return Ok(());
                }
                let table = if rows == 0 {
                    datafusion::arrow::util::pretty::pretty_format_batches(&[
                        RecordBatch::new_empty(schema),
                    ])?
                } else {
                    datafusion::arrow::util::pretty::pretty_format_batches(&batches)?
                };
                writeln!(out, "{table}")?;
                writeln!(out, "{rows} row{}", if rows == 1 { "" } else { "s" })?;
            }
            Format::Json => {
                if self.rows_written == 0 {
                    writeln!(out, "]")?;
                } else {
                    writeln!(out, "\n]")?;
                }
            }
            Format::Csv | Format::Ndjson => {}
        }
        Ok(())
    }

    pub fn finish(&mut self, out: &mut dyn Write) -> Result<()> {
        out.flush()?;
        Ok(())
    }
}

/// Dictionaries and view types printed as their plain value types.
fn plain(array: &ArrayRef) -> Result<ArrayRef> {
    Ok(match array.data_type() {
        DataType::Dictionary(_, value) => cast(array, value)?,
        DataType::Utf8View => cast(array, &DataType::Utf8)?,
        DataType::BinaryView => cast(array, &DataType::Binary)?,
        _ => array.clone(),
    })
}

/// Full round-trip precision: `0.1`, `1.0`, `1e-300`, `NaN`, `Infinity`.
pub fn format_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else {
        format!("{v:?}")
    }
}

fn float_at(array: &dyn Array, row: usize) -> Option<f64> {
    match array.data_type() {
        DataType::Float64 => Some(array.as_primitive::<Float64Type>().value(row)),
        DataType::Float32 => Some(array.as_primitive::<Float32Type>().value(row) as f64),
        DataType::Float16 => Some(array.as_primitive::<Float16Type>().value(row).to_f64()),
        _ => None,
    }
}

fn display(array: &dyn Array, row: usize) -> Result<String> {
    let formatter = ArrayFormatter::try_new(array, &FormatOptions::default())?;
    Ok(formatter.value(row).to_string())
}

fn csv_value(array: &dyn Array, row: usize) -> Result<String> {
    if array.is_null(row) {
        return Ok(String::new());
    }
    if let Some(v) = float_at(array, row) {
        return Ok(format_f64(v));
    }
    match array.data_type() {
        DataType::List(_)
        | DataType::LargeList(_)
        | DataType::FixedSizeList(..)
        | DataType::Struct(_)
        | DataType::Map(..) => {
            let mut s = String::new();
            write_nested_text(array, row, &mut s)?;
            Ok(s)
        }
        _ => display(array, row),
    }
}

/// Lists in CSV: `[1.0, 2.5]`; strings inside are JSON-quoted, NULL is `null`.
fn write_nested_text(array: &dyn Array, row: usize, out: &mut String) -> Result<()> {
    if array.is_null(row) {
        out.push_str("null");
        return Ok(());
    }
    if let Some(v) = float_at(array, row) {
        out.push_str(&format_f64(v));
        return Ok(());
    }
    match array.data_type() {
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
            let values = list_values(array, row);
            out.push('[');
            for i in 0..values.len() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_nested_text(values.as_ref(), i, out)?;
            }
            out.push(']');
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            out.push_str(&json_string(&display(array, row)?));
        }
        _ => write_json(array, row, out)?,
    }
    Ok(())
}

fn list_values(array: &dyn Array, row: usize) -> ArrayRef {
    match array.data_type() {
        DataType::List(_) => array.as_list::<i32>().value(row),
        DataType::LargeList(_) => array.as_list::<i64>().value(row),
        DataType::FixedSizeList(..) => array.as_fixed_size_list().value(row),
        _ => unreachable!("list types only"),
    }
}

fn csv_quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

fn write_json(array: &dyn Array, row: usize, out: &mut String) -> Result<()> {
    if array.is_null(row) {
        out.push_str("null");
        return Ok(());
    }
    if let Some(v) = float_at(array, row) {
        if v.is_finite() {
            out.push_str(&format_f64(v));
        } else {
            out.push_str(&json_string(&format_f64(v)));
        }
        return Ok(());
    }
    match array.data_type() {
        DataType::Boolean => out.push_str(if array.as_boolean().value(row) {
            "true"
        } else {
            "false"
        }),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => out.push_str(&display(array, row)?),
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
            let values = list_values(array, row);
            let values = plain(&values)?;
            out.push('[');
            for i in 0..values.len() {
                if i > 0 {
                    out.push(',');
                }
                write_json(values.as_ref(), i, out)?;
            }
            out.push(']');
        }
        DataType::Struct(fields) => {
            let s = array.as_struct();
            out.push('{');
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&json_string(f.name()));
                out.push(':');
                let column = plain(s.column(i))?;
                write_json(column.as_ref(), row, out)?;
            }
            out.push('}');
        }
        _ => out.push_str(&json_string(&display(array, row)?)),
    }
    Ok(())
}

/// `println!` that returns the write's `io::Result` instead of panicking, so a closed
/// standard output (`runlake sql ... | head`) is an error the caller passes up and
/// `main` ends on with exit code 141.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

/// `print!` that returns the write's `io::Result`; see [`outln`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)
    }};
}

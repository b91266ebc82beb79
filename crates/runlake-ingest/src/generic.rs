//! The generic formats: CSV, TSV, JSON (an array or one object), JSON lines, Parquet and
//! Arrow IPC, each into one table named by `--table` (default: the file stem).

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use serde_json::Value;

use crate::names::unique_snake_case;
use crate::table::{INGESTED_AT, LINE, SOURCE, TableRows, timestamp_type};
use crate::value::{Cell, is_null_text, json_cell, parse_json};
use crate::{Error, Format, Parsed, Reject, Result, Source, TableData};

const RAW_LIMIT: usize = 2000;

fn clip_raw(s: &str) -> String {
    if s.len() <= RAW_LIMIT {
        return s.to_string();
    }
    let mut end = RAW_LIMIT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

fn renames(original: &[String], snake: &[String]) -> Vec<(String, String)> {
    original
        .iter()
        .zip(snake)
        .filter(|(a, b)| a != b)
        .map(|(a, b)| (a.clone(), b.clone()))
        .collect()
}

/// CSV or TSV: the header is line 1; a row with the wrong number of fields, or a value
/// that does not fit its column, is a bad row.
pub fn read_delimited(source: &Source, table: &str, delimiter: u8) -> Result<Parsed> {
    let text = source.text()?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| Error::Format {
            source_name: source.name.clone(),
            message: format!("line 1: cannot read the header: {e}"),
        })?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if headers.is_empty() || (headers.len() == 1 && headers[0].is_empty()) {
        return Err(Error::Format {
            source_name: source.name.clone(),
            message: "line 1: the header is empty".into(),
        });
    }
    let names = unique_snake_case(&headers);
    let renamed = renames(&headers, &names);
    let mut rows = TableRows::new(table, &[]);
    for name in &names {
        rows.push_column(name);
    }
    let mut rejects = Vec::new();
    let mut records = 0usize;
    let mut record = csv::StringRecord::new();
    loop {
        let line_hint = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                records += 1;
                let line = record.position().map_or(line_hint, |p| p.line());
                if record.len() == 1 && record.get(0).is_some_and(str::is_empty) && names.len() > 1
                {
                    records -= 1; // a blank line
                    continue;
                }
                if record.len() != names.len() {
                    let raw: Vec<&str> = record.iter().collect();
                    rejects.push(Reject {
                        line,
                        column: None,
                        reason: format!(
                            "expected {} fields as in the header, found {}",
                            names.len(),
                            record.len()
                        ),
                        raw: clip_raw(&raw.join(&(delimiter as char).to_string())),
                    });
                    continue;
                }
                let cells = names
                    .iter()
                    .zip(record.iter())
                    .map(|(n, v)| {
                        let cell = if is_null_text(v) {
                            Cell::Null
                        } else {
                            Cell::Str(v.to_string())
                        };
                        (n.clone(), cell)
                    })
                    .collect();
                rows.push(line, cells);
            }
            Err(e) => {
                records += 1;
                let line = e.position().map_or(line_hint, |p| p.line());
                rejects.push(Reject {
                    line,
                    column: None,
                    reason: format!("unreadable row: {e}"),
                    raw: String::new(),
                });
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
            }
        }
    }
    Ok(Parsed {
        format: if delimiter == b'\t' {
            Format::Tsv
        } else {
            Format::Csv
        },
        tables: vec![TableData::Rows(rows)],
        rejects,
        renamed,
        records,
    })
}

/// JSON lines: one object per line; a line that is not a JSON object is a bad row.
pub fn read_json_lines(source: &Source, table: &str) -> Result<Parsed> {
    let text = source.text()?;
    let mut rows = TableRows::new(table, &[]);
    let mut rejects = Vec::new();
    let mut renamed = Vec::new();
    let mut records = 0;
    for (i, line) in text.lines().enumerate() {
        let line_no = i as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        records += 1;
        match parse_json(line) {
            Ok(Value::Object(o)) => rows.push(line_no, object_cells(&o, &mut renamed)),
            Ok(_) => rejects.push(Reject {
                line: line_no,
                column: None,
                reason: "not a JSON object".into(),
                raw: clip_raw(line),
            }),
            Err(e) => rejects.push(Reject {
                line: line_no,
                column: None,
                reason: format!("invalid JSON: {e}"),
                raw: clip_raw(line),
            }),
        }
    }
    Ok(Parsed {
        format: Format::Jsonl,
        tables: vec![TableData::Rows(rows)],
        rejects,
        renamed,
        records,
    })
}

/// A JSON document: an array of objects (record numbers as lines) or one object.
pub fn read_json(source: &Source, table: &str) -> Result<Parsed> {
    let text = source.text()?;
    let doc = parse_json(text).map_err(|e| Error::Format {
        source_name: source.name.clone(),
        message: format!(
            "line {}, column {}: invalid JSON: {e}",
            e.line(),
            e.column()
        ),
    })?;
    let mut rows = TableRows::new(table, &[]);
    let mut rejects = Vec::new();
    let mut renamed = Vec::new();
    let items = match doc {
        Value::Array(items) => items,
        other => vec![other],
    };
    let records = items.len();
    for (i, item) in items.iter().enumerate() {
        let line = i as u64 + 1;
        match item {
            Value::Object(o) => rows.push(line, object_cells(o, &mut renamed)),
            other => rejects.push(Reject {
                line,
                column: None,
                reason: "not a JSON object".into(),
                raw: clip_raw(&other.to_string()),
            }),
        }
    }
    Ok(Parsed {
        format: Format::Json,
        tables: vec![TableData::Rows(rows)],
        rejects,
        renamed,
        records,
    })
}

/// A JSON object's keys (snake_case) and values as cells.
pub fn object_cells(
    o: &serde_json::Map<String, Value>,
    renamed: &mut Vec<(String, String)>,
) -> Vec<(String, Cell)> {
    o.iter()
        .map(|(k, v)| {
            let name = crate::names::snake_case(k);
            if &name != k && !renamed.iter().any(|(a, _)| a == k) {
                renamed.push((k.clone(), name.clone()));
            }
            (name, json_cell(v))
        })
        .collect()
}

/// Parquet: the file's own types; `_line` is the 1-based record number.
pub fn read_parquet(source: &Source, table: &str) -> Result<Parsed> {
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let bytes = bytes::Bytes::from(source.bytes.clone());
    let fail = |e: String| Error::Format {
        source_name: source.name.clone(),
        message: format!("cannot read the Parquet file: {e}"),
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(|e| fail(e.to_string()))?
        .with_batch_size(65536)
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| fail(e.to_string()))?;
    batches_parsed(Format::Parquet, table, batches)
}

/// Arrow IPC, file or stream.
pub fn read_arrow(source: &Source, table: &str) -> Result<Parsed> {
    use datafusion::arrow::ipc::reader::{FileReader, StreamReader};
    let fail = |e: String| Error::Format {
        source_name: source.name.clone(),
        message: format!("cannot read the Arrow file: {e}"),
    };
    let batches = match FileReader::try_new(std::io::Cursor::new(&source.bytes), None) {
        Ok(r) => r.collect::<std::result::Result<Vec<_>, _>>(),
        Err(_) => StreamReader::try_new(std::io::Cursor::new(&source.bytes), None)
            .map_err(|e| fail(e.to_string()))?
            .collect::<std::result::Result<Vec<_>, _>>(),
    }
    .map_err(|e| fail(e.to_string()))?;
    batches_parsed(Format::Arrow, table, batches)
}

fn batches_parsed(format: Format, table: &str, batches: Vec<RecordBatch>) -> Result<Parsed> {
    let records = batches.iter().map(RecordBatch::num_rows).sum();
    let mut renamed = Vec::new();
    let batches = batches
        .into_iter()
        .map(|b| {
            let original: Vec<String> = b
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            let names = unique_snake_case(&original);
            if renamed.is_empty() {
                renamed = renames(&original, &names);
            }
            let fields: Vec<Field> = b
                .schema()
                .fields()
                .iter()
                .zip(&names)
                .map(|(f, n)| f.as_ref().clone().with_name(n).with_nullable(true))
                .collect();
            RecordBatch::try_new(Arc::new(Schema::new(fields)), b.columns().to_vec())
                .expect("same columns, renamed")
        })
        .collect();
    Ok(Parsed {
        format,
        tables: vec![TableData::Batches {
            table: table.to_string(),
            batches,
        }],
        rejects: Vec::new(),
        renamed,
        records,
    })
}

/// Adds the provenance columns to batches that keep their own types.
pub fn with_provenance(
    batches: Vec<RecordBatch>,
    source_name: &str,
    ingested_at_us: i64,
) -> Vec<RecordBatch> {
    let mut next_line = 1i64;
    batches
        .into_iter()
        .map(|b| {
            let n = b.num_rows();
            let mut fields: Vec<Field> = b
                .schema()
                .fields()
                .iter()
                .filter(|f| ![SOURCE, LINE, INGESTED_AT].contains(&f.name().as_str()))
                .map(|f| f.as_ref().clone())
                .collect();
            let mut columns: Vec<ArrayRef> = b
                .schema()
                .fields()
                .iter()
                .zip(b.columns())
                .filter(|(f, _)| ![SOURCE, LINE, INGESTED_AT].contains(&f.name().as_str()))
                .map(|(_, c)| c.clone())
                .collect();
            fields.push(Field::new(SOURCE, DataType::Utf8, true));
            columns.push(Arc::new(StringArray::from(vec![source_name; n])));
            fields.push(Field::new(LINE, DataType::Int64, true));
            columns.push(Arc::new(Int64Array::from_iter_values(
                next_line..next_line + n as i64,
            )));
            next_line += n as i64;
            fields.push(Field::new(INGESTED_AT, timestamp_type(), true));
            columns.push(Arc::new(
                TimestampMicrosecondArray::from(vec![ingested_at_us; n]).with_timezone("UTC"),
            ));
            RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
                .expect("provenance columns fit")
        })
        .collect()
}

/// Adds or replaces text columns holding one value on every row (the `--set` tags).
pub fn set_columns(batch: &RecordBatch, tags: &[(String, String)]) -> RecordBatch {
    let n = batch.num_rows();
    let mut fields: Vec<Field> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if tags.iter().any(|(k, _)| k == f.name()) {
            continue;
        }
        fields.push(f.as_ref().clone());
        columns.push(c.clone());
    }
    for (k, v) in tags {
        fields.push(Field::new(k, DataType::Utf8, true));
        columns.push(Arc::new(StringArray::from(vec![v.as_str(); n])));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("same length")
}

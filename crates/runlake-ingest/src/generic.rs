//! The generic formats: CSV, TSV, JSON (an array or one object), JSON lines, Parquet and
//! Arrow IPC, each into one table named by `--table` (default: the file stem).

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use serde_json::Value;

use crate::columns::TextColumns;
use crate::names::unique_snake_case;
use crate::table::{INGESTED_AT, LINE, SOURCE, TableRows, timestamp_type};
use crate::value::{Cell, json_cell, parse_json};
use crate::{Error, Format, Parsed, Reject, Result, Source, TableData};

const RAW_LIMIT: usize = 2000;

pub(crate) fn clip_raw(s: &str) -> String {
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
    // The text is checked to be UTF-8 piece by piece, on the threads that read the pieces.
    let text = source.content();
    let header = read_header(&source.name, text, delimiter)?;
    let body = &text[header.body_start.min(text.len())..];
    let part = read_body(
        &source.name,
        body,
        header.body_line,
        table,
        &header.names,
        delimiter,
    )?;
    Ok(Parsed {
        format: delimited_format(delimiter),
        tables: vec![TableData::Text(part.rows)],
        rejects: part.rejects,
        renamed: header.renamed,
        records: part.records,
    })
}

pub(crate) fn delimited_format(delimiter: u8) -> Format {
    if delimiter == b'\t' {
        Format::Tsv
    } else {
        Format::Csv
    }
}

/// The header of a delimited text: its column names and where the rows start.
pub(crate) struct Header {
    /// The column names in snake_case, made unique.
    pub(crate) names: Vec<String>,
    /// Names that were renamed: (as written, as stored).
    pub(crate) renamed: Vec<(String, String)>,
    /// The byte offset of the first row (just past the header's record).
    pub(crate) body_start: usize,
    /// The line the first row starts on.
    pub(crate) body_line: u64,
}

/// Reads the header record at the start of `text`.
pub(crate) fn read_header(source_name: &str, text: &[u8], delimiter: u8) -> Result<Header> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(text);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| Error::Format {
            source_name: source_name.to_string(),
            message: format!("line 1: cannot read the header: {e}"),
        })?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if headers.is_empty() || (headers.len() == 1 && headers[0].is_empty()) {
        return Err(Error::Format {
            source_name: source_name.to_string(),
            message: "line 1: the header is empty".into(),
        });
    }
    let names = unique_snake_case(&headers);
    let renamed = renames(&headers, &names);
    // The rows start where the header's record ends.
    Ok(Header {
        names,
        renamed,
        body_start: reader.position().byte() as usize,
        body_line: reader.position().line(),
    })
}

/// The records of `body` (rows without the header, the first on line `body_line`), read
/// in pieces on one thread per core when it is large.
pub(crate) fn read_body(
    source_name: &str,
    body: &[u8],
    body_line: u64,
    table: &str,
    names: &[String],
    delimiter: u8,
) -> Result<Part> {
    let pieces = split_lines(body, PARALLEL_PIECE);
    let read = |piece: &Piece| -> Result<Part> {
        let first_line = body_line + piece.newlines_before;
        let text = crate::source::utf8_text(source_name, &body[piece.from..piece.to], first_line)?;
        Ok(read_rows(
            text,
            first_line,
            piece.newlines,
            table,
            names,
            delimiter,
        ))
    };
    let mut parts: Vec<Part> = if pieces.len() > 1 {
        // Several pieces per core, taken in turn by one thread per core, so a slower
        // piece does not leave a core idle.
        let progress = crate::progress::current();
        crate::columns::parallel_map(pieces.len(), |i| {
            crate::progress::reporting(progress.as_ref(), || read(&pieces[i]))
        })
        .into_iter()
        .collect::<Result<_>>()?
    } else {
        Vec::new()
    };
    // A bad row in a piece may come from a split inside a quoted field (after a stray
    // quote): then the pieces are not trusted and the text is read in one go.
    if parts.is_empty() || parts.iter().any(|p| !p.rejects.is_empty()) {
        // The pieces' rows were counted as read; the one-go read counts them again.
        crate::progress::rows_reread(parts.iter().map(|p| p.rows.len() as u64).sum());
        let newlines = pieces.iter().map(|p| p.newlines).sum();
        parts = vec![read(&Piece {
            from: 0,
            to: body.len(),
            newlines_before: 0,
            newlines,
        })?];
    }
    let mut parts = parts.into_iter();
    let mut first = parts.next().expect("at least one part");
    for part in parts {
        first.rows.append(part.rows);
        first.rejects.extend(part.rejects);
        first.records += part.records;
    }
    Ok(first)
}

/// Rows read from (a piece of) a delimited text.
pub(crate) struct Part {
    pub(crate) rows: TextColumns,
    pub(crate) rejects: Vec<Reject>,
    pub(crate) records: usize,
}

/// Texts are read on several threads in pieces of at least this many bytes.
const PARALLEL_PIECE: usize = 4 << 20;

/// Pieces per core a large text is split into.
const PIECES_PER_CORE: usize = 4;

/// The records of `text` (no header), the first on line `first_line`. A line whose
/// fields are plain or simply quoted (the common case) is split in place; any other
/// record (escaped quotes, line breaks inside quotes, a lone carriage return) is read by
/// `csv_core`, with the same rules.
/// `newlines` (the line breaks in `text`) sizes the columns: every row but a final
/// unterminated one ends in a line break, and no column holds more text than the piece.
fn read_rows(
    text: &str,
    first_line: u64,
    newlines: u64,
    table: &str,
    names: &[String],
    delimiter: u8,
) -> Part {
    let rows = usize::try_from(newlines).unwrap_or(0) + 1;
    let mut part = Part {
        rows: TextColumns::with_capacity(
            table,
            names,
            rows,
            &column_bytes(text, names.len(), delimiter),
        ),
        rejects: Vec::new(),
        records: 0,
    };
    let bytes = text.as_bytes();
    let (mut at, mut line) = (0usize, first_line);
    let mut fields: Vec<&str> = Vec::with_capacity(names.len());
    let mut complex = Complex::new(delimiter);
    while at < bytes.len() {
        let end = memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |i| at + i);
        let mut plain = &text[at..end];
        if let Some(stripped) = plain.strip_suffix('\r') {
            plain = stripped;
        }
        if !split_simple(plain, delimiter, &mut fields) {
            let consumed = complex.read(&bytes[at..], line, names, &mut part);
            line += memchr::memchr_iter(b'\n', &bytes[at..at + consumed]).count() as u64;
            at += consumed;
            continue;
        }
        if !plain.is_empty() {
            // (blank lines are skipped, as csv readers skip them)
            part.record(line, &fields, names, delimiter);
        }
        at = end + 1;
        line += 1;
    }
    crate::progress::rows_read(part.rows.len() as u64 % 8192);
    part
}

/// Lines sampled from the start of a piece to size its columns.
const SAMPLE_LINES: usize = 256;

/// The text bytes each of `columns` columns will likely need for all of `text`: each
/// column's share of the first lines, applied to the whole, with some slack. A short
/// estimate only costs a buffer growing once.
fn column_bytes(text: &str, columns: usize, delimiter: u8) -> Vec<usize> {
    let mut share = vec![0usize; columns];
    let (mut sampled, mut fields) = (0usize, Vec::with_capacity(columns));
    for line in text.split_inclusive('\n').take(SAMPLE_LINES) {
        if split_simple(line.trim_end_matches(['\n', '\r']), delimiter, &mut fields)
            && fields.len() == columns
        {
            sampled += line.len();
            for (s, f) in share.iter_mut().zip(&fields) {
                *s += f.len();
            }
        }
    }
    if sampled == 0 {
        return share; // nothing to go by: the buffers grow as needed
    }
    share
        .iter()
        .map(|&s| (s as f64 / sampled as f64 * text.len() as f64 * 1.05) as usize + 4096)
        .collect()
}

/// Splits a line whose fields are each either free of quotes or wholly quoted (a quote,
/// text without quotes, a quote, then the delimiter or the end); false for anything
/// else, which a full CSV reader must read.
fn split_simple<'a>(line: &'a str, delimiter: u8, fields: &mut Vec<&'a str>) -> bool {
    fields.clear();
    let b = line.as_bytes();
    let n = b.len();
    let mut i = 0;
    loop {
        if b.get(i) == Some(&b'"') {
            let mut close = i + 1;
            while close < n && b[close] != b'"' {
                close += 1;
            }
            if close >= n {
                return false; // the field goes on past the line end
            }
            let after = close + 1;
            if after < n && b[after] != delimiter {
                return false; // an escaped quote, or text after the closing quote
            }
            fields.push(&line[i + 1..close]);
            if after >= n {
                return true;
            }
            i = after + 1;
        } else {
            let mut end = i;
            while end < n && b[end] != delimiter {
                if matches!(b[end], b'"' | b'\r') {
                    return false; // a quote inside a field, or a lone carriage return
                }
                end += 1;
            }
            fields.push(&line[i..end]);
            if end >= n {
                return true;
            }
            i = end + 1;
        }
    }
}

/// A reusable `csv_core` reader for the records the simple split cannot take.
struct Complex {
    reader: csv_core::Reader,
    delimiter: u8,
    out: Vec<u8>,
    ends: Vec<usize>,
}

impl Complex {
    fn new(delimiter: u8) -> Self {
        Self {
            reader: csv_core::ReaderBuilder::new().delimiter(delimiter).build(),
            delimiter,
            out: vec![0; 4096],
            ends: vec![0; 64],
        }
    }

    /// Reads the one record at the start of `input` (on `line`) into `part`; the bytes
    /// it took, its line end included.
    fn read(&mut self, input: &[u8], line: u64, names: &[String], part: &mut Part) -> usize {
        use csv_core::ReadRecordResult as R;
        let (mut nin, mut nout, mut nend) = (0, 0, 0);
        // The whole rest of the piece is given, so `InputEmpty` means the text ended:
        // one call with empty input then finishes the last record (or says `End`).
        let mut ended = false;
        let record = loop {
            let (res, i, o, e) = self.reader.read_record(
                &input[nin..],
                &mut self.out[nout..],
                &mut self.ends[nend..],
            );
            (nin, nout, nend) = (nin + i, nout + o, nend + e);
            match res {
                R::InputEmpty if ended => break false,
                R::InputEmpty => ended = nin >= input.len(),
                R::OutputFull => self.out.resize(self.out.len() * 2, 0),
                R::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                R::Record => break true,
                R::End => break false,
            }
        };
        // A CR LF ending counts as one line end.
        if nin > 0 && input[nin - 1] == b'\r' && input.get(nin) == Some(&b'\n') {
            nin += 1;
        }
        if record {
            let mut start = 0;
            let mut fields = Vec::with_capacity(nend);
            for &end in &self.ends[..nend] {
                fields.push(std::str::from_utf8(&self.out[start..end]));
                start = end;
            }
            // Only ASCII quotes are taken out of UTF-8 text, so this always holds.
            match fields
                .into_iter()
                .collect::<std::result::Result<Vec<_>, _>>()
            {
                Ok(fields) => part.record(line, &fields, names, self.delimiter),
                Err(_) => {
                    part.records += 1;
                    part.rejects.push(Reject {
                        line,
                        column: None,
                        reason: "not valid UTF-8 text".into(),
                        raw: String::new(),
                    });
                }
            }
        }
        nin.max(1)
    }
}

impl Part {
    /// One record's fields, read on `line`: a row, or a reject when the number of fields
    /// is not the header's.
    fn record(&mut self, line: u64, fields: &[&str], names: &[String], delimiter: u8) {
        self.records += 1;
        if fields.len() != names.len() {
            self.rejects.push(Reject {
                line,
                column: None,
                reason: format!(
                    "expected {} fields as in the header, found {}",
                    names.len(),
                    fields.len()
                ),
                raw: clip_raw(&fields.join(&(delimiter as char).to_string())),
            });
            return;
        }
        self.rows.push(line, fields.iter().copied());
        if self.rows.len().is_multiple_of(8192) {
            crate::progress::rows_read(8192);
        }
    }
}

/// One piece of a text read on its own thread.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Piece {
    from: usize,
    to: usize,
    /// Line breaks before `from`, and in `from..to`.
    newlines_before: u64,
    newlines: u64,
}

/// Splits `bytes` into up to [`PIECES_PER_CORE`] pieces per core, each at least
/// `min_piece` bytes, at line ends outside quotes (an even number of quote characters
/// before them). The quotes and line breaks before each split point are counted on all
/// cores, segment by segment, in one pass.
fn split_lines(bytes: &[u8], min_piece: usize) -> Vec<Piece> {
    let k = (std::thread::available_parallelism().map_or(1, |n| n.get()) * PIECES_PER_CORE)
        .min(bytes.len() / min_piece.max(1))
        .max(1);
    let targets: Vec<usize> = (0..=k).map(|j| j * bytes.len() / k).collect();
    // (quotes, line breaks) in each segment between two targets.
    let counts = crate::columns::parallel_map(k, |j| {
        let seg = &bytes[targets[j]..targets[j + 1]];
        seg.iter().fold((0u64, 0u64), |(q, n), &b| {
            (q + u64::from(b == b'"'), n + u64::from(b == b'\n'))
        })
    });
    let total_newlines: u64 = counts.iter().map(|c| c.1).sum();
    let mut pieces = Vec::with_capacity(k);
    let (mut from, mut newlines) = (0usize, 0u64);
    // Quotes and line breaks before `targets[j]`.
    let (mut quotes_before, mut newlines_before) = (0u64, 0u64);
    for j in 1..k {
        quotes_before += counts[j - 1].0;
        newlines_before += counts[j - 1].1;
        if targets[j] < from {
            continue; // the previous piece already runs past this point
        }
        // The first line end outside quotes at or after the target.
        let (mut q, mut nl) = (quotes_before, newlines_before);
        let mut end = None;
        for (at, &b) in bytes.iter().enumerate().skip(targets[j]) {
            if b == b'"' {
                q += 1;
            } else if b == b'\n' {
                nl += 1;
                if q % 2 == 0 {
                    end = Some(at + 1);
                    break;
                }
            }
        }
        let Some(end) = end else { break };
        pieces.push(Piece {
            from,
            to: end,
            newlines_before: newlines,
            newlines: nl - newlines,
        });
        (from, newlines) = (end, nl);
    }
    pieces.push(Piece {
        from,
        to: bytes.len(),
        newlines_before: newlines,
        newlines: total_newlines - newlines,
    });
    pieces
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
                reason: crate::value::json_line_error(&e),
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
        message: crate::value::json_error_at(&e, 1),
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
    // The constant columns are built once, at the largest batch's length, and sliced:
    // `_source` repeats the file's name on every row.
    let most = batches.iter().map(RecordBatch::num_rows).max().unwrap_or(0);
    let sources: ArrayRef = Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
        source_name,
        most,
    )));
    let times: ArrayRef =
        Arc::new(TimestampMicrosecondArray::from(vec![ingested_at_us; most]).with_timezone("UTC"));
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
            columns.push(sources.slice(0, n));
            fields.push(Field::new(LINE, DataType::Int64, true));
            columns.push(Arc::new(Int64Array::from_iter_values(
                next_line..next_line + n as i64,
            )));
            next_line += n as i64;
            fields.push(Field::new(INGESTED_AT, timestamp_type(), true));
            columns.push(times.slice(0, n));
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

//! Delimited text kept column by column: each field goes straight into its column's
//! Arrow string buffer (no per-cell allocation), and typing parses each column once.
//! The rules are those of [`crate::table::TableRows`]: declared kinds first, then the
//! existing table's types, then inference; a value that does not fit makes its row a bad
//! row, reported at the first column (in column order) that refuses it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{
    Array, ArrayBuilder, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch,
    StringArray, StringBuilder, TimestampMicrosecondArray, new_null_array,
};
use datafusion::arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, Schema};

use crate::table::{
    INGESTED_AT, Kind, LINE, SOURCE, build, clip, convert, numeric_kind, timestamp_type,
};
use crate::value::{Cell, NotANumber, is_null_text, parse_number};
use crate::{Reject, Result};

/// Rows per output batch: bounds the size of any one array (and of the writer's buffers).
const BATCH_ROWS: usize = 1 << 20;

/// A table read from delimited text, held as one text column per field.
#[derive(Debug)]
pub struct TextColumns {
    pub table: String,
    names: Vec<String>,
    columns: Vec<Column>,
    declared: HashMap<String, Kind>,
    /// The 1-based source line of each row: the finished parts (as the text columns'
    /// parts), then the part being read.
    line_parts: Vec<Vec<i64>>,
    lines: Vec<i64>,
    /// Rows in `line_parts`.
    rows_before: usize,
}

#[derive(Debug)]
enum Column {
    /// Read from the text: finished parts, then the part being read.
    Text {
        parts: Vec<StringArray>,
        builder: StringBuilder,
    },
    /// NULL on every row (a declared column the text lacks).
    Null,
    /// One value on every row (a `--set` tag).
    Constant(String),
}

impl Column {
    fn text(rows: usize, bytes: usize) -> Self {
        Column::Text {
            parts: Vec::new(),
            builder: StringBuilder::with_capacity(rows, bytes),
        }
    }
}

impl TextColumns {
    pub fn new(table: impl Into<String>, names: &[String]) -> Self {
        Self::with_capacity(table, names, 0, &[])
    }

    /// Room for about `rows` rows and `bytes[i]` bytes of text in column `i`, reserved up
    /// front: a buffer grown by doubling copies its contents into fresh memory at every
    /// step, and fresh memory is the dearest part of reading a large text.
    pub fn with_capacity(
        table: impl Into<String>,
        names: &[String],
        rows: usize,
        bytes: &[usize],
    ) -> Self {
        Self {
            table: table.into(),
            names: names.to_vec(),
            columns: (0..names.len())
                .map(|i| Column::text(rows, bytes.get(i).copied().unwrap_or(0)))
                .collect(),
            declared: HashMap::new(),
            line_parts: Vec::new(),
            lines: Vec::with_capacity(rows),
            rows_before: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows_before + self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn has_column(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// Adds one record; `fields` has one value per text column, in column order.
    pub fn push<'a>(&mut self, line: u64, fields: impl IntoIterator<Item = &'a str>) {
        let builders = self.columns.iter_mut().filter_map(|c| match c {
            Column::Text { builder, .. } => Some(builder),
            _ => None,
        });
        for (b, v) in builders.zip(fields) {
            if is_null_text(v) {
                b.append_null();
            } else {
                b.append_value(v);
            }
        }
        self.lines.push(line as i64);
    }

    /// Appends the rows of `other`, read from a later part of the same text.
    pub fn append(&mut self, other: TextColumns) {
        let more_rows = other.len();
        for (mine, theirs) in self.columns.iter_mut().zip(other.columns) {
            if let (
                Column::Text { parts, builder },
                Column::Text {
                    parts: more,
                    builder: mut last,
                },
            ) = (mine, theirs)
            {
                parts.push(builder.finish());
                parts.extend(more);
                parts.push(last.finish());
            }
        }
        // The line numbers are kept in the same parts, not copied into one vector.
        self.rows_before += self.lines.len() + more_rows;
        self.line_parts.push(std::mem::take(&mut self.lines));
        self.line_parts.extend(other.line_parts);
        self.line_parts.push(other.lines);
    }

    /// Declares a column's type, adding it (all NULL) when the text has no such column.
    pub fn declare(&mut self, name: &str, kind: Kind) {
        if !self.has_column(name) {
            self.names.push(name.to_string());
            self.columns.push(Column::Null);
        }
        self.declared.insert(name.to_string(), kind);
    }

    /// Sets `name` to `value` on every row (the `--set` tags).
    pub fn set_all(&mut self, name: &str, value: &str) {
        let column = Column::Constant(value.to_string());
        match self.names.iter().position(|n| n == name) {
            Some(i) => self.columns[i] = column,
            None => {
                self.names.push(name.to_string());
                self.columns.push(column);
            }
        }
    }

    /// Types every column and builds the batches (provenance columns appended), leaving
    /// out the bad rows, which are returned as rejects. The text stays in the parts it
    /// was read in (one per piece read in parallel): each part is parsed and built on its
    /// own, on parallel threads, and never copied into one whole-column array.
    pub fn finish(
        self,
        known: Option<&Schema>,
        source_name: &str,
        ingested_at_us: i64,
    ) -> Result<(Vec<RecordBatch>, Vec<Reject>)> {
        let n = self.len();
        let fixed: Vec<Option<Kind>> = self
            .names
            .iter()
            .map(|name| {
                self.declared.get(name).copied().or_else(|| {
                    known
                        .and_then(|s| s.field_with_name(name).ok())
                        .and_then(|f| Kind::of(f.data_type()))
                })
            })
            .collect();
        // The parts' row ranges, the same for every text column (they were read together).
        let bounds: Vec<(usize, usize)> = match self.columns.iter().find_map(|c| match c {
            Column::Text { parts, builder } => Some((parts, builder)),
            _ => None,
        }) {
            Some((parts, builder)) => {
                let mut start = 0;
                let lens = parts.iter().map(Array::len).chain([builder.len()]);
                lens.map(|len| {
                    start += len;
                    (start - len, start)
                })
                .collect()
            }
            None => vec![(0, n)],
        };
        let pieces = bounds.len();
        // Columns with one value on every row (the `--set` tags, `_source`,
        // `_ingested_at`) are built once, as long as the longest part, and each part
        // takes a slice of them.
        let longest = bounds
            .iter()
            .map(|&(start, end)| end - start)
            .max()
            .unwrap_or(0);
        // Each part is taken out when its batch is built, so its text is freed as it goes.
        let texts: Vec<Option<Vec<Mutex<Option<StringArray>>>>> = self
            .columns
            .into_iter()
            .map(|c| match c {
                Column::Text {
                    mut parts,
                    mut builder,
                } => {
                    parts.push(builder.finish());
                    Ok(Some(
                        parts.into_iter().map(|p| Mutex::new(Some(p))).collect(),
                    ))
                }
                Column::Null => Ok(None),
                Column::Constant(v) => {
                    let all = repeated(&v, longest, source_name)?;
                    Ok(Some(
                        bounds
                            .iter()
                            .map(|&(start, end)| Mutex::new(Some(all.slice(0, end - start))))
                            .collect(),
                    ))
                }
            })
            .collect::<Result<_>>()?;
        // Parsing numbers is most of the typing work: one (column, part) per task.
        let numbers: Vec<Mutex<Option<Numbers>>> = parallel_map(texts.len() * pieces, |i| {
            let (c, p) = (i / pieces, i % pieces);
            Mutex::new(match (&texts[c], fixed[c]) {
                (Some(parts), None | Some(Kind::Float | Kind::Int)) => {
                    let part = parts[p].lock().expect("not poisoned");
                    Some(Numbers::parse(
                        part.as_ref().expect("parts are taken later"),
                    ))
                }
                _ => None,
            })
        });
        let kinds: Vec<Kind> = (0..texts.len())
            .map(|c| match (&texts[c], fixed[c]) {
                (None, kind) => kind.unwrap_or(Kind::Str),
                (Some(_), Some(Kind::Str | Kind::Json)) => Kind::Str,
                (Some(_), Some(kind)) => kind,
                (Some(_), None) => {
                    let mine: Vec<_> = numbers[c * pieces..(c + 1) * pieces]
                        .iter()
                        .map(|m| m.lock().expect("not poisoned"))
                        .collect();
                    let all = mine.iter().flat_map(|m| m.as_ref());
                    let (count, others) = all
                        .clone()
                        .fold((0, 0), |(a, b), m| (a + m.numbers, b + m.others));
                    let fractional = all.clone().any(|m| m.fractional);
                    numeric_kind(&self.names[c], count, others, fractional).unwrap_or(Kind::Str)
                }
            })
            .collect();
        let mut fields: Vec<Field> = self
            .names
            .iter()
            .zip(&kinds)
            .map(|(name, kind)| Field::new(name, kind.data_type(), true))
            .collect();
        fields.push(Field::new(SOURCE, DataType::Utf8, true));
        fields.push(Field::new(LINE, DataType::Int64, true));
        fields.push(Field::new(INGESTED_AT, timestamp_type(), true));
        let schema = Arc::new(Schema::new(fields));
        // Each part's line numbers, as the `_line` column (without a copy).
        let mut line_parts = self.line_parts;
        line_parts.push(self.lines);
        if line_parts.len() != pieces {
            line_parts = vec![line_parts.concat()]; // no text columns: one part
        }
        let lines: Vec<Int64Array> = line_parts
            .into_iter()
            .map(|p| Int64Array::new(p.into(), None))
            .collect();
        let sources = repeated(source_name, longest, source_name)?;
        let ingested_at = TimestampMicrosecondArray::from_iter_values(std::iter::repeat_n(
            ingested_at_us,
            longest,
        ))
        .with_timezone("UTC");
        // Each part's batch, and its refused values per column (rows within the part).
        let built = parallel_map(pieces, |p| {
            let (start, end) = bounds[p];
            let len = end - start;
            let mut bad = vec![false; len];
            let mut refusals = Vec::with_capacity(texts.len());
            let mut arrays: Vec<ArrayRef> = Vec::with_capacity(texts.len() + 3);
            for (c, text) in texts.iter().enumerate() {
                let mut refused = Vec::new();
                let part = text.as_ref().map(|parts| {
                    let part = parts[p].lock().expect("not poisoned").take();
                    part.expect("each part is built once")
                });
                let array = match (part, kinds[c]) {
                    (None, kind) => new_null_array(&kind.data_type(), len),
                    (Some(part), kind @ (Kind::Float | Kind::Int)) => {
                        let numbers = numbers[c * pieces + p].lock().expect("not poisoned").take();
                        let numbers = numbers.expect("numbers are parsed for numeric columns");
                        numbers.array(kind, &part, &bad, &mut refused)
                    }
                    (Some(part), Kind::Str) => Arc::new(part) as ArrayRef,
                    (Some(part), kind) => other_kind(kind, &part, &bad, &mut refused),
                };
                for &(row, _) in &refused {
                    bad[row] = true;
                }
                refusals.push(refused);
                arrays.push(array);
            }
            arrays.push(Arc::new(sources.slice(0, len)));
            arrays.push(Arc::new(lines[p].clone()));
            arrays.push(Arc::new(ingested_at.slice(0, len)));
            let arrow_err = |source| crate::Error::Arrow {
                source_name: source_name.to_string(),
                source,
            };
            let mut batch = RecordBatch::try_new(schema.clone(), arrays).map_err(arrow_err)?;
            if bad.contains(&true) {
                let keep = BooleanArray::from_iter(bad.iter().map(|b| Some(!b)));
                batch = filter_record_batch(&batch, &keep).map_err(arrow_err)?;
            }
            Ok((batch, refusals))
        });
        let built = built.into_iter().collect::<Result<Vec<_>>>()?;
        // Rejects in column order, then row order: a row is reported at the first column
        // that refuses it.
        let mut rejects = Vec::new();
        for (c, name) in self.names.iter().enumerate() {
            for (p, (_, refusals)) in built.iter().enumerate() {
                for (row, reason) in &refusals[c] {
                    rejects.push(Reject {
                        line: lines[p].value(*row) as u64,
                        column: Some(name.clone()),
                        reason: reason.clone(),
                        raw: String::new(),
                    });
                }
            }
        }
        let mut batches = Vec::with_capacity(n.div_ceil(BATCH_ROWS) + pieces);
        let mut empty = None;
        for (batch, _) in built {
            let rows = batch.num_rows();
            if rows == 0 {
                empty.get_or_insert(batch);
                continue;
            }
            let mut offset = 0;
            while offset < rows {
                let len = BATCH_ROWS.min(rows - offset);
                batches.push(batch.slice(offset, len));
                offset += len;
            }
        }
        if batches.is_empty() {
            batches.extend(empty);
        }
        Ok((batches, rejects))
    }
}

/// Whether `f` is a finite whole number (without a call to `trunc` for the common sizes).
fn is_whole(f: f64) -> bool {
    if f.abs() < 9.2e18 {
        (f as i64) as f64 == f
    } else {
        f.is_finite() && f.fract() == 0.0
    }
}

/// `value` on each of `rows` rows, its buffers allocated once at their final size (a
/// growing builder would copy and page-fault its way through hundreds of MiB per batch).
fn repeated(value: &str, rows: usize, source_name: &str) -> Result<StringArray> {
    let too_large = || crate::Error::Arrow {
        source_name: source_name.to_string(),
        source: datafusion::arrow::error::ArrowError::ComputeError(format!(
            "{rows} copies of a {}-byte value do not fit in one string array",
            value.len()
        )),
    };
    let total = value.len().checked_mul(rows).ok_or_else(too_large)?;
    let width = i32::try_from(value.len()).map_err(|_| too_large())?;
    i32::try_from(total).map_err(|_| too_large())?;
    let n = i32::try_from(rows).map_err(|_| too_large())?;
    let offsets = OffsetBuffer::new(ScalarBuffer::from_iter((0..=n).map(|i| i * width)));
    let values = Buffer::from_vec(value.repeat(rows).into_bytes());
    StringArray::try_new(offsets, values, None).map_err(|source| crate::Error::Arrow {
        source_name: source_name.to_string(),
        source,
    })
}

/// `f(0..n)` on up to as many threads as there are cores, results in order.
pub(crate) fn parallel_map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(n);
    if threads <= 1 {
        return (0..n).map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, T)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= n {
                            return mine;
                        }
                        mine.push((i, f(i)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a typing thread does not panic"))
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, t)| t).collect()
}

/// A text column parsed as numbers, once.
struct Numbers {
    values: Vec<f64>,
    /// Per row: NULL text, a number, or not a number.
    state: Vec<u8>,
    numbers: usize,
    others: usize,
    fractional: bool,
}

const NULL: u8 = 0;
const NUMBER: u8 = 1;
const NOT_A_NUMBER: u8 = 2;
/// Written as a number, but finite and beyond a double's range: refused.
const OUT_OF_RANGE: u8 = 3;

impl Numbers {
    fn parse(text: &StringArray) -> Self {
        let mut out = Numbers {
            values: vec![0.0; text.len()],
            state: vec![NULL; text.len()],
            numbers: 0,
            others: 0,
            fractional: false,
        };
        for (i, v) in text.iter().enumerate() {
            let Some(v) = v else { continue };
            match parse_number(v) {
                Ok(Some(f)) => {
                    out.values[i] = f;
                    out.state[i] = NUMBER;
                    out.numbers += 1;
                    if !out.fractional {
                        out.fractional = !is_whole(f);
                    }
                }
                Ok(None) => {}
                // A number for the column's type, refused when the column is built.
                Err(NotANumber::OutOfRange) => {
                    out.state[i] = OUT_OF_RANGE;
                    out.numbers += 1;
                }
                Err(NotANumber::Text) => {
                    out.state[i] = NOT_A_NUMBER;
                    out.others += 1;
                }
            }
        }
        out
    }

    /// The column as `kind` (Float or Int); values that do not fit are rejected.
    fn array(
        self,
        kind: Kind,
        text: &StringArray,
        bad: &[bool],
        refused: &mut Vec<(usize, String)>,
    ) -> ArrayRef {
        let fits = |state: u8, f: f64| match (state, kind) {
            (NUMBER, Kind::Float) => true,
            (NUMBER, _) => f.abs() < 9.2e18 && is_whole(f),
            _ => false,
        };
        // One pass: the validity as a bitmap straight away (no column of booleans), and
        // the refusals as they are met.
        let what = if kind == Kind::Float {
            "a number"
        } else {
            "a whole number"
        };
        let valid = BooleanBuffer::collect_bool(self.state.len(), |i| {
            let (state, f) = (self.state[i], self.values[i]);
            if bad[i] || state == NULL {
                return false;
            }
            let ok = fits(state, f);
            if state == OUT_OF_RANGE {
                refused.push((i, NotANumber::OutOfRange.describe(text.value(i))));
            } else if !ok {
                refused.push((i, format!("not {what}: '{}'", clip(text.value(i)))));
            }
            ok
        });
        let nulls = Some(NullBuffer::new(valid)).filter(|n| n.null_count() > 0);
        if kind == Kind::Int {
            // The integers as written: a double holds them exactly only up to 2^53, so
            // larger ones (64-bit seeds, nanosecond timestamps) are parsed again as
            // integers.
            let ints: Vec<i64> = self
                .values
                .into_iter()
                .enumerate()
                .map(|(i, f)| {
                    if f.abs() < 9.007_199_254_740_992e15 {
                        f as i64
                    } else {
                        text.value(i).trim().parse::<i64>().unwrap_or(f as i64)
                    }
                })
                .collect();
            Arc::new(Int64Array::new(ints.into(), nulls))
        } else {
            Arc::new(Float64Array::new(self.values.into(), nulls))
        }
    }
}

/// A text column as a boolean, timestamp or list column, value by value.
fn other_kind(
    kind: Kind,
    text: &StringArray,
    bad: &[bool],
    refused: &mut Vec<(usize, String)>,
) -> ArrayRef {
    let cells: Vec<Cell> = text
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Some(v) if !bad[i] => match convert(Cell::Str(v.to_string()), kind) {
                Ok(cell) => cell,
                Err(reason) => {
                    refused.push((i, reason));
                    Cell::Null
                }
            },
            _ => Cell::Null,
        })
        .collect();
    build(kind, cells.iter())
}

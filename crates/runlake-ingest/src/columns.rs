//! Delimited text kept column by column: each field goes straight into its column's
//! Arrow string buffer (no per-cell allocation), and typing parses each column once.
//! The rules are those of [`crate::table::TableRows`]: declared kinds first, then the
//! existing table's types, then inference; a value that does not fit makes its row a bad
//! row, reported at the first column (in column order) that refuses it.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    StringBuilder, TimestampMicrosecondArray, new_null_array,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, Schema};

use crate::table::{
    INGESTED_AT, Kind, LINE, SOURCE, build, clip, convert, numeric_kind, timestamp_type,
};
use crate::value::{Cell, is_null_text, parse_number};
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
    /// The 1-based source line of each row.
    lines: Vec<u64>,
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
    fn text() -> Self {
        Column::Text {
            parts: Vec::new(),
            builder: StringBuilder::new(),
        }
    }

    /// The whole column as text; `source_name` names the file in an error (a column of
    /// more than 2 GiB of text does not fit one string array).
    fn into_text(self, rows: usize, source_name: &str) -> Result<StringArray> {
        Ok(match self {
            Column::Text {
                mut parts,
                mut builder,
            } => {
                parts.push(builder.finish());
                if parts.len() == 1 {
                    parts.pop().expect("one part")
                } else {
                    let refs: Vec<&dyn Array> = parts.iter().map(|p| p as &dyn Array).collect();
                    let all = datafusion::arrow::compute::concat(&refs).map_err(|e| {
                        crate::Error::Arrow {
                            source_name: source_name.to_string(),
                            source: e,
                        }
                    })?;
                    all.as_string::<i32>().clone()
                }
            }
            Column::Null => StringArray::new_null(rows),
            Column::Constant(v) => StringArray::from_iter_values(std::iter::repeat_n(v, rows)),
        })
    }
}

impl TextColumns {
    pub fn new(table: impl Into<String>, names: &[String]) -> Self {
        Self {
            table: table.into(),
            names: names.to_vec(),
            columns: names.iter().map(|_| Column::text()).collect(),
            declared: HashMap::new(),
            lines: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
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
        self.lines.push(line);
    }

    /// Appends the rows of `other`, read from a later part of the same text.
    pub fn append(&mut self, other: TextColumns) {
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
        self.lines.extend(other.lines);
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
    /// out the bad rows, which are returned as rejects.
    pub fn finish(
        self,
        known: Option<&Schema>,
        source_name: &str,
        ingested_at_us: i64,
    ) -> Result<(Vec<RecordBatch>, Vec<Reject>)> {
        let n = self.lines.len();
        let arrow_err = |e| crate::Error::Arrow {
            source_name: source_name.to_string(),
            source: e,
        };
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
        let texts = self
            .columns
            .into_iter()
            .map(|c| match c {
                Column::Null => Ok(None),
                c => c.into_text(n, source_name).map(Some),
            })
            .collect::<Result<Vec<_>>>()?;
        // Parsing numbers is most of the typing work: one column per thread.
        let numbers = parallel_map(texts.len(), |c| match (&texts[c], fixed[c]) {
            (Some(text), None | Some(Kind::Float | Kind::Int)) => Some(Numbers::parse(text)),
            _ => None,
        });
        let mut bad = vec![false; n];
        let mut rejects = Vec::new();
        let mut fields = Vec::with_capacity(self.names.len() + 3);
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.names.len() + 3);
        for (c, (text, numbers)) in texts.into_iter().zip(numbers).enumerate() {
            let name = &self.names[c];
            let mut refused = Vec::new();
            let (kind, array) = match (text, fixed[c], numbers) {
                (None, kind, _) => {
                    let kind = kind.unwrap_or(Kind::Str);
                    (kind, new_null_array(&kind.data_type(), n))
                }
                (Some(text), Some(Kind::Str | Kind::Json), _) => {
                    (Kind::Str, Arc::new(text) as ArrayRef)
                }
                (Some(text), Some(kind @ (Kind::Float | Kind::Int)), Some(numbers)) => {
                    (kind, numbers.array(kind, &text, &bad, &mut refused))
                }
                (Some(text), Some(kind), _) => (kind, other_kind(kind, &text, &bad, &mut refused)),
                (Some(text), None, Some(numbers)) => {
                    match numeric_kind(name, numbers.numbers, numbers.others, numbers.fractional) {
                        Some(kind) => (kind, numbers.array(kind, &text, &bad, &mut refused)),
                        None => (Kind::Str, Arc::new(text) as ArrayRef),
                    }
                }
                (Some(text), None, None) => (Kind::Str, Arc::new(text) as ArrayRef),
            };
            for (row, reason) in refused {
                bad[row] = true;
                rejects.push(Reject {
                    line: self.lines[row],
                    column: Some(name.clone()),
                    reason,
                    raw: String::new(),
                });
            }
            fields.push(Field::new(name, kind.data_type(), true));
            arrays.push(array);
        }
        fields.push(Field::new(SOURCE, DataType::Utf8, true));
        fields.push(Field::new(LINE, DataType::Int64, true));
        fields.push(Field::new(INGESTED_AT, timestamp_type(), true));
        let schema = Arc::new(Schema::new(fields));
        let keep = BooleanArray::from_iter(bad.iter().map(|b| Some(!b)));
        let mut batches = Vec::with_capacity(n.div_ceil(BATCH_ROWS));
        let mut start = 0;
        while start < n || (n == 0 && batches.is_empty()) {
            let len = BATCH_ROWS.min(n - start);
            let mut columns: Vec<ArrayRef> = arrays.iter().map(|a| a.slice(start, len)).collect();
            columns.push(Arc::new(StringArray::from_iter_values(
                std::iter::repeat_n(source_name, len),
            )));
            columns.push(Arc::new(Int64Array::from_iter_values(
                self.lines[start..start + len].iter().map(|&l| l as i64),
            )));
            columns.push(Arc::new(
                TimestampMicrosecondArray::from_iter_values(std::iter::repeat_n(
                    ingested_at_us,
                    len,
                ))
                .with_timezone("UTC"),
            ));
            let batch = RecordBatch::try_new(schema.clone(), columns).map_err(arrow_err)?;
            let batch = if rejects.is_empty() {
                batch
            } else {
                filter_record_batch(&batch, &keep.slice(start, len)).map_err(arrow_err)?
            };
            batches.push(batch);
            start += len;
        }
        Ok((batches, rejects))
    }
}

/// `f(0..n)` on up to as many threads as there are cores, results in order.
fn parallel_map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
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
                    out.fractional |= f.fract() != 0.0 || !f.is_finite();
                }
                Ok(None) => {}
                Err(_) => {
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
        let mut valid = vec![false; self.values.len()];
        let mut ints = if kind == Kind::Int {
            vec![0i64; self.values.len()]
        } else {
            Vec::new()
        };
        for (i, &state) in self.state.iter().enumerate() {
            if bad[i] {
                continue;
            }
            let f = self.values[i];
            match (state, kind) {
                (NULL, _) => {}
                (NUMBER, Kind::Float) => valid[i] = true,
                (NUMBER, _) if f.fract() == 0.0 && f.abs() < 9.2e18 => {
                    ints[i] = f as i64;
                    valid[i] = true;
                }
                (_, Kind::Float) => {
                    refused.push((i, format!("not a number: '{}'", clip(text.value(i)))));
                }
                _ => refused.push((i, format!("not a whole number: '{}'", clip(text.value(i))))),
            }
        }
        let nulls = Some(NullBuffer::from(valid));
        if kind == Kind::Int {
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

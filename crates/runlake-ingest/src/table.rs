//! Rows of cells -> one Arrow record batch per table: declared (canonical) column types
//! first, then the target table's existing types, then inference; provenance columns
//! (`_source`, `_line`, `_ingested_at`) appended.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, RecordBatch,
    StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::names::is_count_column;
use crate::value::{Cell, NotANumber, parse_number};
use crate::{Reject, Result};

/// The Arrow type a column is built as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Float,
    Int,
    Bool,
    Str,
    Ts,
    FloatList,
    IntList,
    /// JSON text, stored as `Utf8`.
    Json,
}

impl Kind {
    pub fn data_type(self) -> DataType {
        match self {
            Kind::Float => DataType::Float64,
            Kind::Int => DataType::Int64,
            Kind::Bool => DataType::Boolean,
            Kind::Str | Kind::Json => DataType::Utf8,
            Kind::Ts => timestamp_type(),
            Kind::FloatList => {
                DataType::List(Arc::new(Field::new("item", DataType::Float64, true)))
            }
            Kind::IntList => DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
        }
    }

    /// The kind that builds `dt`, if one does.
    pub fn of(dt: &DataType) -> Option<Kind> {
        Some(match dt {
            DataType::Float64 | DataType::Float32 | DataType::Float16 => Kind::Float,
            DataType::Int64 | DataType::Int32 | DataType::Int16 | DataType::Int8 => Kind::Int,
            DataType::UInt64 | DataType::UInt32 | DataType::UInt16 | DataType::UInt8 => Kind::Int,
            DataType::Boolean => Kind::Bool,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Kind::Str,
            DataType::Timestamp(_, _) => Kind::Ts,
            DataType::List(f) | DataType::LargeList(f) => match f.data_type() {
                DataType::Int64 | DataType::Int32 => Kind::IntList,
                _ => Kind::FloatList,
            },
            _ => return None,
        })
    }
}

/// Timestamps are stored as microseconds, UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The provenance columns every lake row carries.
pub const SOURCE: &str = "_source";
pub const LINE: &str = "_line";
pub const INGESTED_AT: &str = "_ingested_at";

/// Rows for one target table, built up record by record.
#[derive(Debug)]
pub struct TableRows {
    pub table: String,
    columns: Vec<String>,
    index: HashMap<String, usize>,
    declared: HashMap<String, Kind>,
    rows: Vec<(u64, Vec<Cell>)>,
}

impl TableRows {
    /// A table whose `declared` columns come first, in that order, with those types.
    pub fn new(table: impl Into<String>, declared: &[(&str, Kind)]) -> Self {
        let mut t = Self {
            table: table.into(),
            columns: Vec::new(),
            index: HashMap::new(),
            declared: HashMap::new(),
            rows: Vec::new(),
        };
        for (name, kind) in declared {
            t.column(name);
            t.declared.insert((*name).to_string(), *kind);
        }
        t
    }

    /// Declares one more column's type (e.g. a `--set` column).
    pub fn declare(&mut self, name: &str, kind: Kind) {
        self.column(name);
        self.declared.insert(name.to_string(), kind);
    }

    pub fn has_column(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Adds a column (in order) without declaring its type.
    pub fn push_column(&mut self, name: &str) {
        self.column(name);
    }

    fn column(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.columns.push(name.to_string());
        self.index.insert(name.to_string(), self.columns.len() - 1);
        self.columns.len() - 1
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Adds a record from `line` of the source (1-based).
    /// Whether any row holds a measurement: a number, time or list outside the columns
    /// a reader fills by itself (indexes and counts of rows), or an error text. A tool
    /// reader whose rows hold none found none of the fields that define its format.
    pub fn any_measured(&self) -> bool {
        const COUNTED: &[&str] = &["request_index", "num_requests", "completed", "failed"];
        let measured: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| !COUNTED.contains(&c.as_str()))
            .map(|(i, _)| i)
            .collect();
        let error = self.index.get("error").copied();
        self.rows.iter().any(|(_, row)| {
            measured.iter().any(|&i| {
                matches!(
                    row.get(i),
                    Some(
                        Cell::Float(_)
                            | Cell::Int(_)
                            | Cell::Ts(_)
                            | Cell::FloatList(_)
                            | Cell::IntList(_)
                    )
                ) || (Some(i) == error && row.get(i).is_some_and(|c| !c.is_null()))
            })
        })
    }

    pub fn push(&mut self, line: u64, cells: Vec<(String, Cell)>) {
        let mut row = vec![Cell::Null; self.columns.len()];
        for (name, cell) in cells {
            let i = self.column(&name);
            if i >= row.len() {
                row.resize(i + 1, Cell::Null);
            }
            row[i] = cell;
        }
        self.rows.push((line, row));
        crate::progress::rows_read(1);
    }

    /// Sets `name` to `value` on every row (the `--set` tags), overriding what the file
    /// said.
    pub fn set_all(&mut self, name: &str, value: &Cell) {
        let i = self.column(name);
        for (_, row) in &mut self.rows {
            if i >= row.len() {
                row.resize(i + 1, Cell::Null);
            }
            row[i] = value.clone();
        }
    }

    /// Builds the batch. Each column's type is its declared kind, else the kind of the
    /// existing table's column (`known`), else inferred from the values (numbers are
    /// `DOUBLE`, counts `BIGINT`). A value that does not fit its column's type makes its
    /// row a bad row: the row is left out and reported in the returned rejects.
    pub fn finish(
        self,
        known: Option<&Schema>,
        source_name: &str,
        ingested_at_us: i64,
    ) -> Result<(RecordBatch, Vec<Reject>)> {
        let ncols = self.columns.len();
        let kinds: Vec<Kind> = (0..ncols)
            .map(|c| {
                let name = &self.columns[c];
                if let Some(k) = self.declared.get(name) {
                    return *k;
                }
                if let Some(k) = known
                    .and_then(|s| s.field_with_name(name).ok())
                    .and_then(|f| Kind::of(f.data_type()))
                {
                    return k;
                }
                infer(name, self.rows.iter().filter_map(|(_, r)| r.get(c)))
            })
            .collect();

        // Convert every cell; a failure rejects the row.
        let mut rejects = Vec::new();
        let mut good: Vec<(u64, Vec<Cell>)> = Vec::with_capacity(self.rows.len());
        'rows: for (line, mut row) in self.rows {
            row.resize(ncols, Cell::Null);
            for (c, cell) in row.iter_mut().enumerate() {
                match convert(std::mem::replace(cell, Cell::Null), kinds[c]) {
                    Ok(v) => *cell = v,
                    Err(reason) => {
                        rejects.push(Reject {
                            line,
                            column: Some(self.columns[c].clone()),
                            reason,
                            raw: String::new(),
                        });
                        continue 'rows;
                    }
                }
            }
            good.push((line, row));
        }

        let mut fields: Vec<Field> = Vec::with_capacity(ncols + 3);
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(ncols + 3);
        for (c, name) in self.columns.iter().enumerate() {
            fields.push(Field::new(name, kinds[c].data_type(), true));
            arrays.push(build(kinds[c], good.iter().map(|(_, r)| &r[c])));
        }
        let mut source = StringBuilder::new();
        let mut lines = Int64Builder::new();
        let mut at = TimestampMicrosecondBuilder::new().with_timezone("UTC");
        for (line, _) in &good {
            source.append_value(source_name);
            lines.append_value(*line as i64);
            at.append_value(ingested_at_us);
        }
        fields.push(Field::new(SOURCE, DataType::Utf8, true));
        arrays.push(Arc::new(source.finish()));
        fields.push(Field::new(LINE, DataType::Int64, true));
        arrays.push(Arc::new(lines.finish()));
        fields.push(Field::new(INGESTED_AT, timestamp_type(), true));
        arrays.push(Arc::new(at.finish()));
        let schema: SchemaRef = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(schema, arrays).map_err(|e| crate::Error::Arrow {
            source_name: source_name.to_string(),
            source: e,
        })?;
        Ok((batch, rejects))
    }
}

/// The kind most of a column's values have.
fn infer<'a>(name: &str, cells: impl Iterator<Item = &'a Cell>) -> Kind {
    let (mut ints, mut floats, mut fractional, mut bools, mut strs, mut numeric_strs) =
        (0usize, 0usize, false, 0usize, 0usize, 0usize);
    let (mut ts, mut flists, mut ilists, mut json) = (0usize, 0usize, 0usize, 0usize);
    let mut list_fractional = false;
    for cell in cells {
        match cell {
            Cell::Null => {}
            Cell::Int(_) => ints += 1,
            Cell::Float(f) => {
                floats += 1;
                fractional |= f.fract() != 0.0 || !f.is_finite();
            }
            Cell::Bool(_) => bools += 1,
            Cell::Str(s) => {
                strs += 1;
                if let Ok(Some(f)) = parse_number(s) {
                    numeric_strs += 1;
                    fractional |= f.fract() != 0.0 || !f.is_finite();
                }
            }
            Cell::Ts(_) => ts += 1,
            Cell::FloatList(v) => {
                flists += 1;
                list_fractional |= v.iter().flatten().any(|f| f.fract() != 0.0);
            }
            Cell::IntList(_) => ilists += 1,
            Cell::Json(_) => json += 1,
        }
    }
    let numbers = ints + floats + numeric_strs;
    if bools == 0
        && json == 0
        && let Some(kind) = numeric_kind(name, numbers, strs - numeric_strs, fractional)
    {
        return kind;
    }
    let counts = [
        (strs, Kind::Str),
        (bools, Kind::Bool),
        (ts, Kind::Ts),
        (flists + ilists, Kind::FloatList),
        (json, Kind::Json),
    ];
    let best = counts.iter().max_by_key(|(n, _)| *n).map(|(n, k)| (*n, *k));
    match best {
        Some((0, _)) | None => Kind::Str,
        Some((_, Kind::FloatList)) => {
            if is_count_column(name) && !list_fractional && (ilists > 0 || flists > 0) {
                Kind::IntList
            } else {
                Kind::FloatList
            }
        }
        Some((_, Kind::Str)) if json > 0 => Kind::Json,
        Some((_, k)) => k,
    }
}

/// The numeric kind of a column holding `numbers` numbers (`fractional` when one has a
/// fraction) and `others` texts that are not numbers, if it is numeric: numbers must
/// dominate, and the odd non-number is then a bad row. Counts are whole numbers.
pub(crate) fn numeric_kind(
    name: &str,
    numbers: usize,
    others: usize,
    fractional: bool,
) -> Option<Kind> {
    if numbers == 0 || others * 20 > numbers {
        return None;
    }
    Some(if is_count_column(name) && !fractional {
        Kind::Int
    } else {
        Kind::Float
    })
}

/// Converts a cell to `kind`, or says why it cannot be.
pub(crate) fn convert(cell: Cell, kind: Kind) -> Result<Cell, String> {
    use Cell as C;
    Ok(match (kind, cell) {
        (_, C::Null) => C::Null,
        (Kind::Float, C::Float(f)) => C::Float(f),
        (Kind::Float, C::Int(i)) => C::Float(i as f64),
        (Kind::Float, C::Str(s)) => match parse_number(&s) {
            Ok(v) => Cell::from(v),
            Err(e) => return Err(e.describe(&s)),
        },
        (Kind::Int, C::Int(i)) => C::Int(i),
        (Kind::Int, C::Float(f)) if f.fract() == 0.0 && f.abs() < 9.2e18 => C::Int(f as i64),
        (Kind::Int, C::Float(f)) => return Err(format!("not a whole number: {f}")),
        (Kind::Int, C::Str(s)) => match parse_number(&s) {
            Ok(None) => C::Null,
            // Exactly as written, beyond 2^53 too.
            Ok(Some(_)) if s.trim().parse::<i64>().is_ok() => {
                C::Int(s.trim().parse::<i64>().unwrap_or_default())
            }
            Err(NotANumber::OutOfRange) => return Err(NotANumber::OutOfRange.describe(&s)),
            Ok(Some(f)) if f.fract() == 0.0 && f.abs() < 9.2e18 => C::Int(f as i64),
            _ => return Err(format!("not a whole number: '{}'", clip(&s))),
        },
        (Kind::Bool, C::Bool(b)) => C::Bool(b),
        (Kind::Bool, C::Str(s)) => {
            match crate::value::as_bool(&serde_json::Value::String(s.clone())) {
                Some(b) => C::Bool(b),
                None if crate::value::is_null_text(&s) => C::Null,
                None => return Err(format!("not a boolean: '{}'", clip(&s))),
            }
        }
        (Kind::Bool, C::Int(i)) => C::Bool(i != 0),
        (Kind::Str, C::Str(s)) => C::Str(s),
        (Kind::Str | Kind::Json, C::Json(s)) => C::Str(s),
        (Kind::Json, C::Str(s)) => C::Str(s),
        (Kind::Str | Kind::Json, C::Int(i)) => C::Str(i.to_string()),
        (Kind::Str | Kind::Json, C::Float(f)) => C::Str(f.to_string()),
        (Kind::Str | Kind::Json, C::Bool(b)) => C::Str(b.to_string()),
        (Kind::Str | Kind::Json, C::FloatList(v)) => C::Str(list_text(&v)),
        (Kind::Str | Kind::Json, C::IntList(v)) => C::Str(list_text(&v)),
        (Kind::Ts, C::Ts(t)) => C::Ts(t),
        (Kind::Ts, C::Str(s)) => match parse_timestamp_us(&s, 0) {
            Some(t) => C::Ts(t),
            None if crate::value::is_null_text(&s) => C::Null,
            None => return Err(format!("not a timestamp: '{}'", clip(&s))),
        },
        (Kind::Ts, C::Float(f)) => C::Ts((f * 1e6).round() as i64),
        (Kind::Ts, C::Int(i)) => C::Ts(i.saturating_mul(1_000_000)),
        (Kind::FloatList, C::FloatList(v)) => C::FloatList(v),
        (Kind::FloatList, C::IntList(v)) => {
            C::FloatList(v.into_iter().map(|i| i.map(|i| i as f64)).collect())
        }
        (Kind::IntList, C::IntList(v)) => C::IntList(v),
        (Kind::IntList, C::FloatList(v)) => {
            let mut out = Vec::with_capacity(v.len());
            for f in v {
                match f {
                    None => out.push(None),
                    Some(f) if f.fract() == 0.0 => out.push(Some(f as i64)),
                    Some(f) => {
                        return Err(format!(
                            "list holds a fraction ({f}) where whole numbers belong"
                        ));
                    }
                }
            }
            C::IntList(out)
        }
        (Kind::FloatList | Kind::IntList, C::Str(s))
        | (Kind::FloatList | Kind::IntList, C::Json(s)) => {
            let parsed =
                crate::value::parse_json(&s).map_err(|_| format!("not a list: '{}'", clip(&s)))?;
            let serde_json::Value::Array(items) = parsed else {
                return Err(format!("not a list: '{}'", clip(&s)));
            };
            let values: Vec<Option<f64>> = items.iter().map(crate::value::as_f64).collect();
            convert(C::FloatList(values), kind)?
        }
        (kind, other) => {
            return Err(format!(
                "{} where {} belongs",
                describe(&other),
                describe_kind(kind)
            ));
        }
    })
}

fn list_text<T: std::fmt::Display>(v: &[Option<T>]) -> String {
    let items: Vec<String> = v
        .iter()
        .map(|x| x.as_ref().map_or("null".to_string(), |x| x.to_string()))
        .collect();
    format!("[{}]", items.join(", "))
}

fn describe(cell: &Cell) -> &'static str {
    match cell {
        Cell::Null => "null",
        Cell::Float(_) | Cell::Int(_) => "a number",
        Cell::Bool(_) => "a boolean",
        Cell::Str(_) => "text",
        Cell::Ts(_) => "a timestamp",
        Cell::FloatList(_) | Cell::IntList(_) => "a list",
        Cell::Json(_) => "a JSON object",
    }
}

fn describe_kind(kind: Kind) -> &'static str {
    match kind {
        Kind::Float => "a number (DOUBLE)",
        Kind::Int => "a whole number (BIGINT)",
        Kind::Bool => "a boolean",
        Kind::Str | Kind::Json => "text",
        Kind::Ts => "a timestamp",
        Kind::FloatList | Kind::IntList => "a list of numbers",
    }
}

pub(crate) fn clip(s: &str) -> String {
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(60).collect::<String>())
    } else {
        s.to_string()
    }
}

pub(crate) fn build<'a>(kind: Kind, cells: impl Iterator<Item = &'a Cell>) -> ArrayRef {
    match kind {
        Kind::Float => {
            let mut b = Float64Builder::new();
            for c in cells {
                b.append_option(if let Cell::Float(f) = c {
                    Some(*f)
                } else {
                    None
                });
            }
            Arc::new(b.finish())
        }
        Kind::Int => {
            let mut b = Int64Builder::new();
            for c in cells {
                b.append_option(if let Cell::Int(i) = c { Some(*i) } else { None });
            }
            Arc::new(b.finish())
        }
        Kind::Bool => {
            let mut b = BooleanBuilder::new();
            for c in cells {
                b.append_option(if let Cell::Bool(v) = c {
                    Some(*v)
                } else {
                    None
                });
            }
            Arc::new(b.finish())
        }
        Kind::Str | Kind::Json => {
            let mut b = StringBuilder::new();
            for c in cells {
                match c {
                    Cell::Str(s) | Cell::Json(s) => b.append_value(s),
                    _ => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        Kind::Ts => {
            let mut b = TimestampMicrosecondBuilder::new().with_timezone("UTC");
            for c in cells {
                b.append_option(if let Cell::Ts(t) = c { Some(*t) } else { None });
            }
            Arc::new(b.finish())
        }
        Kind::FloatList => {
            let mut b = ListBuilder::new(Float64Builder::new());
            for c in cells {
                match c {
                    Cell::FloatList(v) => {
                        b.values().extend(v.iter().copied());
                        b.append(true);
                    }
                    _ => b.append(false),
                }
            }
            Arc::new(b.finish())
        }
        Kind::IntList => {
            let mut b = ListBuilder::new(Int64Builder::new());
            for c in cells {
                match c {
                    Cell::IntList(v) => {
                        b.values().extend(v.iter().copied());
                        b.append(true);
                    }
                    _ => b.append(false),
                }
            }
            Arc::new(b.finish())
        }
    }
}

/// Parses an ISO-8601 / RFC 3339 timestamp (`2025-04-24T11:58:50Z`, `2025-06-01
/// 12:00:00.5`, `2025-06-01`) to microseconds UTC. A time without a zone is taken to be at
/// `offset_s` seconds east of UTC.
pub fn parse_timestamp_us(s: &str, offset_s: i32) -> Option<i64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let t = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.timestamp_micros());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y%m%d-%H%M%S",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, fmt) {
            return Some(n.and_utc().timestamp_micros() - i64::from(offset_s) * 1_000_000);
        }
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(dt) = DateTime::parse_from_str(t, fmt) {
            return Some(dt.timestamp_micros());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Some(
            d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros() - i64::from(offset_s) * 1_000_000,
        );
    }
    None
}

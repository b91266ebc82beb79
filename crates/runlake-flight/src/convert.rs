//! What crosses the Flight boundary: one normalised schema for both the FlightInfo and
//! the stream, `?` placeholders numbered, parameters taken from Arrow rows.
//!
//! Type policy (documented in the README): view types become their plain types
//! (`Utf8View` -> `Utf8`, `BinaryView` -> `Binary`, also inside lists and structs),
//! dictionaries become their values, timestamps become nanoseconds with their time zone
//! kept (lake columns are UTC), and every field is nullable, so the advertised schema and
//! the streamed one are identical whatever the plan's statistics say.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, new_null_array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Field, FieldRef, Fields, Schema, SchemaRef, TimeUnit,
};
use datafusion::common::{ScalarValue, metadata::ScalarAndMetadata};
use datafusion::logical_expr::LogicalPlan;

use crate::error::{Error, Result};

/// The type a column has on the wire.
pub fn wire_type(dt: &DataType) -> DataType {
    match dt {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        DataType::Dictionary(_, value) => wire_type(value),
        DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Nanosecond, tz.clone()),
        DataType::List(f) => DataType::List(wire_field(f)),
        DataType::ListView(f) => DataType::List(wire_field(f)),
        DataType::LargeList(f) => DataType::LargeList(wire_field(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(wire_field(f), *n),
        DataType::Struct(fields) => {
            DataType::Struct(fields.iter().map(wire_field).collect::<Fields>())
        }
        other => other.clone(),
    }
}

fn wire_field(f: &FieldRef) -> FieldRef {
    Arc::new(Field::new(f.name(), wire_type(f.data_type()), true))
}

/// The schema a query's results have on the wire.
pub fn wire_schema(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema.fields().iter().map(wire_field).collect::<Fields>(),
    ))
}

/// A result batch in the wire schema.
pub fn to_wire(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| {
            if column.data_type() == field.data_type() {
                Ok(column.clone())
            } else if column.null_count() == column.len() {
                // All NULL (a column the source never had): nothing to convert value by
                // value.
                Ok(new_null_array(field.data_type(), column.len()))
            } else {
                cast(column, field.data_type())
            }
        })
        .collect::<std::result::Result<_, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Numbers the `?` placeholders of `sql` as `$1..$n` (outside strings, quoted names and
/// comments), as JDBC and ADBC send them; DataFusion would give every `?` the same id.
pub fn number_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut n = 0;
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                // Doubled quotes stay inside the literal.
                while let Some(d) = chars.next() {
                    out.push(d);
                    if d == c {
                        if chars.peek() == Some(&c) {
                            out.push(chars.next().expect("peeked"));
                        } else {
                            break;
                        }
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                out.push(c);
                out.push(chars.next().expect("peeked"));
                let mut prev = ' ';
                for d in chars.by_ref() {
                    out.push(d);
                    if prev == '*' && d == '/' {
                        break;
                    }
                    prev = d;
                }
            }
            '?' => {
                n += 1;
                out.push_str(&format!("${n}"));
            }
            _ => out.push(c),
        }
    }
    out
}

/// The types DataFusion planned for `$1..$n`, in order (`None` where it inferred none).
fn planned_parameter_types(plan: &LogicalPlan) -> Result<Vec<Option<DataType>>> {
    let types = plan.get_parameter_types()?;
    let mut ids: Vec<(usize, Option<DataType>)> = types
        .into_iter()
        .filter_map(|(id, t)| id.strip_prefix('$')?.parse::<usize>().ok().map(|i| (i, t)))
        .collect();
    ids.sort_by_key(|(i, _)| *i);
    Ok(ids.into_iter().map(|(_, t)| t).collect())
}

/// The parameters of `plan` as a schema (`$1`, `$2`, ... in order; type `Null` where
/// DataFusion could not infer one).
pub fn parameter_schema(plan: &LogicalPlan) -> Result<SchemaRef> {
    Ok(Arc::new(Schema::new(
        planned_parameter_types(plan)?
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                Field::new(
                    format!("${}", i + 1),
                    t.map_or(DataType::Null, |t| wire_type(&t)),
                    true,
                )
            })
            .collect::<Vec<_>>(),
    )))
}

/// Row `row` of a parameter batch as the values of `$1..$n`, each cast to the type the
/// plan expects where it has one.
pub fn row_parameters(
    plan: &LogicalPlan,
    batch: &RecordBatch,
    row: usize,
) -> Result<Vec<ScalarAndMetadata>> {
    let expected = planned_parameter_types(plan)?;
    if batch.num_columns() != expected.len() {
        return Err(Error::InvalidArgument(format!(
            "the statement has {} parameter(s) but {} value(s) were bound",
            expected.len(),
            batch.num_columns()
        )));
    }
    batch
        .columns()
        .iter()
        .zip(&expected)
        .map(|(column, planned)| {
            let value = ScalarValue::try_from_array(column, row)?;
            let value = match planned {
                None | Some(DataType::Null) => value,
                Some(t) if value.is_null() => ScalarValue::try_from(t)?,
                Some(t) => value.cast_to(t)?,
            };
            Ok(ScalarAndMetadata::from(value))
        })
        .collect()
}

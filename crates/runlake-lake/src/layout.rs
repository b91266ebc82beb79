//! A table's sort order: the order the rows of each append are written in, a property of
//! the table a user can set (`runlake sort-by`).
//!
//! Sorting decides what a filter can skip: each file records the bounds of its columns,
//! and each row group and page too, so rows that share values of the leading sort column
//! sit in few files and pages. By default an append is sorted by the table's natural keys
//! (a run's requests together, in order), which serves filters on a run. A table most
//! often filtered otherwise (by model and day, say) can be sorted by those columns.
//!
//! The order is kept in the table's Delta metadata (`runlake.sortOrder`, the columns
//! separated by commas), so every writer of the lake follows it. It applies to appends
//! committed after it is set; the files already written keep their order.

use deltalake::kernel::transaction::CommitProperties;
use std::collections::HashMap;

use datafusion::arrow::datatypes::DataType;
use deltalake::DeltaTable;

use crate::{Error, Lake, Result};

/// The Delta table property that holds a table's sort order.
pub const SORT_ORDER: &str = "runlake.sortOrder";

/// The sort order `table` holds, if one was set.
pub(crate) fn sort_order_of(table: &DeltaTable) -> Option<Vec<String>> {
    let state = table.snapshot().ok()?;
    let value = state
        .snapshot()
        .metadata()
        .configuration()
        .get(SORT_ORDER)?;
    let columns: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    (!columns.is_empty()).then_some(columns)
}

impl Lake {
    /// The sort order set on table `name` (`None`: its natural keys, the default).
    pub async fn sort_order(&self, name: &str) -> Result<Option<Vec<String>>> {
        let table = self
            .table(name)
            .await?
            .ok_or_else(|| Error::TableNotFound(name.to_string()))?;
        Ok(sort_order_of(&table))
    }

    /// Sets the order the appends to table `name` are sorted in from now on: `columns`,
    /// each a column of the table with an order (numbers, text, times, booleans), none
    /// twice; no columns returns the table to its natural keys. One commit; the rows
    /// are unchanged. Returns the table's new version.
    pub async fn set_sort_order(&self, name: &str, columns: &[String]) -> Result<u64> {
        let table = self
            .table(name)
            .await?
            .ok_or_else(|| Error::TableNotFound(name.to_string()))?;
        let schema = table.snapshot()?.snapshot().arrow_schema();
        let invalid = |reason: String| Error::InvalidSortOrder {
            table: name.to_string(),
            columns: columns.join(", "),
            reason,
        };
        for (i, column) in columns.iter().enumerate() {
            if columns[..i].contains(column) {
                return Err(invalid(format!("'{column}' is named twice")));
            }
            let field = schema.field_with_name(column).map_err(|_| {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                invalid(format!(
                    "no column '{column}' (the table has {})",
                    names.join(", ")
                ))
            })?;
            if !orderable(field.data_type()) {
                return Err(invalid(format!(
                    "'{column}' holds {} values, which have no order to sort by",
                    field.data_type()
                )));
            }
        }
        let properties = HashMap::from([(SORT_ORDER.to_string(), columns.join(","))]);
        let table = table
            .set_tbl_properties()
            .with_properties(properties)
            // The key is runlake's own, not one of Delta's.
            .with_raise_if_not_exists(false)
            .with_commit_properties(CommitProperties::default())
            .await
            .map_err(|e| Error::from_write(name, e))?;
        Ok(table.version().unwrap_or_default())
    }
}

/// Whether rows can be sorted by a column of this type.
fn orderable(data_type: &DataType) -> bool {
    // Primitive types are the numbers, dates, times and durations.
    data_type.is_primitive()
        || matches!(
            data_type,
            DataType::Boolean | DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        )
}

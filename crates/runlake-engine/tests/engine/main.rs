//! Tests of the engine's own operators against the library paths they replace: the list
//! scan against arrow-rs's Parquet reader, the integer-key aggregate against
//! DataFusion's hash aggregate, and the options that turn each off.

mod groupby;
mod listscan;
mod snapshot;

use datafusion::arrow::array::RecordBatch;
use datafusion::prelude::SessionContext;

/// Runs `sql`, panicking with the statement on an error.
pub async fn collect(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    match ctx.sql(sql).await {
        Ok(df) => df
            .collect()
            .await
            .unwrap_or_else(|e| panic!("executing {sql}: {e}")),
        Err(e) => panic!("planning {sql}: {e}"),
    }
}

/// One table of SQL type names for `runlake schema` and Flight SQL alike: the names
/// `GetXdbcTypeInfo` lists.
#[test]
fn sql_type_names_are_the_xdbc_names() {
    use std::sync::Arc;

    use datafusion::arrow::datatypes::{DataType, Field, TimeUnit};
    use runlake_engine::types::sql_type_name;

    let list = |t: DataType| DataType::List(Arc::new(Field::new("item", t, true)));
    for (dt, name) in [
        (DataType::Int32, "INTEGER"),
        (DataType::Int64, "BIGINT"),
        (DataType::Float32, "REAL"),
        (DataType::Float64, "DOUBLE"),
        (DataType::Utf8View, "VARCHAR"),
        (
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            "TIMESTAMP",
        ),
        (list(DataType::Int64), "BIGINT ARRAY"),
        (list(DataType::Float32), "REAL ARRAY"),
    ] {
        assert_eq!(sql_type_name(&dt), name, "{dt}");
    }
}

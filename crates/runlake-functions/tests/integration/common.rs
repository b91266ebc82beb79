//! Helpers shared by the suites: a session with every function, result extraction, and
//! the accuracy rule of PRODUCT.md section 4.

use std::path::PathBuf;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type};
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};

/// A value a function returned: NULL, a number (NaN included) or a list of numbers.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    F(f64),
    L(Vec<f64>),
}

pub fn ctx() -> SessionContext {
    ctx_with_partitions(2)
}

pub fn ctx_with_partitions(partitions: usize) -> SessionContext {
    let config = SessionConfig::new()
        .with_information_schema(true)
        .with_target_partitions(partitions);
    let ctx = SessionContext::new_with_config(config);
    runlake_functions::register_all(&ctx).unwrap();
    ctx
}

pub fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/reference")
}

/// A session with the reference tables `predictions` and `series` registered.
pub async fn reference_ctx(partitions: usize) -> SessionContext {
    let ctx = ctx_with_partitions(partitions);
    let dir = reference_dir();
    for table in ["predictions", "series"] {
        ctx.register_parquet(
            table,
            dir.join(format!("{table}.parquet")).to_str().unwrap(),
            ParquetReadOptions::default(),
        )
        .await
        .unwrap();
    }
    ctx
}

pub async fn collect(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    match ctx.sql(sql).await {
        Ok(df) => df
            .collect()
            .await
            .unwrap_or_else(|e| panic!("executing {sql}: {e}")),
        Err(e) => panic!("planning {sql}: {e}"),
    }
}

pub fn value(array: &dyn Array, row: usize) -> Val {
    if array.is_null(row) {
        return Val::Null;
    }
    match array.data_type() {
        DataType::Float64 => Val::F(array.as_primitive::<Float64Type>().value(row)),
        DataType::List(_) => {
            let list = array.as_list::<i32>().value(row);
            Val::L(list.as_primitive::<Float64Type>().values().to_vec())
        }
        other => panic!("unexpected result type {other}"),
    }
}

/// Rows of `(key, value)` from a two-column result whose key is a string or integer.
pub async fn keyed(ctx: &SessionContext, sql: &str) -> Vec<(String, Val)> {
    let mut out = Vec::new();
    for batch in collect(ctx, sql).await {
        let keys = arrow::compute::cast(batch.column(0), &DataType::Utf8).unwrap();
        let keys = keys.as_string::<i32>();
        for row in 0..batch.num_rows() {
            out.push((
                keys.value(row).to_string(),
                value(batch.column(1).as_ref(), row),
            ));
        }
    }
    out
}

/// A single value from a one-row, one-column query.
pub async fn scalar(ctx: &SessionContext, sql: &str) -> Val {
    let batches = collect(ctx, sql).await;
    let batch = batches.iter().find(|b| b.num_rows() > 0).expect("one row");
    value(batch.column(0).as_ref(), 0)
}

/// How close a result must be to its reference.
#[derive(Debug, Clone, Copy)]
pub enum Tolerance {
    /// |result - reference| <= 1e-9 |reference| + 1e-12
    Relative,
    /// p-values: 1e-9 absolute
    Absolute,
    /// data offset by 1e9: 1e-7 relative
    Offset,
}

pub fn close_f64(got: f64, want: f64, tol: Tolerance) -> bool {
    if want.is_nan() || got.is_nan() {
        return want.is_nan() && got.is_nan();
    }
    if want.is_infinite() || got.is_infinite() {
        return want == got;
    }
    let diff = (got - want).abs();
    match tol {
        Tolerance::Relative => diff <= 1e-9 * want.abs() + 1e-12,
        Tolerance::Absolute => diff <= 1e-9,
        Tolerance::Offset => diff <= 1e-7 * want.abs() + 1e-12,
    }
}

/// Decodes a reference value from expected.json (numbers, "NaN", null, lists).
pub fn expected(v: &serde_json::Value) -> Val {
    fn num(v: &serde_json::Value) -> f64 {
        match v {
            serde_json::Value::Number(n) => n.as_f64().unwrap(),
            serde_json::Value::String(s) if s == "NaN" => f64::NAN,
            serde_json::Value::String(s) if s == "Infinity" => f64::INFINITY,
            serde_json::Value::String(s) if s == "-Infinity" => f64::NEG_INFINITY,
            other => panic!("not a number: {other}"),
        }
    }
    match v {
        serde_json::Value::Null => Val::Null,
        serde_json::Value::Array(items) => Val::L(items.iter().map(num).collect()),
        other => Val::F(num(other)),
    }
}

pub fn close(got: &Val, want: &Val, tol: Tolerance) -> bool {
    match (got, want) {
        (Val::Null, Val::Null) => true,
        (Val::F(g), Val::F(w)) => close_f64(*g, *w, tol),
        (Val::L(g), Val::L(w)) => {
            g.len() == w.len() && g.iter().zip(w).all(|(g, w)| close_f64(*g, *w, tol))
        }
        _ => false,
    }
}

//! The list statistics against numpy (tests/reference/lists.py -> lists.json): one
//! Float64 list column with every case, and the whole-number cases again as an Int64
//! list column.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Float64Builder, Int64Builder, ListBuilder, RecordBatch};
use arrow::datatypes::Float64Type;
use datafusion::datasource::MemTable;
use serde_json::Value;

use crate::common::{collect, ctx, reference_dir};

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Null => None,
        Value::String(s) if s == "NaN" => Some(f64::NAN),
        // Floats are text in the fixture: Rust's parsing is exact, serde_json's is not.
        Value::String(s) => Some(s.parse().expect("a float")),
        v => Some(v.as_f64().expect("a number")),
    }
}

fn same(got: Option<f64>, want: Option<f64>) -> bool {
    match (got, want) {
        (None, None) => true,
        (Some(g), Some(w)) if w.is_nan() => g.is_nan(),
        // numpy's summation order, so numpy's bits.
        (Some(g), Some(w)) => g == w,
        _ => false,
    }
}

#[tokio::test]
async fn list_statistics_match_numpy() {
    let text = std::fs::read_to_string(reference_dir().join("lists.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let rows = doc["rows"].as_array().unwrap();
    let mut floats = ListBuilder::new(Float64Builder::new());
    let mut ints = ListBuilder::new(Int64Builder::new());
    for row in rows {
        match &row["list"] {
            Value::Null => {
                floats.append(false);
                ints.append(false);
            }
            Value::Array(items) => {
                for v in items {
                    floats.values().append_option(number(v));
                }
                floats.append(true);
                if !items.is_empty() && items.iter().all(|v| v.is_i64()) {
                    for v in items {
                        ints.values().append_value(v.as_i64().unwrap());
                    }
                    ints.append(true);
                } else {
                    ints.append(false);
                }
            }
            other => panic!("unexpected list {other}"),
        }
    }
    let batch = RecordBatch::try_from_iter([
        ("l", Arc::new(floats.finish()) as Arc<dyn Array>),
        ("li", Arc::new(ints.finish()) as Arc<dyn Array>),
    ])
    .unwrap();
    let ctx = ctx();
    let table = MemTable::try_new(batch.schema(), vec![vec![batch]]).unwrap();
    ctx.register_table("t", Arc::new(table)).unwrap();
    let out = collect(
        &ctx,
        "SELECT list_mean(l), list_stddev(l), list_stddev_pop(l), \
         list_mean(li), list_stddev(li), list_stddev_pop(li) FROM t",
    )
    .await;
    let mut checked = 0;
    let mut r = 0;
    for b in &out {
        for i in 0..b.num_rows() {
            let row = &rows[r];
            let whole = row["list"]
                .as_array()
                .is_some_and(|l| !l.is_empty() && l.iter().all(Value::is_i64));
            for (c, key) in ["mean", "std", "std_pop"].iter().enumerate() {
                let want = number(&row[*key]);
                for col in [c, c + 3] {
                    if col >= 3 && !whole {
                        continue;
                    }
                    let a = b.column(col).as_primitive::<Float64Type>();
                    let got = a.is_valid(i).then(|| a.value(i));
                    assert!(
                        same(got, want),
                        "row {r} ({}) {key} (column {col}): {got:?} vs numpy {want:?}",
                        row["list"]
                    );
                    checked += 1;
                }
            }
            r += 1;
        }
    }
    assert_eq!(r, rows.len());
    assert!(checked > 60, "checked {checked} values");
}

#[tokio::test]
async fn list_statistics_refuse_what_is_not_a_list_of_numbers() {
    let ctx = ctx();
    let err = ctx
        .sql("SELECT list_stddev_pop('abc')")
        .await
        .expect_err("a planning error")
        .to_string();
    assert!(
        err.contains("list_stddev_pop takes a list of numbers"),
        "{err}"
    );
    // A literal list (the first reference case, [1, 2, 3, 4]) gives a scalar result.
    let text = std::fs::read_to_string(reference_dir().join("lists.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["rows"][0]["list"], serde_json::json!([1, 2, 3, 4]));
    let want = number(&doc["rows"][0]["std_pop"]);
    let out = collect(&ctx, "SELECT list_stddev_pop(make_array(1, 2, 3, 4))").await;
    let v = out[0].column(0).as_primitive::<Float64Type>().value(0);
    assert!(same(Some(v), want), "{v} vs numpy {want:?}");
}

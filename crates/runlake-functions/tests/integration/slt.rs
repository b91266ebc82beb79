//! Runs the sqllogictest files in `tests/slt/` against a session with every runlake
//! function. Floats print with 12 significant digits, NULL as `NULL`, NaN as `NaN`,
//! lists as `[a, b]`.

use std::path::PathBuf;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Float32Type, Float64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};

struct Db {
    ctx: SessionContext,
}

fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else if v == 0.0 {
        "0".into()
    } else {
        // 12 significant digits, trailing zeros dropped.
        let s = format!("{:.*e}", 11, v);
        let (mantissa, exponent) = s.split_once('e').unwrap();
        let exponent: i32 = exponent.parse().unwrap();
        if (-5..15).contains(&exponent) {
            let decimals = (11 - exponent).max(0) as usize;
            let fixed = format!("{:.*}", decimals, v);
            if fixed.contains('.') {
                fixed
                    .trim_end_matches('0')
                    .trim_end_matches('.')
                    .to_string()
            } else {
                fixed
            }
        } else {
            let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
            format!("{mantissa}e{exponent}")
        }
    }
}

fn cell(array: &ArrayRef, row: usize) -> String {
    if array.is_null(row) {
        return "NULL".into();
    }
    match array.data_type() {
        DataType::Float64 => float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Float32 => float(array.as_primitive::<Float32Type>().value(row) as f64),
        DataType::List(_) => {
            let values = array.as_list::<i32>().value(row);
            let items: Vec<String> = (0..values.len()).map(|i| cell(&values, i)).collect();
            format!("[{}]", items.join(", "))
        }
        _ => {
            let text = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default())
                .unwrap()
                .value(row)
                .to_string();
            if text.is_empty() {
                "(empty)".into()
            } else {
                text
            }
        }
    }
}

#[async_trait::async_trait]
impl AsyncDB for Db {
    type Error = DataFusionError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<Self::ColumnType>, Self::Error> {
        let df = self.ctx.sql(sql).await?;
        let types = df
            .schema()
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Float64 | DataType::Float32 => DefaultColumnType::FloatingPoint,
                d if d.is_integer() => DefaultColumnType::Integer,
                _ => DefaultColumnType::Text,
            })
            .collect::<Vec<_>>();
        let is_statement = sql.trim_start().to_ascii_uppercase().starts_with("CREATE")
            || sql.trim_start().to_ascii_uppercase().starts_with("INSERT");
        let batches = df.collect().await?;
        if is_statement {
            return Ok(DBOutput::StatementComplete(0));
        }
        let mut rows = Vec::new();
        for batch in &batches {
            for row in 0..batch.num_rows() {
                rows.push(batch.columns().iter().map(|c| cell(c, row)).collect());
            }
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "runlake"
    }
}

#[tokio::test]
async fn sqllogictest_files() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "expected the .slt files in {}",
        dir.display()
    );
    let mut failures = Vec::new();
    for file in &files {
        let mut runner = sqllogictest::Runner::new(|| async {
            Ok(Db {
                ctx: crate::common::ctx(),
            })
        });
        if let Err(e) = runner.run_file_async(file).await {
            failures.push(format!("{}: {e}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn float_formatting() {
    assert_eq!(float(0.7745966692414834), "0.774596669241");
    assert_eq!(float(1.0), "1");
    assert_eq!(float(-2.5), "-2.5");
    assert_eq!(float(1e-9), "1e-9");
    assert_eq!(float(1000000002.8), "1000000002.8");
    assert_eq!(float(f64::NAN), "NaN");
}

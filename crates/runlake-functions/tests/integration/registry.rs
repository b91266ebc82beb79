//! Registration: unique names, documentation visible through SQL.

use std::collections::HashSet;

use arrow::array::{Array, AsArray};

use crate::common::{collect, ctx};

const EXPECTED: &[&str] = &[
    "pearson",
    "pearson_pvalue",
    "pearson_ci_lower",
    "pearson_ci_upper",
    "spearman",
    "spearman_pvalue",
    "kendall_tau",
    "r2_score",
    "mae",
    "mse",
    "rmse",
    "max_error",
    "medae",
    "mean_error",
    "mape",
    "smape",
    "wape",
    "cv",
    "cv_pop",
    "sem",
    "mad",
    "iqr",
    "skewness",
    "kurtosis",
    "quantile",
    "quantiles",
    "p50",
    "p90",
    "p95",
    "p99",
    "p999",
    "outlier_fraction",
    "slo_attainment",
];

#[test]
fn every_function_once_and_no_name_or_alias_clashes() {
    let functions = runlake_functions::all_functions();
    let mut seen = HashSet::new();
    for f in &functions {
        for name in std::iter::once(f.name()).chain(f.aliases().iter().map(String::as_str)) {
            assert!(seen.insert(name.to_string()), "{name} registered twice");
        }
        assert!(
            f.documentation().is_some(),
            "{} has no documentation",
            f.name()
        );
    }
    let names: Vec<&str> = functions.iter().map(|f| f.name()).collect();
    assert_eq!(names, EXPECTED);
}

#[tokio::test]
async fn information_schema_describes_every_function() {
    let ctx = ctx();
    let batches = collect(
        &ctx,
        "SELECT routine_name, description, syntax_example FROM information_schema.routines \
         WHERE function_type = 'AGGREGATE'",
    )
    .await;
    let mut described = HashSet::new();
    for b in &batches {
        let names = b.column(0).as_string::<i32>();
        let descriptions = b.column(1).as_string::<i32>();
        for i in 0..b.num_rows() {
            if descriptions.is_valid(i) && descriptions.value(i).len() > 40 {
                described.insert(names.value(i).to_string());
            }
        }
    }
    for name in EXPECTED {
        assert!(
            described.contains(*name),
            "{name} is not described in information_schema.routines"
        );
    }
}

#[tokio::test]
async fn show_functions_lists_parameters_and_description() {
    let ctx = ctx();
    let batches = collect(&ctx, "SHOW FUNCTIONS LIKE 'pearson_ci_lower'").await;
    let text = arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string();
    assert!(text.contains("Fisher-z"), "{text}");
    assert!(text.contains("pearson_ci_lower(x, y[, level])"), "{text}");
}

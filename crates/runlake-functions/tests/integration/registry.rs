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

/// The typed entry points: `NAME_udaf()` is the registered function itself (one
/// instance, documented), and `expr_fn::NAME(...)` computes what the SQL call computes.
#[tokio::test]
async fn typed_entry_points_are_the_registered_functions() {
    use datafusion::prelude::{col, lit};
    use runlake_functions::expr_fn;

    let udafs = [
        runlake_functions::pearson_udaf(),
        runlake_functions::spearman_udaf(),
        runlake_functions::mape_udaf(),
        runlake_functions::p99_udaf(),
        runlake_functions::slo_attainment_udaf(),
    ];
    for (udaf, name) in udafs
        .iter()
        .zip(["pearson", "spearman", "mape", "p99", "slo_attainment"])
    {
        assert_eq!(udaf.name(), name);
        let registered = runlake_functions::function(name).expect("registered");
        assert!(
            std::sync::Arc::ptr_eq(udaf, &registered),
            "{name}: one instance"
        );
        let docs = udaf.documentation().expect("documented");
        assert!(!docs.description.is_empty() && docs.syntax_example.starts_with(name));
    }

    let ctx = ctx();
    let sql = collect(
        &ctx,
        "SELECT pearson(x, y) AS r, mape(y, x) AS m, slo_attainment(y, 2.5) AS s \
         FROM (VALUES (1.0, 1.5), (2.0, 2.1), (3.0, 3.9), (4.0, 4.2)) AS t(x, y)",
    )
    .await;
    let frame = ctx
        .sql("SELECT * FROM (VALUES (1.0, 1.5), (2.0, 2.1), (3.0, 3.9), (4.0, 4.2)) AS t(x, y)")
        .await
        .unwrap()
        .aggregate(
            vec![],
            vec![
                expr_fn::pearson(col("x"), col("y")).alias("r"),
                expr_fn::mape(col("y"), col("x")).alias("m"),
                expr_fn::slo_attainment(col("y"), lit(2.5)).alias("s"),
            ],
        )
        .unwrap();
    let api = frame.collect().await.unwrap();
    assert_eq!(api, sql);
}

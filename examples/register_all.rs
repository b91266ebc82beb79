//! Use runlake's statistical functions in your own DataFusion application.
//!
//! Run: cargo run --example register_all

use datafusion::error::Result;
use datafusion::prelude::{CsvReadOptions, SessionContext, col};
use runlake_functions::expr_fn::{mape, pearson, spearman};

#[tokio::main]
async fn main() -> Result<()> {
    let ctx = SessionContext::new();
    runlake_functions::register_all(&ctx)?;

    let data = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/data/predictions.csv"
    );
    ctx.register_csv("predictions", data, CsvReadOptions::new())
        .await?;

    // In SQL ...
    ctx.sql(
        "SELECT framework,
                pearson(predicted_ms, actual_ms)  AS pearson,
                spearman(predicted_ms, actual_ms) AS spearman,
                mape(actual_ms, predicted_ms)     AS mape,
                p99(actual_ms)                    AS p99_ms
         FROM predictions GROUP BY framework ORDER BY framework",
    )
    .await?
    .show()
    .await?;

    // ... or with the DataFrame API.
    ctx.table("predictions")
        .await?
        .aggregate(
            vec![col("framework")],
            vec![
                pearson(col("predicted_ms"), col("actual_ms")).alias("pearson"),
                spearman(col("predicted_ms"), col("actual_ms")).alias("spearman"),
                mape(col("actual_ms"), col("predicted_ms")).alias("mape"),
            ],
        )?
        .sort_by(vec![col("framework")])?
        .show()
        .await?;
    Ok(())
}

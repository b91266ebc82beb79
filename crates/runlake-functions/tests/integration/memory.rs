//! Buffering functions report their memory, so DataFusion's memory pool limits them: a
//! query over the limit fails with "Resources exhausted" instead of growing unbounded.

use std::sync::Arc;

use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

fn limited(bytes: usize) -> SessionContext {
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(bytes, 1.0)
        .build_arc()
        .unwrap();
    let config = SessionConfig::new().with_target_partitions(2);
    let ctx = SessionContext::new_with_config_rt(config, Arc::clone(&runtime));
    runlake_functions::register_all(&ctx).unwrap();
    ctx
}

async fn run(ctx: &SessionContext, sql: &str) -> Result<(), String> {
    let df = ctx.sql(sql).await.map_err(|e| e.to_string())?;
    df.collect().await.map(|_| ()).map_err(|e| e.to_string())
}

#[tokio::test]
async fn buffering_functions_respect_the_memory_limit() {
    // Two million doubles are 16 MB of buffered values; the pool has 4 MB.
    for sql in [
        "SELECT p99(CAST(value AS DOUBLE)) FROM generate_series(1, 2000000)",
        "SELECT spearman(CAST(value AS DOUBLE), CAST(value % 7 AS DOUBLE)) FROM generate_series(1, 2000000)",
        "SELECT value % 3 AS g, medae(CAST(value AS DOUBLE), 0) FROM generate_series(1, 2000000) GROUP BY 1",
    ] {
        let err = run(&limited(4 << 20), sql).await.expect_err(sql);
        assert!(err.contains("Resources exhausted"), "{sql}: {err}");
    }
    // The same queries fit in a pool large enough for them.
    run(
        &limited(256 << 20),
        "SELECT p99(CAST(value AS DOUBLE)) FROM generate_series(1, 2000000)",
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn moment_functions_need_no_buffer() {
    // Fixed-size state: a million rows aggregate fine in a small pool.
    run(
        &limited(4 << 20),
        "SELECT pearson(CAST(value AS DOUBLE), CAST(value % 7 AS DOUBLE)), mape(CAST(value AS DOUBLE), 1) \
         FROM generate_series(1, 1000000)",
    )
    .await
    .unwrap();
}

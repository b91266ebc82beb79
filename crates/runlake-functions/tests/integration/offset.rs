//! Grouped `pearson` keeps full precision on data offset by 1e9 (nanosecond timestamps),
//! where DataFusion 55's built-in grouped `corr` keeps raw sums and collapses.

use crate::common::{Val, ctx, keyed};

#[tokio::test]
async fn grouped_pearson_survives_offsets_that_break_builtin_corr() {
    let ctx = ctx();
    // STATS.md D1 (r = 0.7745966692414834) shifted by 1e9, in two groups so the
    // GroupsAccumulator path runs.
    let rows: Vec<String> = [(1, 2), (2, 4), (3, 5), (4, 4), (5, 5)]
        .iter()
        .flat_map(|(x, y)| ["a", "b"].map(|g| format!("('{g}', {x}e0 + 1e9, {y}e0 + 1e9)")))
        .collect();
    ctx.sql(&format!(
        "CREATE TABLE t (g VARCHAR, x DOUBLE, y DOUBLE) AS VALUES {}",
        rows.join(", ")
    ))
    .await
    .unwrap()
    .collect()
    .await
    .unwrap();
    let truth = 0.7745966692414834;

    let ours = keyed(&ctx, "SELECT g, pearson(x, y) FROM t GROUP BY g ORDER BY g").await;
    assert_eq!(ours.len(), 2);
    for (g, v) in &ours {
        let Val::F(r) = v else {
            panic!("group {g}: {v:?}")
        };
        assert!((r - truth).abs() <= 1e-12, "pearson group {g}: {r}");
    }

    let builtin = keyed(&ctx, "SELECT g, corr(x, y) FROM t GROUP BY g ORDER BY g").await;
    assert_eq!(builtin.len(), 2);
    for (g, v) in &builtin {
        let wrong = match v {
            Val::Null => true,
            Val::F(r) => r.is_nan() || (r - truth).abs() > 1e-3,
            Val::L(_) => panic!("list"),
        };
        assert!(
            wrong,
            "DataFusion's grouped corr is expected to lose precision here (group {g}: {v:?}); \
             if a DataFusion upgrade fixed it, this comparison can go"
        );
    }
}

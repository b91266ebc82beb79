//! `IntKeyAggregate` computes what DataFusion's own partial aggregation computes: every
//! query here runs in a session with the rule and one without, and the results must
//! agree (exactly for keys and counts, to 1e-9 relative for floating-point states,
//! whose partial results reach the final stage in any order).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Date32Array, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array,
    Int64Array, RecordBatch, StringArray, TimestampNanosecondArray, UInt8Array, UInt16Array,
    UInt32Array, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::util::display::array_value_to_string;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::MemTable;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use runlake_engine::IntKeyAggregate;

use crate::collect;

const ROWS: usize = 120_000;

fn session(rule: bool, config: SessionConfig, memory: Option<usize>) -> SessionContext {
    let mut state = SessionStateBuilder::new()
        .with_config(config.with_target_partitions(2))
        .with_default_features();
    if rule {
        state = state.with_physical_optimizer_rule(Arc::new(IntKeyAggregate));
    }
    if let Some(bytes) = memory {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(bytes, 1.0)
            .build_arc()
            .unwrap();
        state = state.with_runtime_env(runtime);
    }
    let ctx = SessionContext::new_with_state(state.build());
    runlake_functions::register_all(&ctx).unwrap();
    ctx.register_table("t", Arc::new(table())).unwrap();
    ctx
}

/// Deterministic rows: a key of every supported type (each with NULLs and about
/// `ROWS / 3` distinct values where the type allows), a string key and two values.
fn table() -> MemTable {
    let scramble = |i: usize| (i.wrapping_mul(2_654_435_761) % 40_000) as i64;
    let null = |i: usize| i.is_multiple_of(97);
    let keys = |f: &dyn Fn(i64) -> i64| -> Vec<Option<i64>> {
        (0..ROWS)
            .map(|i| (!null(i)).then(|| f(scramble(i))))
            .collect()
    };
    let small = keys(&|k| k % 200 - 100);
    let mid = keys(&|k| k - 20_000);
    let wide = keys(&|k| (k - 20_000) << 40);
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "k_i8",
            Arc::new(
                small
                    .iter()
                    .map(|k| k.map(|k| k as i8))
                    .collect::<Int8Array>(),
            ),
        ),
        (
            "k_u8",
            Arc::new(
                small
                    .iter()
                    .map(|k| k.map(|k| (k + 100) as u8))
                    .collect::<UInt8Array>(),
            ),
        ),
        (
            "k_i16",
            Arc::new(
                mid.iter()
                    .map(|k| k.map(|k| k as i16))
                    .collect::<Int16Array>(),
            ),
        ),
        (
            "k_u16",
            Arc::new(
                mid.iter()
                    .map(|k| k.map(|k| (k + 20_000) as u16))
                    .collect::<UInt16Array>(),
            ),
        ),
        (
            "k_i32",
            Arc::new(
                mid.iter()
                    .map(|k| k.map(|k| k as i32 * 1000))
                    .collect::<Int32Array>(),
            ),
        ),
        (
            "k_u32",
            Arc::new(
                mid.iter()
                    .map(|k| k.map(|k| (k + 20_000) as u32 * 100_000))
                    .collect::<UInt32Array>(),
            ),
        ),
        (
            "k_i64",
            Arc::new(wide.iter().copied().collect::<Int64Array>()),
        ),
        // Above 2^63: the table holds these as negative i64 bit patterns.
        (
            "k_u64",
            Arc::new(
                mid.iter()
                    .map(|k| k.map(|k| u64::MAX - k as u64))
                    .collect::<UInt64Array>(),
            ),
        ),
        (
            "k_date",
            Arc::new(
                mid.iter()
                    .map(|k| k.map(|k| k as i32))
                    .collect::<Date32Array>(),
            ),
        ),
        (
            "k_ts",
            Arc::new(
                wide.iter()
                    .copied()
                    .collect::<TimestampNanosecondArray>()
                    .with_timezone("UTC"),
            ),
        ),
        (
            "k_f64",
            Arc::new(float_keys(&mid).collect::<Float64Array>()),
        ),
        (
            "k_f32",
            Arc::new(
                float_keys(&mid)
                    .map(|k| k.map(|k| k as f32))
                    .collect::<Float32Array>(),
            ),
        ),
        (
            "k_str",
            Arc::new(
                small
                    .iter()
                    .map(|k| k.map(|k| format!("g{k}")))
                    .collect::<StringArray>(),
            ),
        ),
    ];
    let batch = with_values(columns, ROWS);
    let schema = batch.schema();
    // Two partitions of several batches each.
    let parts = (0..2)
        .map(|p| {
            (0..6)
                .map(|b| batch.slice((p * 6 + b) * ROWS / 12, ROWS / 12))
                .collect()
        })
        .collect();
    MemTable::try_new(schema, parts).unwrap()
}

/// Float keys from integer ones: quarters, with `-0.0` beside `0.0`, two NaNs of other
/// bit patterns and infinities among them.
fn float_keys(keys: &[Option<i64>]) -> impl Iterator<Item = Option<f64>> + '_ {
    keys.iter().map(|k| {
        k.map(|k| match k.rem_euclid(1000) {
            7 => -0.0,
            8 => f64::NAN,
            9 => f64::from_bits(0x7ff8_0000_0000_0001),
            10 => f64::INFINITY,
            11 => f64::NEG_INFINITY,
            _ => k as f64 * 0.25,
        })
    })
}

/// `columns` and two value columns of `rows` rows: `v` (with NULLs) and `w`.
fn with_values(mut columns: Vec<(&str, ArrayRef)>, rows: usize) -> RecordBatch {
    columns.push((
        "v",
        Arc::new(
            (0..rows)
                .map(|i| (!i.is_multiple_of(13)).then_some((i % 1009) as f64 * 0.37 + 1.0))
                .collect::<Float64Array>(),
        ),
    ));
    columns.push((
        "w",
        Arc::new(
            (0..rows)
                .map(|i| Some(((i * 7919) % 1013) as f64 / 1013.0 + 0.5))
                .collect::<Float64Array>(),
        ),
    ));
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, a)| Field::new(*name, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    RecordBatch::try_new(schema, columns.into_iter().map(|(_, a)| a).collect()).unwrap()
}

fn report(key: &str) -> String {
    format!(
        "SELECT {key} AS k, count(*) AS n, count(v) AS nv, sum(v) AS s, avg(w) AS a, \
         min(v) AS lo, pearson(v, w) AS r, mape(v, w) AS m, cv(v) AS c, \
         count(*) FILTER (WHERE w > 1.0) AS nf, sum(v) FILTER (WHERE w > 1.0) AS sf \
         FROM t GROUP BY {key} ORDER BY k"
    )
}

/// Every cell of the two results, as text (floats compared numerically).
async fn same_result(sql: &str, with: &SessionContext, without: &SessionContext) -> usize {
    let got = concat(collect(with, sql).await);
    let want = concat(collect(without, sql).await);
    assert_eq!(got.num_rows(), want.num_rows(), "{sql}");
    assert_eq!(got.schema(), want.schema(), "{sql}");
    for c in 0..got.num_columns() {
        let (g, w) = (got.column(c), want.column(c));
        for row in 0..got.num_rows() {
            let (gs, ws) = (
                array_value_to_string(g, row).unwrap(),
                array_value_to_string(w, row).unwrap(),
            );
            if g.data_type() == &DataType::Float64 && !g.is_null(row) && !w.is_null(row) {
                let (gv, wv): (f64, f64) = (gs.parse().unwrap(), ws.parse().unwrap());
                let tol = 1e-9 * wv.abs().max(1.0);
                assert!(
                    gv == wv || (gv - wv).abs() <= tol || (gv.is_nan() && wv.is_nan()),
                    "{sql}: column {c} row {row}: {gv} vs {wv}"
                );
            } else {
                assert_eq!(gs, ws, "{sql}: column {c} row {row}");
            }
        }
    }
    got.num_rows()
}

fn concat(batches: Vec<RecordBatch>) -> RecordBatch {
    let schema = batches[0].schema();
    arrow::compute::concat_batches(&schema, &batches).unwrap()
}

async fn explain(ctx: &SessionContext, sql: &str) -> String {
    let batches = collect(ctx, &format!("EXPLAIN {sql}")).await;
    let plan = concat(batches);
    (0..plan.num_rows())
        .map(|r| array_value_to_string(plan.column(1), r).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn every_integer_and_float_key_type_gives_the_same_groups_and_values() {
    let with = session(true, SessionConfig::new(), None);
    let without = session(false, SessionConfig::new(), None);
    for (key, groups) in [
        ("k_i8", 201),
        ("k_u8", 201),
        ("k_i16", 40_001),
        ("k_u16", 40_001),
        ("k_i32", 40_001),
        ("k_u32", 40_001),
        ("k_i64", 40_001),
        ("k_u64", 40_001),
        ("k_date", 40_001),
        ("k_ts", 40_001),
        // An expression over a key column.
        ("k_i32 % 7", 14),
        // 40,001 less the 5 x 40 keys that became -0.0 (in 0.0's group), NaN, the
        // other NaN, +inf and -inf: 4 groups for 200 keys.
        ("k_f64", 40_001 - 200 + 4),
        // As f32 the other NaN loses its payload and joins NaN's group.
        ("k_f32", 40_001 - 200 + 3),
    ] {
        let sql = report(key);
        let plan = explain(&with, &sql).await;
        assert!(
            plan.contains("IntKeyAggregateExec: mode=Partial"),
            "{key}:\n{plan}"
        );
        assert!(
            !explain(&without, &sql)
                .await
                .contains("IntKeyAggregateExec")
        );
        assert_eq!(same_result(&sql, &with, &without).await, groups, "{key}");
    }
}

/// Integer keys are mapped directly while they lie close together and hashed from the
/// batch that spreads them: batches whose keys move down, up, then far apart (and to
/// both ends of i64, and of u64), with NULLs, give DataFusion's groups and values.
#[tokio::test]
async fn keys_that_start_close_together_and_then_spread_give_the_same_groups() {
    let rows = 4_000;
    let key_batches: [&dyn Fn(i64) -> Option<i64>; 6] = [
        // Close together, with NULLs.
        &|i| (i % 53 != 0).then_some(i % 700),
        // Below them: the direct range extends down.
        &|i| Some(-(i % 900) - 3_000),
        // Above them, still within 2^18 of the lowest.
        &|i| Some(200_000 + i % 500),
        // The old keys again.
        &|i| Some(i % 1_000 - 3_500),
        // A tenth a million apart: the table turns to hashing.
        &|i| Some(if i % 10 == 0 { i * 1_000_003 } else { i % 700 }),
        // Both ends of i64.
        &|i| {
            Some(match i % 3 {
                0 => i64::MIN + i % 5,
                1 => i64::MAX - i % 5,
                _ => i % 700,
            })
        },
    ];
    let batches: Vec<RecordBatch> = key_batches
        .iter()
        .map(|f| {
            let keys: Int64Array = (0..rows as i64).map(f).collect();
            let unsigned: UInt64Array = keys
                .iter()
                .map(|k| k.map(|k| (k as u64).wrapping_add(1 << 63)))
                .collect();
            with_values(vec![("k", Arc::new(keys)), ("u", Arc::new(unsigned))], rows)
        })
        .collect();
    let schema = batches[0].schema();
    // One partition sees them in order, the other with the spreading batches first.
    let mut reversed = batches.clone();
    reversed.reverse();
    let table = || {
        Arc::new(
            MemTable::try_new(Arc::clone(&schema), vec![batches.clone(), reversed.clone()])
                .unwrap(),
        )
    };
    let with = session(true, SessionConfig::new(), None);
    let without = session(false, SessionConfig::new(), None);
    with.register_table("spread", table()).unwrap();
    without.register_table("spread", table()).unwrap();
    // Only the first four batches: the direct map all along (also in reverse).
    let close = "(SELECT * FROM spread WHERE k IS NULL OR k BETWEEN -5000 AND 300000)";
    let distinct = |keys: &[i64]| {
        let mut keys = keys.to_vec();
        keys.sort_unstable();
        keys.dedup();
        keys.len()
    };
    let all: Vec<i64> = key_batches
        .iter()
        .flat_map(|f| (0..rows as i64).filter_map(f))
        .collect();
    let near: Vec<i64> = all
        .iter()
        .copied()
        .filter(|k| (-5_000..=300_000).contains(k))
        .collect();
    for (from, groups) in [("spread", distinct(&all) + 1), (close, distinct(&near) + 1)] {
        for key in ["k", "u"] {
            let sql = report(key).replace("FROM t", &format!("FROM {from}"));
            assert!(
                explain(&with, &sql)
                    .await
                    .contains("IntKeyAggregateExec: mode=Partial")
            );
            assert_eq!(
                same_result(&sql, &with, &without).await,
                groups,
                "{key} from {from}"
            );
            // Each of the two partitions sees every key once: one partial group a key.
            assert_eq!(
                partial_output_rows(&with, &sql).await,
                2 * groups,
                "{key} from {from}"
            );
        }
    }
}

#[tokio::test]
async fn other_aggregations_are_left_to_datafusion() {
    let with = session(true, SessionConfig::new(), None);
    for sql in [
        "SELECT k_str, sum(v) FROM t GROUP BY k_str",
        "SELECT k_i32, k_i8, sum(v) FROM t GROUP BY k_i32, k_i8",
        "SELECT k_i32, array_agg(v ORDER BY w) FROM t GROUP BY k_i32",
        "SELECT k_i32, sum(v) FROM t GROUP BY ROLLUP (k_i32)",
        "SELECT sum(v) FROM t",
    ] {
        let plan = explain(&with, sql).await;
        assert!(!plan.contains("IntKeyAggregateExec"), "{sql}:\n{plan}");
    }
}

#[tokio::test]
async fn no_rows_give_no_groups() {
    let with = session(true, SessionConfig::new(), None);
    let without = session(false, SessionConfig::new(), None);
    let sql = "SELECT k_i64, sum(v), pearson(v, w) FROM t WHERE v < 0 GROUP BY k_i64";
    assert!(explain(&with, sql).await.contains("IntKeyAggregateExec"));
    assert_eq!(
        collect(&with, sql)
            .await
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>(),
        0
    );
    assert_eq!(
        collect(&without, sql)
            .await
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>(),
        0
    );
}

/// The rows the partial aggregation passed on, from its metrics after running `sql`.
async fn partial_output_rows(ctx: &SessionContext, sql: &str) -> usize {
    let plan = ctx
        .sql(sql)
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    datafusion::physical_plan::collect(Arc::clone(&plan), ctx.task_ctx())
        .await
        .unwrap();
    let mut rows = None;
    plan.apply(|node| {
        if node.name() == "IntKeyAggregateExec" {
            rows = node.metrics().and_then(|m| m.output_rows());
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .unwrap();
    rows.expect("an IntKeyAggregateExec with metrics")
}

#[tokio::test]
async fn mostly_distinct_keys_stop_the_partial_aggregation() {
    // The probe looks at the first 1,000 rows of each partition: with 40,001 groups in
    // 120,000 rows (a third) above a ratio of 0.2, the rest is passed on as states.
    let config = || {
        let mut c = SessionConfig::new();
        let e = &mut c.options_mut().execution;
        e.skip_partial_aggregation_probe_rows_threshold = 1_000;
        e.skip_partial_aggregation_probe_ratio_threshold = 0.2;
        c
    };
    let with = session(true, config(), None);
    let without = session(false, config(), None);
    let sql = report("k_i64");
    assert_eq!(same_result(&sql, &with, &without).await, 40_001);
    let passed_on = partial_output_rows(&with, &sql).await;
    assert!(passed_on > 100_000, "{passed_on} rows after the probe");

    // Without the probe every partition's groups leave once: 2 x 40,001 at most.
    let aggregated = partial_output_rows(&session(true, SessionConfig::new(), None), &sql).await;
    assert!((40_001..=80_002).contains(&aggregated), "{aggregated}");
}

#[tokio::test]
async fn a_full_memory_pool_makes_the_partial_aggregation_emit_early() {
    // The partial states of 40,001 groups take several MB per partition and the final
    // stage and the sort need theirs: in a 32 MB pool the partial stage hands on its
    // groups and starts again.
    let pool = 32 << 20;
    let with = session(true, SessionConfig::new(), Some(pool));
    let without = session(false, SessionConfig::new(), None);
    let sql = report("k_i64");
    assert_eq!(same_result(&sql, &with, &without).await, 40_001);
    let emitted = partial_output_rows(&with, &sql).await;
    assert!(emitted > 80_002, "{emitted} partial rows");
}

/// The plan's operators from the top, one name per line (`IntKeyAggregateExec: mode=...`
/// keeps its mode, a `RepartitionExec` its partitioning).
fn operators(plan: &str) -> Vec<String> {
    plan.lines()
        .map(|l| l.trim().split(", aggr=").next().unwrap_or("").to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Whether the partial aggregation's input is repartitioned by `key` in `plan`.
fn split_by(plan: &str, key: &str) -> bool {
    let ops = operators(plan);
    ops.windows(2).any(|w| {
        w[0].starts_with("IntKeyAggregateExec: mode=Partial")
            && w[1].starts_with(&format!("RepartitionExec: partitioning=Hash([{key}@"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_groups_split_the_input_by_key_and_give_the_same_result() {
    // 40,000 rows in one Parquet file, read as two partitions: `k` has 500 possible keys
    // (80 rows a key; also grouped as `k % 7`, an expression), `u` 5,000 (8 rows a key).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("groups.parquet");
    let rows = 40_000usize;
    let scramble = |i: usize, n: usize| (i.wrapping_mul(2_654_435_761) % n) as i64;
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "k",
            Arc::new(
                (0..rows)
                    .map(|i| (!i.is_multiple_of(101)).then(|| scramble(i, 500) + 1_000))
                    .collect::<Int64Array>(),
            ),
        ),
        (
            "u",
            Arc::new(
                (0..rows)
                    .map(|i| scramble(i, 5_000) as i32)
                    .collect::<Int32Array>(),
            ),
        ),
    ];
    let batch = with_values(columns, rows);
    let schema = batch.schema();
    let props = datafusion::parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(5_000))
        .build();
    let file = std::fs::File::create(&path).unwrap();
    let mut writer =
        datafusion::parquet::arrow::ArrowWriter::try_new(file, schema, Some(props)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();

    let open = |rule: bool, split_groups: Option<u64>| {
        let mut config = SessionConfig::new();
        config.options_mut().optimizer.repartition_file_min_size = 1;
        if let Some(groups) = split_groups {
            config = config.with_option_extension(runlake_engine::RunlakeOptions {
                int_key_split_groups: groups,
                ..Default::default()
            });
        }
        let ctx = session(rule, config, None);
        let path = path.clone();
        async move {
            ctx.register_parquet("p", path.to_str().unwrap(), Default::default())
                .await
                .unwrap();
            ctx
        }
    };
    let report = |key: &str| {
        format!(
            "SELECT {key} AS k, count(*) AS n, sum(v) AS s, pearson(v, w) AS r, mape(v, w) AS m, \
             cv(v) AS c, sum(v) FILTER (WHERE w > 1.0) AS sf FROM p GROUP BY {key} ORDER BY k"
        )
    };
    let without = open(false, None).await;
    let split = open(true, Some(400)).await;
    let by_k = report("k");
    let plan = explain(&split, &by_k).await;
    assert!(
        split_by(&plan, "k"),
        "500 keys >= 400 and 80 rows a key:\n{plan}"
    );
    assert_eq!(same_result(&by_k, &split, &without).await, 501);
    // Each partition aggregated its own keys: one state per group reaches the final stage.
    assert_eq!(partial_output_rows(&split, &by_k).await, 501);

    // Fewer possible keys than the option asks for: no split (the default is 65,536).
    for ctx in [open(true, Some(600)).await, open(true, None).await] {
        let plan = explain(&ctx, &by_k).await;
        assert!(plan.contains("IntKeyAggregateExec"), "{plan}");
        assert!(!split_by(&plan, "k"), "{plan}");
        assert_eq!(same_result(&by_k, &ctx, &without).await, 501);
    }
    // Too few rows a key (8 < 16), a key that is an expression, or `0`: no split.
    let eager = open(true, Some(2)).await;
    for (key, column, groups) in [("u", "u", 5_000), ("k % 7", "k", 8)] {
        let sql = report(key);
        let plan = explain(&eager, &sql).await;
        assert!(plan.contains("IntKeyAggregateExec"), "{plan}");
        assert!(!split_by(&plan, column), "{plan}");
        assert_eq!(same_result(&sql, &eager, &without).await, groups, "{key}");
    }
    let never = open(true, Some(0)).await;
    assert!(!split_by(&explain(&never, &by_k).await, "k"));

    // The option is a count of groups, set like any other.
    split
        .sql("SET runlake.execution.int_key_split_groups = 1000")
        .await
        .unwrap();
    assert!(!split_by(&explain(&split, &by_k).await, "k"));
    let err = split
        .sql("SET runlake.execution.int_key_split_groups = many")
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("is not a whole number"), "{err}");
}

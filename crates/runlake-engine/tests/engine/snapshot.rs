//! A lake table's scan prunes whole files by the statistics its Delta log records, and
//! answers exactly as the same scan without them (which opens every file).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    AsArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use runlake_engine::SnapshotTable;
use runlake_lake::{CommitKey, Lake};

use crate::collect;

/// 2026-10-16T00:00:00Z in microseconds.
const DAY: i64 = 1_792_108_800_000_000;

/// Rows `first..first + n` of run `run`: one a second from `start` plus `offset_us`
/// (below the millisecond, where Delta's statistics stop).
fn rows(run: &str, first: i64, n: i64, start: i64, offset_us: i64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("request_index", DataType::Int64, false),
        Field::new("ttft_ms", DataType::Float64, true),
    ]));
    let ids: Vec<i64> = (first..first + n).collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec![run; n as usize])),
            Arc::new(
                TimestampMicrosecondArray::from(
                    ids.iter()
                        .map(|i| start + (i - first) * 1_000_000 + offset_us)
                        .collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(Float64Array::from(
                ids.iter()
                    .map(|i| ((i * 37) % 101) as f64 / 4.0)
                    .collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap()
}

/// A lake whose `requests` table has one file per run: runs a, b and c, a day apart,
/// each row's time 700 µs past its second.
async fn lake() -> (tempfile::TempDir, Lake) {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap(), HashMap::new()).unwrap();
    for (i, run) in ["a", "b", "c"].into_iter().enumerate() {
        let i = i as i64;
        lake.append(
            "requests",
            vec![rows(run, i * 100, 100, DAY + i * 86_400_000_000, 700)],
            &CommitKey::new(format!("ingest:{run}")),
            &[],
            false,
        )
        .await
        .unwrap();
    }
    (dir, lake)
}

/// A session reading `requests` with the log's statistics (`pruned`) or without them.
async fn session(lake: &Lake, pruned: bool) -> SessionContext {
    let mut files = lake.files_at("requests", None).await.unwrap();
    assert!(files.stats.is_some());
    if !pruned {
        files.stats = None;
    }
    let ctx = SessionContext::new();
    lake.register_store(&ctx.runtime_env()).unwrap();
    ctx.register_table("requests", Arc::new(SnapshotTable::new("requests", files)))
        .unwrap();
    ctx
}

/// How many files the scans of `sql`'s plan read.
async fn files_read(ctx: &SessionContext, sql: &str) -> usize {
    fn walk(plan: &Arc<dyn ExecutionPlan>) -> usize {
        let here = plan
            .downcast_ref::<DataSourceExec>()
            .and_then(|e| e.data_source().downcast_ref::<FileScanConfig>())
            .map_or(0, |c| c.file_groups.iter().map(|g| g.len()).sum());
        here + plan.children().into_iter().map(walk).sum::<usize>()
    }
    let plan = ctx
        .sql(sql)
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    walk(&plan)
}

async fn count(ctx: &SessionContext, sql: &str) -> i64 {
    collect(ctx, sql).await[0]
        .column(0)
        .as_primitive::<Int64Type>()
        .value(0)
}

#[tokio::test]
async fn a_filter_opens_only_the_files_whose_statistics_can_match() {
    let (_dir, lake) = lake().await;
    let ctx = session(&lake, true).await;
    for (filter, files, rows) in [
        ("run_id = 'b'", 1, 100),
        ("request_index BETWEEN 150 AND 250", 2, 101),
        ("ts >= TIMESTAMP '2026-10-17 00:00:00Z'", 2, 200),
        ("ts < TIMESTAMP '2026-10-16 00:00:00Z'", 0, 0),
        ("ttft_ms > 1000", 0, 0),
        ("ttft_ms >= 0", 3, 300),
        ("run_id = 'c' OR request_index = 5", 2, 101),
    ] {
        let sql = format!("SELECT count(*) FROM requests WHERE {filter}");
        assert_eq!(files_read(&ctx, &sql).await, files, "{filter}");
        assert_eq!(count(&ctx, &sql).await, rows, "{filter}");
    }
}

#[tokio::test]
async fn a_timestamp_below_the_recorded_millisecond_is_not_pruned() {
    // Delta records `ts` to the millisecond: run c's last row is at 00:01:39.000700 of
    // its day, its file's recorded maximum 00:01:39.000. A filter between the two must
    // still read the file.
    let (_dir, lake) = lake().await;
    let ctx = session(&lake, true).await;
    let last = "2026-10-18 00:01:39.";
    for (at, rows) in [("000500", 1), ("000700", 1), ("000701", 0)] {
        let sql = format!("SELECT count(*) FROM requests WHERE ts >= TIMESTAMP '{last}{at}Z'");
        assert_eq!(count(&ctx, &sql).await, rows, "{sql}");
    }
    let sql = format!("SELECT count(*) FROM requests WHERE ts = TIMESTAMP '{last}000700Z'");
    assert_eq!(count(&ctx, &sql).await, 1);
}

#[tokio::test]
async fn pruned_scans_answer_as_scans_of_every_file() {
    let (_dir, lake) = lake().await;
    let pruned = session(&lake, true).await;
    let every = session(&lake, false).await;
    // Bounds on each column around each file's edges, equalities and disjunctions.
    let mut filters = Vec::new();
    for id in [-1, 0, 1, 99, 100, 101, 199, 200, 250, 299, 300, 1000] {
        for op in ["<", "<=", "=", ">=", ">", "<>"] {
            filters.push(format!("request_index {op} {id}"));
        }
    }
    for run in ["", "a", "aa", "b", "c", "d"] {
        for op in ["<", "=", ">", "<>"] {
            filters.push(format!("run_id {op} '{run}'"));
        }
    }
    for (day, time) in [
        ("16", "00:00:00.000"),
        ("16", "00:00:00.000699"),
        ("16", "00:00:00.0007"),
        ("16", "00:01:39.0007"),
        ("16", "00:01:39.000701"),
        ("17", "00:00:00.0007"),
        ("18", "00:01:39.000699"),
        ("18", "00:01:39.0007"),
        ("19", "00:00:00"),
    ] {
        for op in ["<", "<=", "=", ">=", ">"] {
            filters.push(format!("ts {op} TIMESTAMP '2026-10-{day} {time}Z'"));
        }
    }
    for value in [0.0, 0.25, 12.5, 25.0, 25.25] {
        filters.push(format!("ttft_ms < {value}"));
        filters.push(format!("ttft_ms > {value}"));
    }
    filters.push("ttft_ms IS NULL".into());
    filters.push("ttft_ms IS NOT NULL".into());
    filters.push("run_id = 'a' AND request_index > 50".into());
    filters.push("run_id = 'b' OR ts > TIMESTAMP '2026-10-18 00:00:00Z'".into());
    let mut pruned_any = false;
    for filter in &filters {
        let sql = format!("SELECT count(*), sum(request_index) FROM requests WHERE {filter}");
        let (a, b) = (collect(&pruned, &sql).await, collect(&every, &sql).await);
        assert_eq!(a, b, "{filter}");
        pruned_any |= files_read(&pruned, &sql).await < files_read(&every, &sql).await;
    }
    assert!(pruned_any);
}

#[tokio::test]
async fn a_column_added_later_prunes_only_the_files_that_recorded_it() {
    // Run a's file predates `ttft_ms`: the log has no bounds for it there, so a filter
    // on it keeps that file, and its rows are NULL in the column.
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap(), HashMap::new()).unwrap();
    let first = rows("a", 0, 100, DAY, 0);
    let without = first.project(&[0, 1, 2]).unwrap();
    for (run, batch) in [("a", without), ("b", rows("b", 100, 100, DAY, 0))] {
        lake.append(
            "requests",
            vec![batch],
            &CommitKey::new(format!("ingest:{run}")),
            &[],
            false,
        )
        .await
        .unwrap();
    }
    let pruned = session(&lake, true).await;
    let every = session(&lake, false).await;
    for (filter, files, rows) in [
        ("ttft_ms > 1000", 1, 0),
        // Run b's file recorded no NULLs; run a's recorded nothing for the column.
        ("ttft_ms IS NULL", 1, 100),
        ("ttft_ms IS NOT NULL", 2, 100),
        ("ttft_ms >= 0", 2, 100),
    ] {
        let sql = format!("SELECT count(*) FROM requests WHERE {filter}");
        assert_eq!(count(&pruned, &sql).await, rows, "{filter}");
        assert_eq!(count(&every, &sql).await, rows, "{filter}");
        assert_eq!(files_read(&pruned, &sql).await, files, "{filter}");
    }
}

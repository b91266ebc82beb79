//! The lake's commit rules: atomic, idempotent per key, schema evolution, conflicts.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use datafusion::prelude::SessionContext;
use runlake_lake::{AppendOutcome, CommitKey, Error, Lake};

fn batch(ids: &[i64], latency: &[f64]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("request_index", DataType::Int64, false),
        Field::new("e2e_ms", DataType::Float64, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(Float64Array::from(latency.to_vec())),
        ],
    )
    .unwrap()
}

fn local_lake() -> (tempfile::TempDir, Lake) {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap(), HashMap::new()).unwrap();
    (dir, lake)
}

async fn count(lake: &Lake, sql: &str) -> i64 {
    let ctx = SessionContext::new_with_config(
        datafusion::prelude::SessionConfig::new()
            .with_default_catalog_and_schema("runlake", "public"),
    );
    lake.register(&ctx).await.unwrap();
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

#[tokio::test]
async fn appends_commit_once_per_key_and_are_queryable() {
    let (_dir, lake) = local_lake();
    let a = CommitKey::new("ingest:aaaa");
    let b = CommitKey::new("ingest:bbbb");
    assert!(!lake.is_committed("requests", &a).await.unwrap());

    let first = lake
        .append(
            "requests",
            vec![batch(&[0, 1, 2], &[10.0, 11.0, 12.0])],
            &a,
            &[],
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        first,
        AppendOutcome::Committed {
            version: 0,
            rows: 3
        }
    );
    assert!(lake.is_committed("requests", &a).await.unwrap());

    let again = lake
        .append(
            "requests",
            vec![batch(&[0, 1, 2], &[10.0, 11.0, 12.0])],
            &a,
            &[],
            false,
        )
        .await
        .unwrap();
    assert_eq!(again, AppendOutcome::AlreadyCommitted);

    let second = lake
        .append(
            "requests",
            vec![batch(&[3, 4], &[13.0, 14.0])],
            &b,
            &[],
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        second,
        AppendOutcome::Committed {
            version: 1,
            rows: 2
        }
    );

    assert_eq!(lake.table_names().await.unwrap(), ["requests"]);
    assert_eq!(
        count(&lake, "SELECT count(*) FROM runlake.public.requests").await,
        5
    );
    assert_eq!(
        count(&lake, "SELECT count(DISTINCT request_index) FROM requests").await,
        5
    );

    // A second process opening the same folder sees the same tables and keys.
    let reopened = Lake::open(lake.location().to_string().as_str(), HashMap::new()).unwrap();
    assert!(reopened.is_committed("requests", &b).await.unwrap());
    assert_eq!(count(&reopened, "SELECT count(*) FROM requests").await, 5);
}

#[tokio::test]
async fn memory_lakes_share_one_store_across_handles() {
    let url = "memory:///lake-share-test";
    let lake = Lake::open(url, HashMap::new()).unwrap();
    lake.append(
        "steps",
        vec![batch(&[1], &[1.0])],
        &CommitKey::new("k"),
        &[],
        false,
    )
    .await
    .unwrap();
    let other = Lake::open(url, HashMap::new()).unwrap();
    assert_eq!(other.table_names().await.unwrap(), ["steps"]);
    assert_eq!(count(&other, "SELECT count(*) FROM steps").await, 1);
    let elsewhere = Lake::open("memory:///another-lake", HashMap::new()).unwrap();
    assert!(elsewhere.table_names().await.unwrap().is_empty());
}

#[tokio::test]
async fn new_columns_are_added_and_type_conflicts_commit_nothing() {
    let (_dir, lake) = local_lake();
    lake.append(
        "runs",
        vec![batch(&[1, 2], &[5.0, 6.0])],
        &CommitKey::new("one"),
        &[],
        false,
    )
    .await
    .unwrap();

    // A new column: earlier rows read it as NULL.
    let schema = Arc::new(Schema::new(vec![
        Field::new("request_index", DataType::Int64, false),
        Field::new("e2e_ms", DataType::Float64, true),
        Field::new("label", DataType::Utf8, true),
    ]));
    let wider = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![3])),
            Arc::new(Float64Array::from(vec![7.0])),
            Arc::new(StringArray::from(vec!["baseline"])),
        ],
    )
    .unwrap();
    lake.append("runs", vec![wider], &CommitKey::new("two"), &[], false)
        .await
        .unwrap();
    assert_eq!(
        count(&lake, "SELECT count(*) FROM runs WHERE label IS NULL").await,
        2
    );
    assert_eq!(
        count(&lake, "SELECT count(*) FROM runs WHERE label = 'baseline'").await,
        1
    );

    // e2e_ms as text: refused, naming the table, and nothing is committed.
    let schema = Arc::new(Schema::new(vec![
        Field::new("request_index", DataType::Int64, false),
        Field::new("e2e_ms", DataType::Utf8, true),
    ]));
    let conflicting = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![4])),
            Arc::new(StringArray::from(vec!["slow"])),
        ],
    )
    .unwrap();
    let err = lake
        .append(
            "runs",
            vec![conflicting],
            &CommitKey::new("three"),
            &[],
            false,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TypeConflict(ref c) if c.table == "runs" && c.column == "e2e_ms"),
        "{err}"
    );
    assert!(
        !lake
            .is_committed("runs", &CommitKey::new("three"))
            .await
            .unwrap()
    );
    assert_eq!(count(&lake, "SELECT count(*) FROM runs").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_with_the_same_keys_commit_each_key_once() {
    let (_dir, lake) = local_lake();
    // Seed the table so both writers race on appends, not on creation.
    lake.append(
        "requests",
        vec![batch(&[-1], &[0.0])],
        &CommitKey::new("seed"),
        &[],
        false,
    )
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for writer in 0..2 {
        let lake = lake.clone();
        tasks.push(tokio::spawn(async move {
            let mut committed = 0;
            for key in 0..6i64 {
                let outcome = lake
                    .append(
                        "requests",
                        vec![batch(&[key * 10, key * 10 + 1], &[1.0, 2.0])],
                        &CommitKey::new(format!("file-{key}")),
                        &[],
                        false,
                    )
                    .await
                    .unwrap_or_else(|e| panic!("writer {writer}, key {key}: {e}"));
                if matches!(outcome, AppendOutcome::Committed { .. }) {
                    committed += 1;
                }
            }
            committed
        }));
    }
    let mut committed = 0;
    for t in tasks {
        committed += t.await.unwrap();
    }
    assert_eq!(committed, 6, "each key committed by exactly one writer");
    assert_eq!(count(&lake, "SELECT count(*) FROM requests").await, 1 + 12);
    assert_eq!(
        count(&lake, "SELECT count(DISTINCT request_index) FROM requests").await,
        1 + 12
    );
}

#[tokio::test]
async fn names_are_checked_and_tables_can_be_dropped() {
    let (dir, lake) = local_lake();
    for bad in ["Runs", "1runs", "my-table", "", "../x"] {
        let err = lake
            .append(
                bad,
                vec![batch(&[1], &[1.0])],
                &CommitKey::new("k"),
                &[],
                false,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidTableName(_)), "{bad}: {err}");
    }
    lake.append(
        "a",
        vec![batch(&[1], &[1.0])],
        &CommitKey::new("k"),
        &[],
        false,
    )
    .await
    .unwrap();
    lake.append(
        "b",
        vec![batch(&[1], &[1.0])],
        &CommitKey::new("k"),
        &[],
        false,
    )
    .await
    .unwrap();
    // A folder that is not a Delta table is not a table.
    std::fs::create_dir_all(dir.path().join("lake/notes")).unwrap();
    assert_eq!(lake.table_names().await.unwrap(), ["a", "b"]);
    lake.drop_table("a").await.unwrap();
    assert_eq!(lake.table_names().await.unwrap(), ["b"]);
    assert!(matches!(
        lake.drop_table("a").await.unwrap_err(),
        Error::TableNotFound(_)
    ));
    assert!(!dir.path().join("lake/a").join("_delta_log").exists());
    let provider = lake.provider("b").await.unwrap();
    assert_eq!(provider.schema().fields().len(), 2);
    assert!(provider.schema().field(0).data_type() == &DataType::Int64);
    let _ = Int64Array::from(vec![1]).len();
}

//! The lake's commit rules: atomic, idempotent per key, schema evolution, conflicts.

mod fuzz;

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
    for name in lake.table_names().await.unwrap() {
        let (provider, _) = lake
            .provider_at(&name, None, &ctx.runtime_env())
            .await
            .unwrap();
        ctx.register_table(name.as_str(), provider).unwrap();
    }
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

/// The data files of the commit with `version` in table `name` (its add actions).
fn added_files(lake_dir: &std::path::Path, name: &str, version: u64) -> usize {
    let log = lake_dir
        .join(name)
        .join("_delta_log")
        .join(format!("{version:020}.json"));
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("{\"add\""))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_appends_are_written_by_one_writer_per_core_in_one_commit() {
    let (dir, lake) = local_lake();
    let rows = 600_000;
    let cores = std::thread::available_parallelism().unwrap().get();
    let writers = (rows / (256 * 1024)).clamp(1, cores);
    // Ids in reverse order: the natural key sorts them, and each file holds a sorted run.
    let ids: Vec<i64> = (0..rows as i64).rev().collect();
    let latency: Vec<f64> = ids.iter().map(|&i| i as f64 * 0.5).collect();
    let halves = vec![
        batch(&ids[..rows / 2], &latency[..rows / 2]),
        batch(&ids[rows / 2..], &latency[rows / 2..]),
    ];
    let a = CommitKey::new("ingest:large-a");
    let first = lake
        .append("requests", halves.clone(), &a, &["request_index"], false)
        .await
        .unwrap();
    assert_eq!(first, AppendOutcome::Committed { version: 0, rows });
    assert_eq!(
        added_files(&dir.path().join("lake"), "requests", 0),
        writers
    );
    assert!(lake.is_committed("requests", &a).await.unwrap());

    // Into the existing table, without keys: the batches as they are.
    let b = CommitKey::new("ingest:large-b");
    let second = lake
        .append("requests", halves.clone(), &b, &[], false)
        .await
        .unwrap();
    assert_eq!(second, AppendOutcome::Committed { version: 1, rows });
    assert_eq!(
        added_files(&dir.path().join("lake"), "requests", 1),
        writers
    );
    let again = lake
        .append("requests", halves, &b, &[], false)
        .await
        .unwrap();
    assert_eq!(again, AppendOutcome::AlreadyCommitted);

    assert_eq!(
        count(&lake, "SELECT count(*) FROM requests").await,
        2 * rows as i64
    );
    assert_eq!(
        count(&lake, "SELECT count(DISTINCT request_index) FROM requests").await,
        rows as i64
    );
    // Every row kept its own latency: sum(e2e_ms * 2 - request_index) is 0.
    assert_eq!(
        count(
            &lake,
            "SELECT CAST(sum(e2e_ms * 2 - request_index) AS BIGINT) FROM requests"
        )
        .await,
        0
    );
    // The files' statistics are in the log: each add carries numRecords.
    let log = std::fs::read_to_string(
        dir.path()
            .join("lake/requests/_delta_log/00000000000000000001.json"),
    )
    .unwrap();
    let records: u64 = log
        .lines()
        .filter(|l| l.starts_with("{\"add\""))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let stats: serde_json::Value =
                serde_json::from_str(v["add"]["stats"].as_str().unwrap()).unwrap();
            stats["numRecords"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(records, rows as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_large_appends_racing_to_create_a_table_both_land() {
    let (_dir, lake) = local_lake();
    let rows = 600_000;
    let ids: Vec<i64> = (0..rows as i64).collect();
    let latency: Vec<f64> = ids.iter().map(|&i| i as f64).collect();
    let data = batch(&ids, &latency);
    let tasks: Vec<_> = ["ingest:race-a", "ingest:race-b"]
        .into_iter()
        .map(|key| {
            let (lake, data) = (lake.clone(), data.clone());
            tokio::spawn(async move {
                lake.append("requests", vec![data], &CommitKey::new(key), &[], false)
                    .await
            })
        })
        .collect();
    let mut versions = Vec::new();
    for task in tasks {
        match task.await.unwrap().unwrap() {
            AppendOutcome::Committed { version, rows: r } => {
                assert_eq!(r, rows);
                versions.push(version);
            }
            other => panic!("expected a commit, got {other:?}"),
        }
    }
    versions.sort();
    assert_eq!(versions, [0, 1]);
    assert_eq!(
        count(&lake, "SELECT count(*) FROM requests").await,
        2 * rows as i64
    );
}

#[test]
fn progress_counts_each_row_once_when_a_split_csv_is_read_again_in_one_go() {
    // Over 4 MiB, so the text is read in pieces; a bad row in a piece makes the reader
    // read the whole text again in one go.
    let rows = 500_000u64;
    let mut text = String::from("id,name,value_ms\n");
    for i in 0..rows {
        text.push_str(&format!("{i},name-{i},{i}.5\n"));
    }
    text.push_str("1,2,3,4\n");
    assert!(text.len() > 8 << 20, "several pieces");
    let source = runlake_ingest::Source::from_bytes(
        "big.csv".into(),
        text.into_bytes(),
        &Default::default(),
    )
    .unwrap();
    let progress = runlake_ingest::Progress::default();
    let options = runlake_ingest::Options {
        progress: Some(progress.clone()),
        ..Default::default()
    };
    let parsed = runlake_ingest::parse(&source, &options).unwrap();
    assert_eq!(parsed.records, rows as usize + 1);
    assert_eq!(parsed.rejects.len(), 1);
    assert_eq!(progress.rows(), rows);
}

#[tokio::test]
async fn a_handle_sees_commits_made_through_another_and_still_reads_old_versions() {
    let (dir, reader) = local_lake();
    let writer = Lake::open(dir.path().join("lake").to_str().unwrap(), HashMap::new()).unwrap();
    let append = |key: &'static str, ids: Vec<i64>| {
        let writer = writer.clone();
        async move {
            let latency: Vec<f64> = ids.iter().map(|&i| i as f64).collect();
            writer
                .append(
                    "steps",
                    vec![batch(&ids, &latency)],
                    &CommitKey::new(key),
                    &[],
                    false,
                )
                .await
                .unwrap()
        }
    };
    append("a", vec![1, 2]).await;
    // The reader's snapshot is cached here; without a newer commit it is used as is.
    assert_eq!(count(&reader, "SELECT count(*) FROM steps").await, 2);
    assert_eq!(count(&reader, "SELECT count(*) FROM steps").await, 2);
    append("b", vec![3, 4, 5]).await;
    assert_eq!(count(&reader, "SELECT count(*) FROM steps").await, 5);
    // A pin older than the cached version reads that version.
    let ctx = SessionContext::new_with_config(
        datafusion::prelude::SessionConfig::new()
            .with_default_catalog_and_schema("runlake", "public"),
    );
    let (provider, version) = reader
        .provider_at("steps", Some(0), &ctx.runtime_env())
        .await
        .unwrap();
    assert_eq!(version, 0);
    ctx.register_table("steps", provider).unwrap();
    let batches = ctx
        .sql("SELECT count(*) FROM steps")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(batches[0].column(0).as_primitive::<Int64Type>().value(0), 2);
    assert_eq!(count(&reader, "SELECT count(*) FROM steps").await, 5);
}

/// The encodings of each column chunk of the one file of `table` (its first row group).
async fn encodings_of(
    dir: &tempfile::TempDir,
    lake: &Lake,
    table: &str,
) -> HashMap<String, Vec<datafusion::parquet::basic::Encoding>> {
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};

    let files = lake.files_at(table, None).await.unwrap();
    assert_eq!(files.files.len(), 1);
    let name = files.files[0].0.rsplit('/').next().unwrap().to_string();
    let file = std::fs::File::open(dir.path().join("lake").join(table).join(name)).unwrap();
    let reader = SerializedFileReader::new(file).unwrap();
    let row_group = reader.metadata().row_group(0);
    (0..row_group.num_columns())
        .map(|i| row_group.column(i))
        .map(|c| (c.column_path().string(), c.encodings().collect()))
        .collect()
}

fn has_dictionary(encodings: &[datafusion::parquet::basic::Encoding]) -> bool {
    use datafusion::parquet::basic::Encoding;
    encodings
        .iter()
        .any(|e| matches!(e, Encoding::RLE_DICTIONARY | Encoding::PLAIN_DICTIONARY))
}

#[tokio::test]
async fn float_columns_are_written_without_a_dictionary() {
    let (dir, lake) = local_lake();
    // Distinct latencies, as real ones are: a dictionary would only fill up and fall back.
    let ids: Vec<i64> = (0..5000).map(|i| i % 7).collect();
    let latency: Vec<f64> = (0..5000).map(|i| i as f64 * 1.001).collect();
    lake.append(
        "requests",
        vec![batch(&ids, &latency)],
        &CommitKey::new("ingest:floats"),
        &[],
        false,
    )
    .await
    .unwrap();
    let encodings = encodings_of(&dir, &lake, "requests").await;
    assert!(!has_dictionary(&encodings["e2e_ms"]), "{encodings:?}");
    // Other columns keep parquet's default: seven distinct ids are a dictionary.
    assert!(has_dictionary(&encodings["request_index"]), "{encodings:?}");
}

#[tokio::test]
async fn time_columns_are_delta_encoded_and_full_integer_dictionaries_fall_back_to_it() {
    use datafusion::arrow::array::TimestampMicrosecondArray;
    use datafusion::arrow::datatypes::TimeUnit;
    use datafusion::parquet::basic::Encoding;

    let (dir, lake) = local_lake();
    // 200,000 distinct ids overflow a 1 MiB dictionary of 8-byte values (131,072 of them);
    // 50 queue depths fit in one; timestamps a few hundred microseconds apart.
    let rows = 200_000_i64;
    let ts: Vec<i64> = (0..rows)
        .map(|i| 1_792_108_800_000_000 + i * 373 + i % 11)
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("request_id", DataType::Int64, false),
        Field::new("queue_depth", DataType::Int64, false),
    ]));
    let columns: Vec<datafusion::arrow::array::ArrayRef> = vec![
        Arc::new(TimestampMicrosecondArray::from(ts.clone()).with_timezone("UTC")),
        Arc::new(Int64Array::from_iter_values(
            (0..rows).map(|i| i * 7919 % rows),
        )),
        Arc::new(Int64Array::from_iter_values((0..rows).map(|i| i % 50))),
    ];
    let batch = RecordBatch::try_new(schema, columns).unwrap();
    lake.append(
        "requests",
        vec![batch],
        &CommitKey::new("ingest:times"),
        &[],
        false,
    )
    .await
    .unwrap();
    let encodings = encodings_of(&dir, &lake, "requests").await;
    assert!(!has_dictionary(&encodings["ts"]), "{encodings:?}");
    assert!(
        encodings["ts"].contains(&Encoding::DELTA_BINARY_PACKED),
        "{encodings:?}"
    );
    assert!(
        has_dictionary(&encodings["request_id"])
            && encodings["request_id"].contains(&Encoding::DELTA_BINARY_PACKED),
        "{encodings:?}"
    );
    assert!(has_dictionary(&encodings["queue_depth"]), "{encodings:?}");
    assert!(
        !encodings["queue_depth"].contains(&Encoding::DELTA_BINARY_PACKED),
        "{encodings:?}"
    );
    // Every value reads back as written: the sums of the values and of their squares
    // (a permutation of 0..rows, so those are known) and the timestamps' bounds.
    assert_eq!(
        count(&lake, "SELECT sum(request_id) FROM requests").await,
        rows * (rows - 1) / 2
    );
    assert_eq!(
        count(&lake, "SELECT sum(queue_depth) FROM requests").await,
        (rows / 50) * (49 * 50 / 2)
    );
    assert_eq!(
        count(
            &lake,
            "SELECT CAST(max(ts) AS BIGINT) - CAST(min(ts) AS BIGINT) FROM requests"
        )
        .await,
        ts[ts.len() - 1] - ts[0]
    );
    assert_eq!(
        count(&lake, "SELECT count(DISTINCT ts) FROM requests").await,
        rows
    );
    assert_eq!(
        count(
            &lake,
            "SELECT sum(CAST(ts AS BIGINT) % 1000003) FROM requests"
        )
        .await,
        ts.iter().map(|t| t % 1_000_003).sum::<i64>()
    );
}

#[tokio::test]
async fn a_missing_table_and_missing_views_are_none_and_empty() {
    let (_dir, lake) = local_lake();
    assert!(lake.table("nothing_here").await.unwrap().is_none());
    assert!(lake.views().await.unwrap().is_empty());
    lake.save_view("v", Some("CREATE VIEW v AS SELECT 1 AS one"))
        .await
        .unwrap();
    assert_eq!(
        lake.views().await.unwrap(),
        [(
            "v".to_string(),
            "CREATE VIEW v AS SELECT 1 AS one".to_string()
        )]
    );
    // A second definition is seen at once, through the cache kept per version.
    lake.save_view("v", None).await.unwrap();
    assert!(lake.views().await.unwrap().is_empty());
}

#[tokio::test]
async fn every_tenth_commit_writes_a_checkpoint_and_a_fresh_reader_uses_it() {
    let (dir, lake) = local_lake();
    for i in 0..12_i64 {
        lake.append(
            "requests",
            vec![batch(&[i * 2, i * 2 + 1], &[1.0, 2.0])],
            &CommitKey::new(format!("ingest:{i:04}")),
            &[],
            false,
        )
        .await
        .unwrap();
    }
    let log = dir.path().join("lake/requests/_delta_log");
    let mut checkpoints: Vec<String> = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".checkpoint."))
        .collect();
    checkpoints.sort();
    // Versions 0-11: a checkpoint after the tenth commit (version 9) only.
    assert_eq!(checkpoints, ["00000000000000000009.checkpoint.parquet"]);
    let last: serde_json::Value =
        serde_json::from_slice(&std::fs::read(log.join("_last_checkpoint")).unwrap()).unwrap();
    assert_eq!(last["version"], 9, "{last}");
    // A reader opened now starts from the checkpoint and sees every row once.
    let reader = Lake::open(dir.path().join("lake").to_str().unwrap(), HashMap::new()).unwrap();
    assert_eq!(count(&reader, "SELECT count(*) FROM requests").await, 24);
    assert_eq!(
        count(&reader, "SELECT sum(request_index) FROM requests").await,
        (0..24).sum::<i64>()
    );
}

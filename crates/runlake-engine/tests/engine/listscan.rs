//! The level-based scan of flat list columns gives exactly what DataFusion's own Parquet
//! reader gives: NULL lists, empty lists, NULL elements, every element type it reads,
//! lists spanning pages, batches and row groups, file ranges and projections, in the
//! page layouts writers produce (dictionary or plain values, pages v1 or v2, compressed).

use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::array::{
    Array, ArrayRef, Float32Builder, Float64Builder, Int32Builder, Int64Array, Int64Builder,
    LargeListBuilder, ListBuilder, RecordBatch, StringArray, StringBuilder,
};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, Encoding};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
use datafusion::parquet::schema::types::ColumnPath;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use runlake_engine::sql::Session;

/// A small deterministic generator (no test depends on a random crate's sequence).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

/// `rows` rows: `id`, a nullable string, and lists of every shape the scan reads (NULL
/// lists, empty lists, NULL elements; required lists of required elements; large lists;
/// floats) plus a list of strings, which arrow-rs reads.
fn steps(rows: usize) -> RecordBatch {
    steps_seeded(rows, 7)
}

/// [`steps`] from another seed: other lengths, NULLs and values.
fn steps_seeded(rows: usize, seed: u64) -> RecordBatch {
    let mut rng = Lcg(seed);
    let mut name = StringBuilder::new();
    let mut a = ListBuilder::new(Int64Builder::new());
    let required = Field::new("element", DataType::Float64, false);
    let mut b = ListBuilder::new(Float64Builder::new()).with_field(Arc::new(required.clone()));
    let mut c = LargeListBuilder::new(Int32Builder::new());
    let mut d = ListBuilder::new(Float32Builder::new());
    let mut e = ListBuilder::new(StringBuilder::new());
    for row in 0..rows {
        match rng.next(10) {
            0 => name.append_null(),
            k => name.append_value(format!("rank-{k}")),
        }
        // a: 1 in 8 NULL, 1 in 8 empty, elements NULL 1 in 6.
        match rng.next(8) {
            0 => a.append(false),
            1 => a.append(true),
            _ => {
                for _ in 0..1 + rng.next(20) {
                    match rng.next(6) {
                        0 => a.values().append_null(),
                        _ => a.values().append_value(rng.next(4096) as i64 - 2048),
                    }
                }
                a.append(true);
            }
        }
        // b: never NULL, never empty, no NULL element (the dense path); long lists too.
        for _ in 0..1 + rng.next(if row % 97 == 0 { 3000 } else { 16 }) {
            b.values().append_value(rng.next(1_000_000) as f64 / 7.0);
        }
        b.append(true);
        match rng.next(5) {
            0 => c.append(false),
            _ => {
                for _ in 0..rng.next(5) {
                    c.values().append_value(rng.next(100) as i32);
                }
                c.append(true);
            }
        }
        for _ in 0..rng.next(4) {
            match rng.next(9) {
                0 => d.values().append_null(),
                _ => d.values().append_value(rng.next(1000) as f32 * 0.5),
            }
        }
        d.append(true);
        for _ in 0..rng.next(3) {
            e.values().append_value(format!("r{}", rng.next(50)));
        }
        e.append(rng.next(7) != 0);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(0..rows as i64)),
        Arc::new(name.finish()),
        Arc::new(a.finish()),
        Arc::new(b.finish()),
        Arc::new(c.finish()),
        Arc::new(d.finish()),
        Arc::new(e.finish()),
    ];
    let fields: Vec<Field> = ["id", "name", "a", "b", "c", "d", "e"]
        .iter()
        .zip(&columns)
        .map(|(n, c)| {
            let nullable = !matches!(*n, "id" | "b");
            Field::new(*n, c.data_type().clone(), nullable)
        })
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

/// The writer settings the scan must read alike: dictionary or plain values (and a
/// dictionary that overflows into plain pages mid-chunk), data pages v1 and v2,
/// compressed or not, DELTA_BINARY_PACKED integers and BYTE_STREAM_SPLIT floats (which
/// the level decoder does not decode: those files fall back to arrow-rs's reader), with
/// and without a page index, several row groups each.
fn layouts() -> Vec<(&'static str, WriterProperties)> {
    let path = |dotted: &str| ColumnPath::new(dotted.split('.').map(String::from).collect());
    let base = || {
        WriterProperties::builder()
            .set_max_row_group_row_count(Some(1500))
            .set_data_page_row_count_limit(100)
            .set_write_batch_size(64)
    };
    let int_lists = ["a.list.item", "c.list.item"];
    let float_lists = ["b.list.element", "d.list.item"];
    let mut delta = base().set_writer_version(WriterVersion::PARQUET_2_0);
    for column in int_lists {
        delta = delta
            .set_column_dictionary_enabled(path(column), false)
            .set_column_encoding(path(column), Encoding::DELTA_BINARY_PACKED);
    }
    let mut split = base();
    for column in float_lists {
        split = split
            .set_column_dictionary_enabled(path(column), false)
            .set_column_encoding(path(column), Encoding::BYTE_STREAM_SPLIT);
    }
    vec![
        ("dictionary, v1", base().build()),
        ("DELTA_BINARY_PACKED integers, v2", delta.build()),
        ("BYTE_STREAM_SPLIT floats, v1", split.build()),
        (
            "plain, v1, no page index, chunk statistics only",
            base()
                .set_dictionary_enabled(false)
                .set_statistics_enabled(EnabledStatistics::Chunk)
                .set_offset_index_disabled(true)
                .build(),
        ),
        (
            "plain, v2, snappy",
            base()
                .set_dictionary_enabled(false)
                .set_writer_version(WriterVersion::PARQUET_2_0)
                .set_compression(Compression::SNAPPY)
                .build(),
        ),
        (
            "dictionary overflowing to plain, v2",
            base()
                .set_dictionary_page_size_limit(256)
                .set_writer_version(WriterVersion::PARQUET_2_0)
                .build(),
        ),
        (
            "dictionary, v1, zstd, one page per chunk",
            base()
                .set_data_page_row_count_limit(usize::MAX)
                .set_data_page_size_limit(1 << 30)
                .set_compression(Compression::ZSTD(Default::default()))
                .build(),
        ),
    ]
}

/// Writes `batch` with small row groups and (unless `props` says otherwise) small pages,
/// so lists cross pages and batches.
fn write(path: &std::path::Path, batch: &RecordBatch, props: WriterProperties) {
    let file = std::fs::File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
}

async fn collect(ctx: &SessionContext, sql: &str) -> RecordBatch {
    let frame = ctx.sql(sql).await.unwrap();
    let schema = Arc::new(frame.schema().as_arrow().clone());
    let batches = frame.collect().await.unwrap();
    concat_batches(&schema, &batches).unwrap()
}

async fn explain(ctx: &SessionContext, sql: &str) -> String {
    let plan = collect(ctx, &format!("EXPLAIN {sql}")).await;
    let text = plan
        .column(1)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    text.iter().flatten().collect::<Vec<_>>().join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flat_lists_read_by_levels_match_datafusions_own_reader() {
    let dir = tempfile::tempdir().unwrap();
    let lake = runlake_lake::Lake::open(
        dir.path().join("lake").to_str().unwrap(),
        Default::default(),
    )
    .unwrap();
    let session = Session::open(lake).await.unwrap();
    let ours = session.ctx();
    let plain = SessionContext::new().enable_url_table();
    runlake_functions::register_all(&plain).unwrap();
    // Several partitions over the one file, so row groups are split by byte range.
    for ctx in [ours, &plain] {
        for set in [
            "SET datafusion.execution.target_partitions = 3",
            "SET datafusion.optimizer.repartition_file_min_size = 1",
            "SET datafusion.execution.batch_size = 1000",
        ] {
            ctx.sql(set).await.unwrap().collect().await.unwrap();
        }
    }

    for (i, (layout, props)) in layouts().into_iter().enumerate() {
        // Other random lists for each layout.
        let data = steps_seeded(5000, 7 + i as u64);
        let path = dir.path().join(format!("steps-{i}.parquet"));
        write(&path, &data, props);
        // The writer really used the layout's value encoding.
        let file = std::fs::File::open(&path).unwrap();
        let reader = SerializedFileReader::new(file).unwrap();
        let encodings: Vec<(String, Encoding)> = reader
            .metadata()
            .row_groups()
            .iter()
            .flat_map(|g| g.columns())
            .flat_map(|c| c.encodings().map(|e| (c.column_path().string(), e)))
            .collect();
        for (wanted, column) in [
            (Encoding::DELTA_BINARY_PACKED, "a.list.item"),
            (Encoding::BYTE_STREAM_SPLIT, "b.list.element"),
        ] {
            if layout.contains(&format!("{wanted}")) {
                assert!(
                    encodings.contains(&(column.to_string(), wanted)),
                    "{layout}: {encodings:?}"
                );
            }
        }
        assert!(reader.metadata().num_row_groups() >= 3, "{layout}");
        let f = path.display();
        let queries = [
            format!("SELECT * FROM '{f}' ORDER BY id"),
            format!("SELECT d, id, a, a AS again, name FROM '{f}' ORDER BY id"),
            format!("SELECT c, b FROM '{f}'"),
            format!("SELECT a, id FROM '{f}' LIMIT 7"),
            format!(
                "SELECT sum(list_mean(a)), sum(list_stddev_pop(b)), sum(array_length(c)), \
                 count(d), sum(cardinality(a)) FROM '{f}'"
            ),
            format!("SELECT id, a FROM '{f}' WHERE id % 3 = 0 ORDER BY id"),
        ];
        for sql in &queries {
            let plan = explain(ours, sql).await;
            if !sql.contains("WHERE") {
                assert!(plan.contains("lists=levels"), "{layout}: {sql}\n{plan}");
            }
            assert!(!explain(&plain, sql).await.contains("lists=levels"));
            let (got, want) = (collect(ours, sql).await, collect(&plain, sql).await);
            if sql.contains("LIMIT") || !sql.contains("ORDER BY") && !sql.contains("sum(") {
                // Unordered: the same rows, compared as a multiset of their text.
                assert_eq!(got.num_rows(), want.num_rows(), "{layout}: {sql}");
                assert_eq!(got.schema(), want.schema(), "{layout}: {sql}");
                let text = |b: &RecordBatch| {
                    let mut rows: Vec<String> = (0..b.num_rows())
                        .map(|i| format!("{:?}", b.slice(i, 1).columns()))
                        .collect();
                    rows.sort();
                    rows
                };
                if !sql.contains("LIMIT") {
                    assert_eq!(text(&got), text(&want), "{layout}: {sql}");
                }
            } else if sql.contains("sum(") {
                // Float sums: the partitions' partial sums add up in the order they finish.
                assert_eq!(got.schema(), want.schema(), "{layout}: {sql}");
                for (g, w) in got.columns().iter().zip(want.columns()) {
                    let (g, w) = (
                        cast(g, &DataType::Float64).unwrap(),
                        cast(w, &DataType::Float64).unwrap(),
                    );
                    let (g, w) = (
                        g.as_primitive::<Float64Type>(),
                        w.as_primitive::<Float64Type>(),
                    );
                    let (g, w) = (g.value(0), w.value(0));
                    assert!(
                        (g - w).abs() <= 1e-12 * w.abs(),
                        "{layout}: {sql}: {g} vs {w}"
                    );
                }
            } else {
                assert_eq!(got, want, "{layout}: {sql}");
            }
        }

        // The data is what was written, read back through the level scan.
        let back = collect(
            ours,
            &format!("SELECT id, a, b, c, d FROM '{f}' ORDER BY id"),
        )
        .await;
        for (i, name) in ["id", "a", "b", "c", "d"].iter().enumerate() {
            let written = data.column_by_name(name).unwrap();
            assert_eq!(
                back.column(i).to_data(),
                written.to_data(),
                "{layout}: column {name}"
            );
        }
        assert!(back.column(1).null_count() > 0 && back.column(3).null_count() > 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lake_tables_read_lists_by_levels_with_their_file_ids() {
    let dir = tempfile::tempdir().unwrap();
    let lake_dir = dir.path().join("lake");
    let lake = runlake_lake::Lake::open(lake_dir.to_str().unwrap(), Default::default()).unwrap();
    // Two commits, so two files: the Delta scan's file id column differs per file.
    // Without the large list: the lake stores it as a list.
    let all = steps(3000);
    let keep: Vec<usize> = ["id", "name", "a", "b", "d", "e"]
        .iter()
        .map(|n| all.schema().index_of(n).unwrap())
        .collect();
    let data = all.project(&keep).unwrap();
    for (i, part) in [data.slice(0, 1700), data.slice(1700, 1300)]
        .into_iter()
        .enumerate()
    {
        let key = runlake_lake::CommitKey::new(format!("test:{i}"));
        lake.append("steps", vec![part], &key, &[], false)
            .await
            .unwrap();
    }
    let session = Session::open(lake.clone()).await.unwrap();
    let ours = session.ctx();
    let plain = SessionContext::new_with_config(
        datafusion::prelude::SessionConfig::new()
            .with_default_catalog_and_schema("runlake", "public"),
    );
    // The lake's tables (deltalake's providers) without runlake's rules or options.
    let tables = runlake_engine::catalog::LakeSchema::open(
        lake.clone(),
        plain.runtime_env(),
        &std::collections::HashMap::new(),
        false,
    )
    .await
    .unwrap();
    plain
        .catalog("runlake")
        .unwrap()
        .register_schema("public", Arc::new(tables))
        .unwrap();
    runlake_functions::register_all(&plain).unwrap();

    for sql in [
        "SELECT id, name, a, b, d, e FROM steps ORDER BY id",
        "SELECT sum(list_mean(a)), sum(list_stddev_pop(b)), count(d) FROM steps",
    ] {
        let plan = explain(ours, sql).await;
        assert!(plan.contains("lists=levels"), "{sql}\n{plan}");
        assert_eq!(
            collect(ours, sql).await,
            collect(&plain, sql).await,
            "{sql}"
        );
    }
    // The lake names list elements `element`; the values are what was written.
    let back = collect(ours, "SELECT a FROM steps ORDER BY id").await;
    let written = cast(
        data.column_by_name("a").unwrap(),
        back.column(0).data_type(),
    )
    .unwrap();
    assert!(
        back.column(0).to_data() == written.to_data(),
        "column a differs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_options_turn_the_list_scan_and_the_integer_key_aggregate_off() {
    let dir = tempfile::tempdir().unwrap();
    let lake = runlake_lake::Lake::open(
        dir.path().join("lake").to_str().unwrap(),
        Default::default(),
    )
    .unwrap();
    let session = Session::open(lake).await.unwrap();
    let ctx = session.ctx();
    let path = dir.path().join("steps.parquet");
    write(&path, &steps(3000), layouts().remove(0).1);
    let scan = format!(
        "SELECT id, a, b, c, d FROM '{}' ORDER BY id",
        path.display()
    );
    let group = format!(
        "SELECT id % 100 AS k, pearson(id, list_mean(b)) AS r FROM '{}' GROUP BY id % 100 ORDER BY k",
        path.display()
    );
    let setting = |name: &str| {
        let sql = format!("SELECT value FROM information_schema.df_settings WHERE name = '{name}'");
        async move {
            let b = collect(ctx, &sql).await;
            b.column(0).as_string::<i32>().value(0).to_string()
        }
    };
    assert_eq!(setting("runlake.execution.list_scan").await, "true");
    assert!(explain(ctx, &scan).await.contains("lists=levels"));
    assert!(explain(ctx, &group).await.contains("IntKeyAggregateExec"));
    let (with_scan, with_groups) = (collect(ctx, &scan).await, collect(ctx, &group).await);

    for set in [
        "SET runlake.execution.list_scan = false",
        "SET runlake.execution.int_key_aggregate = false",
    ] {
        collect(ctx, set).await;
    }
    assert_eq!(setting("runlake.execution.list_scan").await, "false");
    assert_eq!(
        setting("runlake.execution.int_key_aggregate").await,
        "false"
    );
    assert!(!explain(ctx, &scan).await.contains("lists=levels"));
    assert!(!explain(ctx, &group).await.contains("IntKeyAggregateExec"));
    assert_eq!(collect(ctx, &scan).await, with_scan);
    let without = collect(ctx, &group).await;
    assert_eq!(without.column(0), with_groups.column(0));
    let (a, b) = (
        without.column(1).as_primitive::<Float64Type>(),
        with_groups.column(1).as_primitive::<Float64Type>(),
    );
    for i in 0..a.len() {
        assert!((a.value(i) - b.value(i)).abs() <= 1e-12, "group {i}");
    }

    // A value that is not a boolean, or an option that does not exist, is refused.
    let err = ctx
        .sql("SET runlake.execution.list_scan = sometimes")
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("is not a boolean"), "{err}");
    let err = ctx
        .sql("SET runlake.execution.fast = true")
        .await
        .expect_err("refused");
    assert!(
        err.to_string().contains("runlake.execution.list_scan"),
        "{err}"
    );
}

/// Runs `sql` on a task of its own: a panic in the scan comes back as `Err`.
async fn outcome(ctx: &SessionContext, sql: &str) -> Result<Result<RecordBatch, String>, String> {
    let (ctx, sql) = (ctx.clone(), sql.to_string());
    tokio::spawn(async move {
        let frame = ctx.sql(&sql).await.map_err(|e| e.to_string())?;
        let schema = Arc::new(frame.schema().as_arrow().clone());
        let batches = frame.collect().await.map_err(|e| e.to_string())?;
        Ok(concat_batches(&schema, &batches).unwrap())
    })
    .await
    .map_err(|e| format!("the query panicked: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_and_byte_flipped_files_fail_cleanly_or_read_as_arrow_rs_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let lake = runlake_lake::Lake::open(
        dir.path().join("lake").to_str().unwrap(),
        Default::default(),
    )
    .unwrap();
    let session = Session::open(lake).await.unwrap();
    let ours = session.ctx();
    let plain = SessionContext::new().enable_url_table();
    runlake_functions::register_all(&plain).unwrap();
    // Statistics are not gathered at planning, so the scan is what reads each footer.
    for ctx in [ours, &plain] {
        collect(ctx, "SET datafusion.execution.collect_statistics = false").await;
    }
    let good = dir.path().join("good.parquet");
    let data = steps(2000);
    write(&good, &data, layouts().remove(0).1);
    let schema = data.schema().as_ref().clone();
    let bytes = std::fs::read(&good).unwrap();
    let mut rng = Lcg(11);
    let mut variants: Vec<(String, Vec<u8>)> = [bytes.len() / 2, bytes.len() - 9, 4096, 12]
        .iter()
        .map(|&n| (format!("truncated to {n} bytes"), bytes[..n].to_vec()))
        .collect();
    for _ in 0..40 {
        let mut flipped = bytes.clone();
        let at = rng.next(bytes.len() as u64) as usize;
        flipped[at] ^= 1 << rng.next(8);
        variants.push((format!("bit flipped at byte {at}"), flipped));
    }
    let (mut errors, mut same) = (0, 0);
    for (i, (what, data)) in variants.iter().enumerate() {
        let path = dir.path().join(format!("bad-{i}.parquet"));
        std::fs::write(&path, data).unwrap();
        // Registered with the good file's schema, so the scan (not schema inference at
        // planning) is what reads the damaged footer and pages.
        let table = format!("bad{i}");
        for ctx in [ours, &plain] {
            let options = ParquetReadOptions::default().schema(&schema);
            ctx.register_parquet(&table, path.to_str().unwrap(), options)
                .await
                .unwrap();
        }
        let sql = format!("SELECT id, a, b, c, d FROM {table} ORDER BY id");
        let got = outcome(ours, &sql).await;
        let want = outcome(&plain, &sql).await;
        match (got, want) {
            (Err(panic), _) => panic!("{what}: {panic}"),
            (Ok(Ok(got)), Ok(Ok(want))) => {
                assert_eq!(got, want, "{what}: a different answer from arrow-rs");
                same += 1;
            }
            (Ok(Ok(_)), want) => panic!("{what}: read, where arrow-rs gives {want:?}"),
            (Ok(Err(e)), _) => {
                let name = format!("bad-{i}.parquet");
                assert!(e.contains(&name), "{what}: the error names the file: {e}");
                errors += 1;
            }
        }
    }
    assert!(
        errors >= 4,
        "every truncation fails: {errors} errors, {same} alike"
    );
}

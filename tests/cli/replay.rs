//! The call sequences of the Flight SQL JDBC driver (DBeaver, Tableau) and of Grafana's
//! FlightSQL data source, replayed with arrow-flight's Flight SQL client (their own
//! binaries cannot be installed here). Each step is what those clients send, in order;
//! see FLIGHTSQL.md-style notes in the README's "Connect a BI tool".

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{CommandGetTables, SqlInfo};
use arrow_flight::{Action, FlightInfo, IpcMessage};
use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use futures::TryStreamExt;
use prost::Message;
use runlake_proto::v1 as proto;
use tonic::transport::Channel;

use super::ok;
use super::serve::{Server, demo_lake};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn connect(server: &Server) -> FlightSqlServiceClient<Channel> {
    let address = server.uri.replace("grpc://", "http://");
    let channel = Channel::from_shared(address)
        .unwrap()
        .connect()
        .await
        .unwrap();
    FlightSqlServiceClient::new(channel)
}

async fn fetch(
    client: &mut FlightSqlServiceClient<Channel>,
    info: FlightInfo,
) -> (Arc<Schema>, Vec<RecordBatch>) {
    assert_eq!(info.endpoint.len(), 1, "one endpoint per query");
    let endpoint = &info.endpoint[0];
    assert!(
        endpoint.location.is_empty(),
        "no location: the same connection"
    );
    let advertised = Arc::new(info.clone().try_decode_schema().unwrap());
    let stream = client
        .do_get(endpoint.ticket.clone().unwrap())
        .await
        .unwrap();
    let batches: Vec<RecordBatch> = stream.try_collect().await.unwrap();
    for b in &batches {
        assert_eq!(
            b.schema(),
            advertised,
            "streamed schema differs from the FlightInfo's"
        );
    }
    (advertised, batches)
}

fn users_file(dir: &std::path::Path) -> String {
    let path = dir.join("users.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_runlake"))
        .args(["users", "add", "analyst", "--role", "read", "--file"])
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "pa55word").unwrap();
    assert!(child.wait().unwrap().success());
    path.to_str().unwrap().to_string()
}

/// JDBC: `user`/`password` handshake, `catalog` session option, DatabaseMetaData from
/// GetSqlInfo, getColumns from GetTables with field metadata, then every statement
/// prepared (CreatePreparedStatement, bind, GetFlightInfo, DoGet, Close).
#[test]
fn the_jdbc_driver_sequence() {
    let dir = demo_lake();
    let users = users_file(dir.path());
    let server = Server::start(dir.path(), &["--users", &users]);
    runtime().block_on(async {
        let mut client = connect(&server).await;
        client.handshake("analyst", "pa55word").await.unwrap();

        // `catalog=runlake` in the URL: SetSessionOptions at connect.
        let request = proto::SetSessionOptionsRequest {
            session_options: [(
                "catalog".to_string(),
                proto::SessionOptionValue {
                    option_value: Some(proto::session_option_value::OptionValue::StringValue(
                        "runlake".into(),
                    )),
                },
            )]
            .into_iter()
            .collect(),
        };
        let results: Vec<arrow_flight::Result> = client
            .do_action(Action::new("SetSessionOptions", request.encode_to_vec()))
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let answer = proto::SetSessionOptionsResult::decode(results[0].body.clone()).unwrap();
        assert!(answer.errors.is_empty(), "{answer:?}");

        // DatabaseMetaData: every SqlInfo the driver may ask for is answered.
        let info = client.get_sql_info(vec![]).await.unwrap();
        let (_, batches) = fetch(&mut client, info).await;
        let names: Vec<u32> = batches
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_primitive::<datafusion::arrow::datatypes::UInt32Type>()
                    .values()
                    .to_vec()
            })
            .collect();
        // The whole standard set: 0-11, 100-101, 500-576.
        let standard: Vec<u32> = (0..=11).chain(100..=101).chain(500..=576).collect();
        for id in &standard {
            let known = SqlInfo::try_from(*id as i32).map(|i| format!("{i:?}"));
            assert!(names.contains(id), "SqlInfo {id} ({known:?}) is not answered");
        }
        assert_eq!(names.len(), standard.len());

        // getColumns("predictions").
        let info = client
            .get_tables(CommandGetTables {
                catalog: Some("runlake".into()),
                db_schema_filter_pattern: Some("public".into()),
                table_name_filter_pattern: Some("predictions".into()),
                table_types: vec![],
                include_schema: true,
            })
            .await
            .unwrap();
        let (_, batches) = fetch(&mut client, info).await;
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
        let bytes = batches[0].column(4).as_binary::<i32>().value(0).to_vec();
        let columns = Schema::try_from(IpcMessage(bytes.into())).unwrap();
        let field = columns.field_with_name("actual_ms").unwrap();
        let meta: BTreeMap<&str, &str> = field
            .metadata()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(meta["ARROW:FLIGHT:SQL:TYPE_NAME"], "DOUBLE");
        assert_eq!(meta["ARROW:FLIGHT:SQL:TABLE_NAME"], "predictions");
        assert_eq!(meta["ARROW:FLIGHT:SQL:PRECISION"], "53");
        let text = columns.field_with_name("framework").unwrap();
        assert_eq!(text.data_type(), &DataType::Utf8);
        assert_eq!(text.metadata()["ARROW:FLIGHT:SQL:TYPE_NAME"], "VARCHAR");

        // executeQuery with a parameter: prepared, bound, run, closed.
        let mut prepared = client
            .prepare(
                "SELECT phase, count(*) AS n FROM predictions WHERE framework = ? GROUP BY phase ORDER BY phase"
                    .into(),
                None,
            )
            .await
            .unwrap();
        assert_eq!(prepared.parameter_schema().unwrap().fields().len(), 1);
        let dataset = prepared.dataset_schema().unwrap().clone();
        let parameters = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("0", DataType::Utf8, true)])),
            vec![Arc::new(StringArray::from(vec!["SGLang"]))],
        )
        .unwrap();
        prepared.set_parameters(parameters).unwrap();
        let info = prepared.execute().await.unwrap();
        let (schema, batches) = fetch(&mut client, info).await;
        assert_eq!(schema.as_ref(), &dataset, "prepared dataset schema = streamed schema");
        let rows: Vec<(String, i64)> = batches
            .iter()
            .flat_map(|b| {
                let phase = b.column(0).as_string::<i32>().clone();
                let n = b
                    .column(1)
                    .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                    .clone();
                (0..b.num_rows())
                    .map(|i| (phase.value(i).to_string(), n.value(i)))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(rows, vec![("decode".to_string(), 300), ("prefill".to_string(), 300)]);
        prepared.close().await.unwrap();

        // A reader's executeUpdate is refused with PERMISSION_DENIED.
        let denied = client
            .execute_update("CREATE TABLE t AS SELECT 1 AS a".into(), None)
            .await
            .unwrap_err()
            .to_string();
        assert!(denied.contains("PermissionDenied") || denied.contains("permission"), "{denied}");
    });
}

/// Grafana: GetSqlInfo with an empty list, the table list filtered on
/// `["BASE TABLE", "table"]`, columns from the first row's schema, then a macro-expanded
/// query through GetFlightInfo(CommandStatementQuery) that must have exactly one endpoint.
#[test]
fn the_grafana_data_source_sequence() {
    let dir = demo_lake();
    let users = users_file(dir.path());
    let server = Server::start(dir.path(), &["--users", &users]);
    runtime().block_on(async {
        let mut client = connect(&server).await;
        client.handshake("analyst", "pa55word").await.unwrap();
        let info = client.get_sql_info(vec![]).await.unwrap();
        fetch(&mut client, info).await;

        let info = client
            .get_tables(CommandGetTables {
                catalog: None,
                db_schema_filter_pattern: None,
                table_name_filter_pattern: None,
                table_types: vec!["BASE TABLE".into(), "table".into()],
                include_schema: false,
            })
            .await
            .unwrap();
        let (schema, batches) = fetch(&mut client, info).await;
        assert_eq!(schema.fields().len(), 4, "without include_schema: exactly 4 columns");
        let tables: Vec<String> = batches
            .iter()
            .flat_map(|b| {
                let names = b.column(2).as_string::<i32>().clone();
                (0..b.num_rows()).map(move |i| names.value(i).to_string())
            })
            .collect();
        for t in ["predictions", "runs", "requests", "steps", "spans"] {
            assert!(tables.contains(&t.to_string()), "{t} not in {tables:?}");
        }
        assert!(!tables.iter().any(|t| t == "tables"), "information_schema views are not BASE TABLEs");

        let info = client
            .get_tables(CommandGetTables {
                catalog: None,
                db_schema_filter_pattern: None,
                table_name_filter_pattern: Some("runs".into()),
                table_types: vec![],
                include_schema: true,
            })
            .await
            .unwrap();
        let (schema, batches) = fetch(&mut client, info).await;
        assert_eq!(schema.fields().len(), 5, "with include_schema: exactly 5 columns");
        let bytes = batches[0].column(4).as_binary::<i32>().value(0).to_vec();
        let columns = Schema::try_from(IpcMessage(bytes.into())).unwrap();
        assert_eq!(
            columns.field_with_name("started_at").unwrap().data_type(),
            &DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
        );

        // $__timeGroup(started_at, 1m) as the plugin's macros expand it.
        let info = client
            .execute(
                "SELECT date_bin(interval '60 second', started_at, timestamp '1970-01-01T00:00:00Z') AS time, \
                 avg(mean_ttft_ms) AS ttft FROM runs WHERE tool = 'vllm-bench' GROUP BY 1 ORDER BY 1"
                    .into(),
                None,
            )
            .await
            .unwrap();
        let (schema, batches) = fetch(&mut client, info).await;
        assert_eq!(
            schema.field(0).data_type(),
            &DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
        );
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 8, "one bucket per vLLM run start");
        assert!(batches.iter().all(|b| b.column(1).null_count() == 0));
    });
    // The same query from the command line agrees on the count of buckets.
    let local = ok(
        dir.path(),
        &[
            "sql",
            "--format",
            "csv",
            "SELECT count(DISTINCT date_bin(interval '60 second', started_at, timestamp '1970-01-01T00:00:00Z')) AS n FROM runs WHERE tool = 'vllm-bench'",
        ],
    );
    assert_eq!(local, "n\n8\n");
}

/// The standard gRPC health service answers SERVING for the Flight service and overall.
#[test]
fn the_health_service_says_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    runtime().block_on(async {
        let address = server.uri.replace("grpc://", "http://");
        let channel = Channel::from_shared(address)
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
        for service in ["", "arrow.flight.protocol.FlightService"] {
            let status = health
                .check(tonic_health::pb::HealthCheckRequest {
                    service: service.into(),
                })
                .await
                .unwrap()
                .into_inner()
                .status;
            assert_eq!(
                status,
                tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
                "service {service:?}"
            );
        }
    });
}

/// A token past its lifetime is refused with UNAUTHENTICATED, saying so.
#[test]
fn an_expired_token_is_refused() {
    let dir = demo_lake();
    let users = users_file(dir.path());
    let server = Server::start(dir.path(), &["--users", &users, "--token-ttl", "0s"]);
    runtime().block_on(async {
        let mut client = connect(&server).await;
        client.handshake("analyst", "pa55word").await.unwrap();
        let error = client.get_sql_info(vec![]).await.unwrap_err().to_string();
        assert!(
            error.contains("valid authentication credentials") && error.contains("has expired"),
            "{error}"
        );
    });
}

/// A ticket reads the table versions it was planned against: rows and columns committed
/// between GetFlightInfo and DoGet do not show up in it (nor break its schema).
#[test]
fn a_ticket_reads_the_versions_it_was_planned_against() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t1.csv"),
        "framework,latency_ms\nvLLM,1.5\nSGLang,2.5\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("t2.csv"),
        "framework,latency_ms,gpu\nvLLM,3.5,H100\n",
    )
    .unwrap();
    ok(dir.path(), &["ingest", "--table", "lat", "t1.csv"]);
    let server = Server::start(dir.path(), &[]);
    runtime().block_on(async {
        let mut client = connect(&server).await;
        let before = client
            .execute("SELECT * FROM lat".into(), None)
            .await
            .unwrap();
        ok(dir.path(), &["ingest", "--table", "lat", "t2.csv"]);
        let (schema, batches) = fetch(&mut client, before).await;
        assert_eq!(schema.fields().len(), 5, "{schema:?}"); // framework, latency_ms, provenance
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
        let after = client
            .execute("SELECT * FROM lat".into(), None)
            .await
            .unwrap();
        let (schema, batches) = fetch(&mut client, after).await;
        assert!(schema.field_with_name("gpu").is_ok(), "{schema:?}");
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
    });
}

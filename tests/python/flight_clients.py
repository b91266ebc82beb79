"""Drives runlake's Flight SQL server with clients nobody here wrote, and prints what they
saw as one JSON object on standard output (the Rust tests assert on it).

Usage: python flight_clients.py SCENARIO URI [USER PASSWORD]

Scenarios:
  adbc      the ADBC Flight SQL driver through DB-API: query with runlake functions,
            prepared query with parameters, executemany, adbc_get_objects,
            adbc_get_table_schema, adbc_ingest, DDL, errors
  denied    a read-only user's writes, and a wrong password
  pyarrow   raw pyarrow.flight: basic-token handshake, GetFlightInfo/DoGet of a Flight SQL
            command, schema identity between FlightInfo and the stream, actions
  sqlalchemy flightsql-dbapi's SQLAlchemy dialect (Superset's path): inspector and query
  certs DIR make a CA, a server certificate for 127.0.0.1 and a client certificate
  tls       (USER = the certs folder) TLS with and without the client certificate
  load      (USER PASSWORD = CLIENTS OPERATIONS) concurrent clients mixing queries and
            ingests
  query     (USER = SQL) one query through ADBC, its rows as lists (times as text);
            a user and password may follow the SQL
  limits    a query over its memory, one over its time, one queued out, each failing
            alone; system.queries records them
  stale     a statement prepared, then a commit and a view change from another cursor,
            then the statement executed: it reads the commit and the new view
"""
import json
import sys


def adbc(uri, user, password):
    import adbc_driver_flightsql.dbapi as flightsql

    kwargs = {}
    if user:
        kwargs["db_kwargs"] = {"username": user, "password": password}
    out = {}
    with flightsql.connect(uri, **kwargs) as conn:
        cur = conn.cursor()
        cur.execute(
            "SELECT framework, pearson(predicted_ms, actual_ms) AS r, mape(actual_ms, predicted_ms) AS m "
            "FROM predictions GROUP BY framework ORDER BY framework"
        )
        out["accuracy"] = [list(r) for r in cur.fetchall()]
        cur.execute(
            "SELECT count(*) AS n, sum(actual_ms) AS s FROM predictions WHERE framework = ? AND batch_size > ?",
            ("vLLM", 8),
        )
        out["prepared"] = [list(r) for r in cur.fetchall()]
        cur.execute("SELECT 'it''s ?' AS text, ? AS value", (41.5,))
        out["literal_question_mark"] = [list(r) for r in cur.fetchall()]
        out["table_schema"] = [
            [f.name, str(f.type)] for f in conn.adbc_get_table_schema("predictions")
        ]
        objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
        out["objects"] = sorted(
            [c["catalog_name"], s["db_schema_name"], t["table_name"], t["table_type"]]
            for c in objects
            for s in c["catalog_db_schemas"]
            for t in s["db_schema_tables"]
            if s["db_schema_name"] == "public"
        )
        out["table_types"] = sorted(conn.adbc_get_table_types())
        import pandas as pd

        data = pd.DataFrame({"Framework": ["vLLM", "SGLang"], "Latency (ms)": [1.5, 2.5]})
        out["ingested"] = cur.adbc_ingest("uploads", data, mode="create_append")
        out["ingested_again"] = cur.adbc_ingest("uploads", data, mode="create_append")
        cur.executemany(
            "INSERT INTO uploads (framework, latency_ms) VALUES (?, ?)",
            [("TensorRT-LLM", 3.0), ("llama.cpp", 4.0), ("Deepspeed", 5.5)],
        )
        # One row that does not fit its column fails the whole batch.
        try:
            cur.executemany(
                "INSERT INTO uploads (framework, latency_ms) VALUES (?, ?)",
                [("kept-if-partial", "6.5"), ("refused", "slow")],
            )
            out["bad_batch"] = "no error"
        except Exception as e:
            out["bad_batch"] = str(e)
        cur.execute("SELECT framework, latency_ms, _source FROM uploads ORDER BY latency_ms")
        out["uploads"] = [list(r) for r in cur.fetchall()]
        cur.execute("CREATE VIEW slow AS SELECT framework FROM uploads WHERE latency_ms > 2")
        out["create_view"] = [list(r) for r in cur.fetchall()]
        cur.execute("SELECT count(*) FROM slow")
        out["view_rows"] = cur.fetchall()[0][0]
        try:
            cur.execute("SELECT * FROM no_such_table")
            out["missing_table"] = "no error"
        except Exception as e:  # the driver's own error type
            out["missing_table"] = str(e)
        try:
            cur.execute("SELEC 1")
            out["bad_sql"] = "no error"
        except Exception as e:
            out["bad_sql"] = str(e)
    print(json.dumps(out))


def denied(uri, user, password):
    import adbc_driver_flightsql.dbapi as flightsql
    import pyarrow as pa

    out = {}
    with flightsql.connect(uri, db_kwargs={"username": user, "password": password}) as conn:
        cur = conn.cursor()
        cur.execute("SELECT count(*) FROM predictions")
        out["read"] = cur.fetchall()[0][0]
        for name, action in [
            ("ingest", lambda: cur.adbc_ingest("x", pa.table({"a": [1]}), mode="create_append")),
            ("create", lambda: cur.execute("CREATE TABLE y AS SELECT 1 AS a")),
            ("drop", lambda: cur.execute("DROP TABLE predictions")),
        ]:
            try:
                action()
                out[name] = "allowed"
            except Exception as e:
                out[name] = str(e)
    try:
        with flightsql.connect(uri, db_kwargs={"username": user, "password": password + "x"}) as conn:
            conn.cursor().execute("SELECT 1")
        out["wrong_password"] = "allowed"
    except Exception as e:
        out["wrong_password"] = str(e)
    print(json.dumps(out))


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(number, payload):
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _command(name, query):
    """A Flight SQL command packed in google.protobuf.Any (field 1 is the query)."""
    message = _field(1, query.encode()) if query is not None else b""
    type_url = ("type.googleapis.com/arrow.flight.protocol.sql." + name).encode()
    return _field(1, type_url) + _field(2, message)


def pyarrow_flight(uri, user, password):
    import pyarrow.flight as fl

    client = fl.FlightClient(uri)
    options = fl.FlightCallOptions()
    out = {}
    if user:
        header = client.authenticate_basic_token(user, password)
        out["token_header"] = header[0].decode()
        options = fl.FlightCallOptions(headers=[header])
    out["actions"] = sorted(a.type for a in client.list_actions(options=options))
    queries = {
        "aggregate": "SELECT framework, count(*) AS n, avg(actual_ms) AS mean_ms FROM predictions GROUP BY framework",
        "statistics": "SELECT max(actual_ms) AS mx, min(predicted_ms) AS mn FROM predictions",
        "lists": "SELECT run_id, itl_ms, started_at FROM requests LIMIT 3",
        "empty": "SELECT * FROM runs WHERE false",
    }
    for name, sql in queries.items():
        info = client.get_flight_info(
            fl.FlightDescriptor.for_command(_command("CommandStatementQuery", sql)), options
        )
        table = client.do_get(info.endpoints[0].ticket, options).read_all()
        out[name] = {
            "endpoints": len(info.endpoints),
            "locations": sum(len(e.locations) for e in info.endpoints),
            "same_schema": info.schema.equals(table.schema, check_metadata=False),
            "rows": table.num_rows,
            "schema": [[f.name, str(f.type), f.nullable] for f in table.schema],
        }
    info = client.get_flight_info(
        fl.FlightDescriptor.for_command(_command("CommandGetTableTypes", None)), options
    )
    out["table_types"] = client.do_get(info.endpoints[0].ticket, options).read_all().to_pylist()
    result = list(client.do_action(fl.Action("GetSessionOptions", b""), options))
    out["session_options_bytes"] = len(result[0].body.to_pybytes())
    print(json.dumps(out))


def limits(uri, user, password):
    """Run against a server started with --query-memory-limit 8MB --query-timeout 2s
    --max-concurrent-queries 1 --queue-timeout 1s."""
    import pyarrow.flight as fl

    client = fl.FlightClient(uri)
    out = {}

    def run(sql):
        info = client.get_flight_info(
            fl.FlightDescriptor.for_command(_command("CommandStatementQuery", sql))
        )
        return client.do_get(info.endpoints[0].ticket)

    def outcome(sql):
        try:
            return {"rows": run(sql).read_all().num_rows}
        except Exception as e:
            return {"error": type(e).__name__, "message": str(e)}

    out["over_memory"] = outcome("SELECT array_agg(value) FROM generate_series(1, 3000000)")
    out["after_memory"] = outcome("SELECT count(*) FROM predictions")
    out["over_time"] = outcome("SELECT sum(value) FROM generate_series(1, 100000000000)")
    out["after_time"] = outcome("SELECT count(*) FROM predictions")
    # Hold the one slot with a stream that has started, then ask again.
    held = run("SELECT value FROM generate_series(1, 10000000)")
    held.read_chunk()
    out["queued_out"] = outcome("SELECT 1 AS one")
    held.cancel()
    del held
    out["after_queue"] = outcome("SELECT 1 AS one")
    table = run(
        "SELECT status, count(*) AS n FROM system.queries GROUP BY status ORDER BY status"
    ).read_all()
    out["statuses"] = {r["status"]: r["n"] for r in table.to_pylist()}
    out["ingests_rows"] = run("SELECT count(*) AS n FROM system.ingests").read_all().to_pylist()[0]["n"]
    print(json.dumps(out))


def certs(directory, *_):
    """Makes a CA, a server certificate for 127.0.0.1 and a client certificate."""
    import datetime
    import ipaddress
    import os

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write(file, data):
        with open(os.path.join(directory, file), "wb") as f:
            f.write(data)

    def key_pem(key):
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("runlake test CA"))
        .issuer_name(name("runlake test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    write("ca.pem", ca.public_bytes(serialization.Encoding.PEM))
    for who, usage, san in [
        ("server", ExtendedKeyUsageOID.SERVER_AUTH, True),
        ("client", ExtendedKeyUsageOID.CLIENT_AUTH, False),
    ]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(f"runlake test {who}"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if san:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        write(f"{who}.pem", cert.public_bytes(serialization.Encoding.PEM))
        write(f"{who}.key", key_pem(key))
    print(json.dumps({"dir": directory}))


def tls(uri, directory, _password):
    """Connects over TLS with the test CA: with the client certificate, and without."""
    import os

    import adbc_driver_flightsql.dbapi as flightsql

    def read(file):
        with open(os.path.join(directory, file)) as f:
            return f.read()

    prefix = "adbc.flight.sql.client_option."
    options = {prefix + "tls_root_certs": read("ca.pem")}
    out = {}
    with_cert = dict(options)
    with_cert[prefix + "mtls_cert_chain"] = read("client.pem")
    with_cert[prefix + "mtls_private_key"] = read("client.key")
    with flightsql.connect(uri, db_kwargs=with_cert) as conn:
        cur = conn.cursor()
        cur.execute("SELECT count(*) FROM predictions")
        out["with_client_cert"] = cur.fetchall()[0][0]
    try:
        with flightsql.connect(uri, db_kwargs=options) as conn:
            cur = conn.cursor()
            cur.execute("SELECT count(*) FROM predictions")
            out["without_client_cert"] = cur.fetchall()[0][0]
    except Exception as e:
        out["without_client_cert"] = str(e)
    print(json.dumps(out))


def load(uri, clients, operations):
    """CLIENTS concurrent ADBC connections run OPERATIONS operations between them: queries
    with runlake functions, prepared queries with parameters, and (one in 20) bulk ingests
    of a few rows each. Reports errors, rows ingested and the rate."""
    import threading
    import time

    import adbc_driver_flightsql.dbapi as flightsql
    import pyarrow as pa

    clients, operations = int(clients), int(operations)
    frameworks = ["vLLM", "SGLang", "TensorRT-LLM", "llama.cpp", "Deepspeed", "DeepSpeed-MII"]
    lock = threading.Lock()
    state = {
        "next": 0,
        "errors": [],
        "queries": 0,
        "ingests": 0,
        "ingested_rows": 0,
        "checks": 0,
        "aggregates": 0,
    }

    def take():
        with lock:
            if state["next"] >= operations:
                return None
            state["next"] += 1
            return state["next"] - 1

    def worker():
        try:
            conn = flightsql.connect(uri)
        except Exception as e:
            with lock:
                state["errors"].append(f"connect: {e}")
            return
        cur = conn.cursor()
        while (op := take()) is not None:
            try:
                if op % 20 == 0:
                    rows = 1 + (op // 20) % 5
                    table = pa.table({"op": [op] * rows, "latency_ms": [float(op)] * rows})
                    cur.adbc_ingest("load_ingest", table, mode="create_append")
                    with lock:
                        state["ingests"] += 1
                        state["ingested_rows"] += rows
                elif op % 3 == 0:
                    fw = frameworks[op % len(frameworks)]
                    cur.execute(
                        "SELECT count(*) FROM predictions WHERE framework = ? AND batch_size >= ?",
                        (fw, op % 64),
                    )
                    cur.fetchall()
                    with lock:
                        state["queries"] += 1
                else:
                    cur.execute(
                        "SELECT framework, pearson(predicted_ms, actual_ms) AS r, p99(actual_ms) AS p99 "
                        "FROM predictions GROUP BY framework"
                    )
                    rows = cur.fetchall()
                    with lock:
                        state["queries"] += 1
                        state["aggregates"] += 1
                        state["checks"] += len(rows) == 6
            except Exception as e:
                with lock:
                    state["errors"].append(f"op {op}: {e}")
        conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    with flightsql.connect(uri) as conn:
        cur = conn.cursor()
        cur.execute("SELECT count(*), count(DISTINCT op) FROM load_ingest")
        lake_rows, lake_ops = cur.fetchall()[0]
    print(
        json.dumps(
            {
                "errors": state["errors"][:10],
                "error_count": len(state["errors"]),
                "queries": state["queries"],
                "ingests": state["ingests"],
                "ingested_rows": state["ingested_rows"],
                "aggregates": state["aggregates"],
                "aggregate_checks": state["checks"],
                "lake_rows": lake_rows,
                "lake_ops": lake_ops,
                "seconds": round(elapsed, 2),
                "ops_per_second": round(operations / elapsed, 1),
            }
        )
    )


def sqlalchemy(uri, user, password):
    import flightsql.sqlalchemy  # noqa: F401 (registers the datafusion+flightsql dialect)
    from sqlalchemy import create_engine, inspect, text

    host = uri.split("://", 1)[1]
    credentials = f"{user}:{password}@" if user else ""
    engine = create_engine(f"datafusion+flightsql://{credentials}{host}?insecure=true")
    out = {}
    inspector = inspect(engine)
    out["schemas"] = sorted(inspector.get_schema_names())
    out["tables"] = sorted(inspector.get_table_names(schema="public"))
    out["columns"] = [
        [c["name"], str(c["type"])] for c in inspector.get_columns("predictions", schema="public")
    ][:4]
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT framework, count(*) AS n FROM predictions GROUP BY framework ORDER BY framework")
        ).fetchall()
        out["query"] = [list(r) for r in rows]
    print(json.dumps(out))


def stale(uri, user, password):
    import adbc_driver_flightsql.dbapi as flightsql

    out = {}
    with flightsql.connect(uri) as conn:
        writer = conn.cursor()
        writer.execute("CREATE TABLE fresh AS SELECT 1 AS x")
        writer.execute("CREATE VIEW fresh_view AS SELECT x FROM fresh WHERE x > 1")
        reader = conn.cursor()
        count = "SELECT count(*) AS n FROM fresh"
        through_view = "SELECT count(*) AS n FROM fresh_view"
        reader.adbc_prepare(count)
        other = conn.cursor()
        other.adbc_prepare(through_view)
        writer.execute("INSERT INTO fresh VALUES (2), (3)")
        writer.execute("CREATE OR REPLACE VIEW fresh_view AS SELECT x FROM fresh")
        reader.execute(count)
        out["count"] = reader.fetchall()[0][0]
        other.execute(through_view)
        out["view"] = other.fetchall()[0][0]
    print(json.dumps(out))


def query(uri, sql, user=None, password=None):
    import adbc_driver_flightsql.dbapi as flightsql

    kwargs = {}
    if user:
        kwargs["db_kwargs"] = {"username": user, "password": password}
    with flightsql.connect(uri, **kwargs) as conn:
        cur = conn.cursor()
        cur.execute(sql)
        rows = [[v if isinstance(v, (int, float, str, type(None))) else str(v) for v in r] for r in cur.fetchall()]
    print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    if sys.argv[1] == "query":
        query(*sys.argv[2:6])
        sys.exit(0)
    if sys.argv[1] == "certs":
        certs(sys.argv[2])
        sys.exit(0)
    scenario, uri = sys.argv[1], sys.argv[2]
    user, password = (sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else (None, None)
    {
        "adbc": adbc,
        "denied": denied,
        "pyarrow": pyarrow_flight,
        "sqlalchemy": sqlalchemy,
        "limits": limits,
        "tls": tls,
        "load": load,
        "stale": stale,
    }[scenario](
        uri, user, password
    )

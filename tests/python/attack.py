"""Tries runlake serve as an attacker would, with clients nobody here wrote (the ADBC
Flight SQL driver and raw pyarrow.flight), and prints what each attempt got as one JSON
object on standard output (the Rust tests assert on it, and on the lake and the disk).

Usage: python attack.py SCENARIO JSON

Scenarios (JSON holds "uri" and the credentials each needs):
  reader    as a read-only user: every statement form that writes, exports, reads files,
            escalates or sets options; forged, altered and borrowed tickets
  ticket    sign in and print a ticket for SQL ("user", "password", "sql")
  redeem    redeem a ticket printed by `ticket` ("ticket")
  token     sign in and print the bearer token
  with_token run SQL with a bearer token ("token", "sql")
  endless   read an endless stream to its end
  stall     two clients read one batch and stop; a third runs a small query
  memory    writes and values over the per-query memory limit, as a writer
  sign_ins  160 wrong passwords at once, then a signed-in user's query
  fair      a small query while a heavy one runs
"""
import base64
import json
import sys
import threading
import time


# The protobuf helpers of the other Flight client script (the same folder).
from flight_clients import _field as _bytes_field, _varint  # noqa: E402


def _varint_field(number, value):
    return _varint(number << 3) + _varint(value)


def _any(name, message):
    type_url = ("type.googleapis.com/arrow.flight.protocol.sql." + name).encode()
    return _bytes_field(1, type_url) + _bytes_field(2, message)


def _statement_query(sql):
    return _any("CommandStatementQuery", _bytes_field(1, sql.encode()))


def _forged_ticket(sql, pins=None):
    """A TicketStatementQuery whose handle is a runlake.v1.StatementHandle made by hand."""
    handle = _bytes_field(1, sql.encode())
    for table, version in (pins or {}).items():
        entry = _bytes_field(1, table.encode()) + _varint_field(2, version)
        handle += _bytes_field(2, entry)
    return _any("TicketStatementQuery", _bytes_field(1, handle))


def _outcome(action):
    try:
        result = action()
        return {"ok": result}
    except Exception as e:  # the client's own error types
        return {"error": f"{type(e).__name__}: {e}"}


class Flight:
    """A raw pyarrow.flight client signed in with basic credentials."""

    def __init__(self, uri, user, password):
        import pyarrow.flight as fl

        self.fl = fl
        self.client = fl.FlightClient(uri)
        header = self.client.authenticate_basic_token(user, password)
        self.token = header[1].decode().split(" ", 1)[1]
        self.options = fl.FlightCallOptions(headers=[header])

    def info(self, sql):
        descriptor = self.fl.FlightDescriptor.for_command(_statement_query(sql))
        return self.client.get_flight_info(descriptor, self.options)

    def ticket(self, sql):
        return self.info(sql).endpoints[0].ticket.ticket

    def redeem(self, ticket_bytes):
        reader = self.client.do_get(self.fl.Ticket(ticket_bytes), self.options)
        return reader.read_all().to_pylist()

    def query(self, sql):
        return self.redeem(self.ticket(sql))


def reader(args):
    import adbc_driver_flightsql.dbapi as flightsql
    import pyarrow as pa

    out = {}
    outdir, lake, users = args["outdir"], args["lake"], args["users"]
    statements = {
        "copy_csv": f"COPY (SELECT 1 AS a) TO '{outdir}/copy.csv' STORED AS CSV",
        "copy_parquet": f"COPY (SELECT 1 AS a) TO '{outdir}/copy.parquet' STORED AS PARQUET",
        "copy_json": f"COPY (SELECT 1 AS a) TO '{outdir}/copy.json' STORED AS JSON",
        "copy_arrow": f"COPY (SELECT 1 AS a) TO '{outdir}/copy.arrow' STORED AS ARROW",
        "copy_table": f"COPY predictions TO '{outdir}/predictions.csv'",
        "copy_over_users": f"COPY (SELECT '{{}}' AS users) TO '{users}' STORED AS JSON",
        "copy_into_delta_log": (
            f"COPY (SELECT 1 AS remove) TO '{lake}/predictions/_delta_log/00000000000000000099.json' "
            "STORED AS JSON"
        ),
        "explain_analyze_copy": f"EXPLAIN ANALYZE COPY (SELECT 1 AS a) TO '{outdir}/ea.csv' STORED AS CSV",
        "explain_analyze_insert": (
            "EXPLAIN ANALYZE INSERT INTO framework_aliases SELECT * FROM framework_aliases LIMIT 1"
        ),
        "explain_analyze_overwrite": (
            "EXPLAIN ANALYZE INSERT OVERWRITE framework_aliases SELECT * FROM framework_aliases LIMIT 1"
        ),
        "explain_analyze_ctas": "EXPLAIN ANALYZE CREATE TABLE stolen AS SELECT 1 AS a",
        "insert": "INSERT INTO framework_aliases SELECT * FROM framework_aliases LIMIT 1",
        "insert_overwrite": "INSERT OVERWRITE framework_aliases SELECT * FROM framework_aliases LIMIT 1",
        "ctas": "CREATE TABLE stolen AS SELECT 1 AS a",
        "create_or_replace": "CREATE OR REPLACE TABLE predictions AS SELECT 1 AS a",
        "create_view": "CREATE VIEW stolen_view AS SELECT 1 AS a",
        "drop_table": "DROP TABLE predictions",
        "drop_view": "DROP VIEW IF EXISTS accuracy",
        "delete": "DELETE FROM predictions",
        "update": "UPDATE predictions SET actual_ms = 0",
        "truncate": "TRUNCATE TABLE predictions",
        "external_file": "CREATE EXTERNAL TABLE ext STORED AS CSV LOCATION '/etc/passwd'",
        "external_lake": f"CREATE EXTERNAL TABLE ext2 STORED AS PARQUET LOCATION '{lake}/predictions/'",
        "file_path": "SELECT * FROM '/etc/passwd'",
        "file_url": "SELECT * FROM 'file:///etc/passwd'",
        "lake_file_path": f"SELECT * FROM '{lake}/predictions/'",
        "view_of_file": "CREATE TEMPORARY VIEW f AS SELECT * FROM '/etc/passwd'",
        "two_statements": "SELECT 1; DROP TABLE predictions",
        "prepare_insert": "PREPARE p AS INSERT INTO framework_aliases SELECT * FROM framework_aliases",
        "create_schema": "CREATE SCHEMA stolen",
        "set_partitions": "SET datafusion.execution.target_partitions = 64",
        "set_batch_size": "SET datafusion.execution.batch_size = 100000000",
        "set_memory": "SET datafusion.runtime.memory_limit = '100G'",
        "set_time_zone": "SET datafusion.execution.time_zone = '+01:00'",
        "begin": "BEGIN TRANSACTION",
        # A table's sort order is a Delta table property; no SQL sets one.
        "alter_properties": "ALTER TABLE predictions SET TBLPROPERTIES ('runlake.sortOrder' = 'framework')",
        "alter_add_column": "ALTER TABLE predictions ADD COLUMN stolen INT",
    }
    with flightsql.connect(
        args["uri"], db_kwargs={"username": args["user"], "password": args["password"]}
    ) as conn:
        cur = conn.cursor()

        def run(sql, params=None):
            def go():
                cur.execute(sql, params) if params is not None else cur.execute(sql)
                return [list(map(str, r)) for r in cur.fetchall()]

            return _outcome(go)

        for name, sql in statements.items():
            out[name] = run(sql)
        out["prepared_insert"] = run("INSERT INTO framework_aliases (alias, framework) VALUES (?, ?)", ("a", "b"))
        out["executemany_insert"] = _outcome(
            lambda: conn.cursor().executemany(
                "INSERT INTO framework_aliases (alias, framework) VALUES (?, ?)", [("a", "b"), ("c", "d")]
            )
        )
        out["ingest"] = _outcome(
            lambda: cur.adbc_ingest("stolen_ingest", pa.table({"a": [1]}), mode="create_append")
        )
        out["ingest_log"] = _outcome(
            lambda: cur.adbc_ingest("_ingests", pa.table({"sha256": ["x"]}), mode="append")
        )
        out["ingest_replace"] = _outcome(
            lambda: cur.adbc_ingest("framework_aliases", pa.table({"a": [1]}), mode="replace")
        )
        out["count"] = run("SELECT count(*) FROM predictions")
        out["aliases"] = run("SELECT count(*) FROM framework_aliases")
        # Whose queries a reader sees.
        out["query_users"] = run("SELECT DISTINCT \"user\" FROM system.queries ORDER BY 1")

    # Raw Flight: tickets made by hand, altered, or issued to someone else.
    me = Flight(args["uri"], args["user"], args["password"])
    writer = Flight(args["uri"], *args["writer"])
    out["forged_write"] = _outcome(
        lambda: me.redeem(
            _forged_ticket("INSERT OVERWRITE framework_aliases SELECT * FROM framework_aliases LIMIT 1")
        )
    )
    out["forged_select"] = _outcome(lambda: me.redeem(_forged_ticket("SELECT count(*) AS n FROM predictions")))
    out["forged_pinned"] = _outcome(
        lambda: me.redeem(_forged_ticket("SELECT count(*) AS n FROM predictions", {"predictions": 0}))
    )
    own = me.ticket("SELECT count(*) AS n FROM predictions")
    out["own_ticket"] = _outcome(lambda: me.redeem(own))
    altered = bytearray(own)
    altered[-5] ^= 0x01  # inside the MAC
    out["altered_ticket"] = _outcome(lambda: me.redeem(bytes(altered)))
    borrowed = writer.ticket("SELECT count(*) AS n FROM predictions")
    out["borrowed_ticket"] = _outcome(lambda: me.redeem(borrowed))
    out["admin_query_seen"] = _outcome(
        lambda: me.query(
            "SELECT count(*) AS n FROM system.queries "
            "WHERE sql LIKE '%hunter2%' AND sql NOT LIKE '%system.queries%'"
        )
    )
    print(json.dumps(out))


def ticket(args):
    me = Flight(args["uri"], args["user"], args["password"])
    print(json.dumps({"ticket": base64.b64encode(me.ticket(args["sql"])).decode()}))


def redeem(args):
    me = Flight(args["uri"], args["user"], args["password"])
    print(json.dumps(_outcome(lambda: me.redeem(base64.b64decode(args["ticket"])))))


def token(args):
    me = Flight(args["uri"], args["user"], args["password"])
    print(json.dumps({"token": me.token}))


def with_token(args):
    import pyarrow.flight as fl

    client = fl.FlightClient(args["uri"])
    options = fl.FlightCallOptions(headers=[(b"authorization", f"Bearer {args['token']}".encode())])

    def go():
        descriptor = fl.FlightDescriptor.for_command(_statement_query(args["sql"]))
        info = client.get_flight_info(descriptor, options)
        return client.do_get(info.endpoints[0].ticket, options).read_all().to_pylist()

    print(json.dumps(_outcome(go)))


def endless(args):
    import pyarrow.flight as fl

    client = fl.FlightClient(args["uri"])
    info = client.get_flight_info(fl.FlightDescriptor.for_command(_statement_query(args["sql"])))
    reader = client.do_get(info.endpoints[0].ticket)
    rows = 0
    try:
        while True:
            chunk = reader.read_chunk()
            rows += chunk.data.num_rows
    except StopIteration:
        print(json.dumps({"ended": "complete", "rows": rows}))
        return
    except Exception as e:
        print(json.dumps({"ended": f"{type(e).__name__}: {e}", "rows": rows}))


def stall(args):
    import pyarrow.flight as fl

    def start(sql):
        client = fl.FlightClient(args["uri"])
        info = client.get_flight_info(fl.FlightDescriptor.for_command(_statement_query(sql)))
        reader = client.do_get(info.endpoints[0].ticket)
        reader.read_chunk()
        return client, reader

    sql = "SELECT v FROM generate_series(1, 2000000000) t(v)"
    stalled = [start(sql), start(sql)]
    small = fl.FlightClient(args["uri"])
    out = {}

    def go():
        info = small.get_flight_info(fl.FlightDescriptor.for_command(_statement_query("SELECT 1 AS one")))
        return small.do_get(info.endpoints[0].ticket).read_all().to_pylist()

    out["small_query"] = _outcome(go)

    def log():
        q = (
            "SELECT status, error FROM system.queries "
            "WHERE sql LIKE '%generate_series%' AND sql NOT LIKE '%system.queries%' "
            "AND status <> 'running' ORDER BY query_id"
        )
        info = small.get_flight_info(fl.FlightDescriptor.for_command(_statement_query(q)))
        return small.do_get(info.endpoints[0].ticket).read_all().to_pylist()

    # Wait (bounded) until the server has stopped both stalled queries: reading them
    # before that would let the one not yet stopped go on.
    deadline = time.monotonic() + 120
    while len(log()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    ends = []
    for _client, reader in stalled:
        try:
            while True:
                reader.read_chunk()
        except StopIteration:
            ends.append("complete")
        except Exception as e:
            ends.append(f"{type(e).__name__}: {e}")
    out["stalled_ends"] = ends
    out["log"] = _outcome(log)
    print(json.dumps(out))


def memory(args):
    import adbc_driver_flightsql.dbapi as flightsql
    import pyarrow as pa

    out = {}
    with flightsql.connect(
        args["uri"], db_kwargs={"username": args["user"], "password": args["password"]}
    ) as conn:
        cur = conn.cursor()

        def run(sql):
            def go():
                cur.execute(sql)
                return [list(map(str, r)) for r in cur.fetchall()]

            return _outcome(go)

        out["ctas"] = run("CREATE TABLE big AS SELECT v, v * 2 AS w FROM generate_series(1, 30000000) t(v)")
        out["insert"] = run(
            "INSERT INTO framework_aliases (alias, framework) "
            "SELECT 'x' || v, 'y' FROM generate_series(1, 10000000) t(v)"
        )
        out["large_values"] = run("SELECT repeat('x', 1000000) AS s FROM generate_series(1, 100) t(v)")
        # Each makes one value (or one batch) of 100 MB to 800 MB from a few bytes of SQL.
        out["growing"] = {
            name: run(sql)
            for name, sql in {
                "repeat_one": "SELECT length(repeat('ab', 50000000)) AS n",
                "lpad": "SELECT length(lpad('x', 100000000, 'y')) AS n",
                "rpad": "SELECT length(rpad('x', 100000000)) AS n",
                "array_repeat": "SELECT cardinality(array_repeat(1, 20000000)) AS n",
                "array_resize": "SELECT cardinality(array_resize([1, 2], 20000000, 0)) AS n",
                "range": "SELECT cardinality(range(1, 100000000)) AS n",
                "generate_series": "SELECT cardinality(generate_series(1, 100000000)) AS n",
                # A constant value under the limit, in every row of a batch.
                "constant_rows": "SELECT length(repeat('x', 60000000)) AS n FROM generate_series(1, 8192) t(v)",
                "column_counts": "SELECT length(repeat('x', v * 1000000)) AS n FROM generate_series(1, 20) t(v)",
            }.items()
        }
        # Within the limit the functions are the built-in ones.
        out["growing_within"] = run(
            "SELECT repeat('ab', 3), lpad('x', 4, '-'), rpad('x', 3), array_repeat(7, 3), "
            "array_resize([1], 3, 0), range(1, 4), generate_series(1, 3), length(repeat('x', 1000000))"
        )
        out["ingest"] = _outcome(
            # 20 batches of 8 MB (the driver sends at most 16 MB a message): 160 MB in all.
            lambda: cur.adbc_ingest(
                "big_upload",
                pa.Table.from_batches(
                    [pa.record_batch({"v": pa.array(range(i, i + 1_000_000), pa.int64())}) for i in range(20)]
                ),
                mode="create",
            )
        )
        out["small_after"] = run("SELECT count(*) FROM framework_aliases")
        # The lake's own tables are the lake's to write, whatever the role.
        out["insert_log"] = run("INSERT INTO _ingests (sha256) VALUES ('forged')")
        out["ingest_log"] = _outcome(
            lambda: cur.adbc_ingest("_ingests", pa.table({"sha256": ["forged"]}), mode="append")
        )
    print(json.dumps(out))


def fair(args):
    """A heavy query runs (a nested-loop join that would take hours, whose filter keeps
    no pair: it does all its work inside long polls); once the server lists it as
    running, another client's small query runs, and the heavy one is checked to be still
    running. Ends without waiting for the heavy query (the test stops the server)."""
    import adbc_driver_flightsql.dbapi as flightsql
    import os

    heavy_sql = (
        "SELECT count(*) FROM generate_series(1, 1000000) a(x) "
        "CROSS JOIN generate_series(1, 1000000) b(y) WHERE x + y = 7"
    )
    out = {}

    def heavy():
        try:
            with flightsql.connect(args["uri"]) as conn:
                cur = conn.cursor()
                cur.execute(heavy_sql)
                out["heavy"] = cur.fetchall()
        except Exception as e:  # the server stops under it
            out["heavy"] = f"{type(e).__name__}: {e}"

    threading.Thread(target=heavy, daemon=True).start()

    def probe():
        with flightsql.connect(args["uri"]) as conn:
            cur = conn.cursor()

            def running():
                cur.execute(
                    "SELECT count(*) FROM system.queries "
                    "WHERE status = 'running' AND sql LIKE '%CROSS JOIN%' AND sql NOT LIKE '%system.queries%'"
                )
                return cur.fetchall()[0][0]

            deadline = time.monotonic() + 120
            while running() == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            out["heavy_running_before"] = running()

            def small():
                cur.execute("SELECT count(*) AS n FROM requests")
                return cur.fetchall()

            out["small"] = _outcome(small)
            out["heavy_running_after"] = running()

    # Every wait is bounded: a starved query shows as a missing answer, not a hung test.
    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    prober.join(240)
    if prober.is_alive():
        out["timed_out"] = "no answer within 240 s"
    print(json.dumps(out), flush=True)
    os._exit(0)


def sign_ins(args):
    import pyarrow.flight as fl

    me = Flight(args["uri"], args["user"], args["password"])
    codes = []
    lock = threading.Lock()

    def guess():
        client = fl.FlightClient(args["uri"])
        try:
            client.authenticate_basic_token(args["user"], "wrong")
            code = "signed in"
        except fl.FlightUnauthenticatedError:
            code = "unauthenticated"
        except Exception as e:  # RESOURCE_EXHAUSTED arrives as a generic Flight error
            code = "resource_exhausted" if "too many failed sign-ins" in str(e) else str(e)
        with lock:
            codes.append(code)

    threads = [threading.Thread(target=guess) for _ in range(160)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = {}
    for c in codes:
        counts[c] = counts.get(c, 0) + 1
    print(json.dumps({"guesses": counts, "token_query": _outcome(lambda: me.query("SELECT 1 AS one"))}))


def two_users(args):
    """The same statement from two users, their calls interleaved (the server keeps each
    call's plan for the statement's next call): each must get its own answer."""
    uri = args["uri"]
    clients = {name: Flight(uri, name, password) for name, password in args["users"]}
    for name, client in clients.items():
        client.query(f"SELECT '{name}' AS marker")
    sql = 'SELECT DISTINCT "user" FROM system.queries ORDER BY 1'
    infos = {name: client.info(sql) for name, client in clients.items()}
    out = {}
    for name in reversed(list(clients)):
        out[name] = _outcome(lambda: clients[name].redeem(infos[name].endpoints[0].ticket.ticket))
    print(json.dumps(out))


if __name__ == "__main__":
    scenario, arguments = sys.argv[1], json.loads(sys.argv[2])
    {
        "reader": reader,
        "ticket": ticket,
        "redeem": redeem,
        "token": token,
        "with_token": with_token,
        "endless": endless,
        "stall": stall,
        "memory": memory,
        "sign_ins": sign_ins,
        "fair": fair,
        "two_users": two_users,
    }[scenario](arguments)

"""Transactions across two databases through the binding: commit,
rollback, errors as PEP 249 exceptions, dtx_send, the context manager,
rows and NULLs."""

import itertools
import time

import pytest

import dtx

_ids = itertools.count(int(time.time()) % 100000 * 1000)


def new_id():
    """An items.id no other test uses."""
    return next(_ids)


def items(system, index, item_id):
    """Rows of items with that id on cluster index, read directly."""
    return int(system.value(index, "SELECT count(*) FROM items WHERE id = %d" % item_id))


def test_commit_across_two_databases(system, client):
    item = new_id()
    with client.transaction(timeout=10) as tx:
        for db in system.dbs:
            result = tx.execute(db, "INSERT INTO items VALUES ($1, $2)", [item, "both"])
            assert result.rowcount == 1
            assert result.command == "INSERT 0 1"
        gid = tx.gid
    assert gid.startswith("dtx:")
    assert tx.outcome is dtx.Outcome.COMMITTED
    assert tx.closed
    assert [items(system, i, item) for i in range(2)] == [1, 1]
    assert client.outcome(gid) is dtx.Outcome.COMMITTED
    assert system.prepared() == 0


def test_explicit_commit_and_rollback(system, client):
    item = new_id()
    tx = client.transaction()
    tx.execute("db1", "INSERT INTO items VALUES ($1, 'rolled back')", [item])
    tx.execute("db2", "INSERT INTO items VALUES ($1, 'rolled back')", [item])
    assert tx.rollback() is dtx.Outcome.ABORTED
    assert tx.rollback() is dtx.Outcome.ABORTED           # harmless twice
    assert [items(system, i, item) for i in range(2)] == [0, 0]
    with pytest.raises(dtx.ProgrammingError, match="already ended"):
        tx.execute("db1", "SELECT 1")
    tx = client.transaction()
    tx.execute("db1", "INSERT INTO items VALUES ($1, 'committed')", [item])
    tx.execute("db2", "INSERT INTO items VALUES ($1, 'committed')", [item])
    assert tx.commit() is dtx.Outcome.COMMITTED
    with pytest.raises(dtx.ProgrammingError, match="already ended"):
        tx.commit()
    assert [items(system, i, item) for i in range(2)] == [1, 1]


def test_empty_transaction(client):
    """Nothing sent: commit is trivially COMMITTED, and there is no gid."""
    tx = client.transaction()
    assert tx.commit() is dtx.Outcome.COMMITTED
    with pytest.raises(dtx.OperationalError, match="without a gid"):
        tx.gid
    tx = client.transaction()
    assert tx.rollback() is dtx.Outcome.ABORTED


def test_commit_decided(system, client):
    item = new_id()
    tx = client.transaction()
    tx.execute("db1", "INSERT INTO items VALUES ($1, 'decided')", [item])
    tx.execute("db2", "INSERT INTO items VALUES ($1, 'decided')", [item])
    assert tx.commit(decided=True) is dtx.Outcome.COMMITTED
    assert client.outcome(tx.gid) is dtx.Outcome.COMMITTED
    # phase 2 finishes in the background
    assert system.wait_no_prepared(30)
    assert [items(system, i, item) for i in range(2)] == [1, 1]


def test_context_manager_rolls_back_on_exception(system, client):
    item = new_id()

    class Refused(Exception):
        pass

    with pytest.raises(Refused):
        with client.transaction() as tx:
            tx.execute("db1", "INSERT INTO items VALUES ($1, 'no')", [item])
            tx.execute("db2", "INSERT INTO items VALUES ($1, 'no')", [item])
            raise Refused()
    assert tx.outcome is dtx.Outcome.ABORTED
    assert [items(system, i, item) for i in range(2)] == [0, 0]
    # the client is free for the next transaction
    with client.transaction() as tx:
        tx.execute("db1", "SELECT 1")
    assert tx.outcome is dtx.Outcome.COMMITTED


def test_context_manager_after_explicit_end(client):
    with client.transaction() as tx:
        tx.execute("db1", "SELECT 1")
        tx.rollback()
    assert tx.outcome is dtx.Outcome.ABORTED


def test_no_vote_raises_integrity_error(system, client):
    """A deferred unique constraint fails only at PREPARE TRANSACTION: a NO
    vote from db2, raised by the commit with db2's SQLSTATE."""
    item = new_id()
    with pytest.raises(dtx.IntegrityError) as raised:
        with client.transaction() as tx:
            tx.execute("db1", "INSERT INTO items VALUES ($1, 'one')", [item])
            tx.execute("db2", "INSERT INTO items VALUES ($1, 'one'), ($1, 'two')", [item])
    error = raised.value
    assert error.sqlstate == "23505"
    assert error.pgcode == "23505"
    assert error.database == "db2"
    assert "items_id_unique" in error.message
    assert error.gid == tx.gid
    assert isinstance(error, dtx.DatabaseError) and isinstance(error, dtx.Error)
    assert tx.outcome is dtx.Outcome.ABORTED
    assert [items(system, i, item) for i in range(2)] == [0, 0]
    assert client.outcome(tx.gid) is dtx.Outcome.ABORTED
    assert system.prepared() == 0


@pytest.mark.parametrize("sql, cls, sqlstate", [
    ("SELEC 1", dtx.ProgrammingError, "42601"),
    ("SELECT 1/0", dtx.DataError, "22012"),
    ("SELECT * FROM no_such_table", dtx.ProgrammingError, "42P01"),
    ("SELECT 'x'::int", dtx.DataError, "22P02"),
    ("SET LOCAL statement_timeout = 50; SELECT pg_sleep(1)", dtx.QueryCanceledError, "57014"),
])
def test_statement_errors_by_sqlstate(client, sql, cls, sqlstate):
    tx = client.transaction()
    with pytest.raises(cls) as raised:
        if ";" in sql:
            first, second = sql.split(";")
            tx.execute("db2", first)
            tx.execute("db2", second)
        else:
            tx.execute("db2", sql)
    assert raised.value.sqlstate == sqlstate
    assert raised.value.database == "db2"
    assert raised.value.code == dtx.Code.SQL
    assert raised.value.message
    assert str(raised.value).startswith("db2 %s: " % sqlstate)
    # the transaction is abort-only now: the commit raises the cause
    with pytest.raises(cls) as again:
        tx.commit()
    assert again.value.sqlstate == sqlstate
    assert tx.outcome is dtx.Outcome.ABORTED


def test_unknown_database_is_programming_error(client):
    with client.transaction() as tx:
        with pytest.raises(dtx.ProgrammingError) as raised:
            tx.execute("no_such_db", "SELECT 1")
        assert raised.value.code == dtx.Code.UNKNOWN_DB
        assert raised.value.sqlstate is None
        tx.rollback()


def test_send_runs_with_the_commit(system, client):
    item = new_id()
    with client.transaction() as tx:
        tx.send("db1", "INSERT INTO items VALUES ($1, 'sent')", [item])
        tx.send("db2", "INSERT INTO items VALUES ($1, 'sent')", [item])
    assert tx.outcome is dtx.Outcome.COMMITTED
    assert tx.gid.startswith("dtx:")
    assert [items(system, i, item) for i in range(2)] == [1, 1]


def test_failed_send_aborts_at_commit(system, client):
    item = new_id()
    with pytest.raises(dtx.DataError) as raised:
        with client.transaction() as tx:
            tx.execute("db1", "INSERT INTO items VALUES ($1, 'x')", [item])
            tx.send("db2", "SELECT 1/0")
    assert raised.value.sqlstate == "22012"
    assert raised.value.database == "db2"
    assert tx.outcome is dtx.Outcome.ABORTED
    assert items(system, 0, item) == 0


def test_failed_send_reported_by_next_execute(client):
    tx = client.transaction()
    tx.send("db2", "SELECT 1/0")
    with pytest.raises(dtx.DataError) as raised:
        tx.execute("db2", "SELECT 1")
    assert raised.value.sqlstate == "22012"
    tx.rollback()


def test_rows_columns_and_nulls(client):
    with client.transaction() as tx:
        result = tx.execute("db1", "SELECT g AS n, CASE WHEN g % 2 = 0 THEN NULL ELSE 'odd' END"
                            " AS parity, NULL::int AS nothing FROM generate_series(1, 4) g")
    assert result.columns == ["n", "parity", "nothing"]
    assert result.rows == [("1", "odd", None), ("2", None, None), ("3", "odd", None),
                           ("4", None, None)]
    assert result.rowcount == 4
    assert len(result) == 4
    assert list(result)[1] == ("2", None, None)
    assert result[2][0] == "3"
    assert result.dicts()[0] == {"n": "1", "parity": "odd", "nothing": None}
    assert result.command == "SELECT 4"
    with pytest.raises(dtx.ProgrammingError):
        result.one()


def test_empty_result_and_rowcount(system, client):
    item = new_id()
    with client.transaction() as tx:
        tx.execute("db1", "INSERT INTO items SELECT $1::int + g, 'r'"
                   " FROM generate_series(0, 2) g", [item])
    with client.transaction() as tx:
        empty = tx.execute("db1", "SELECT id FROM items WHERE id = -1")
        updated = tx.execute("db1", "UPDATE items SET note = 'u' WHERE id - $1 BETWEEN 0 AND 2",
                             [item])
        deleted = tx.execute("db1", "DELETE FROM items WHERE id - $1 BETWEEN 0 AND 2", [item])
    for _ in range(2):
        new_id()
    assert empty.rows == [] and empty.columns == ["id"] and empty.rowcount == 0
    assert updated.rowcount == 3 and updated.command == "UPDATE 3" and updated.rows == []
    assert deleted.rowcount == 3


def test_one_transaction_per_client(client):
    tx = client.transaction()
    with pytest.raises(dtx.ProgrammingError, match="already has an open transaction"):
        client.transaction()
    tx.rollback()
    client.transaction().rollback()


def test_transaction_timeout(client):
    tx = client.transaction(timeout=0.5)
    tx.execute("db1", "SELECT 1")
    time.sleep(1.5)
    # the coordinator aborted it: the transaction is abort-only (an
    # InternalError, as psycopg maps "in failed transaction") and says why
    with pytest.raises(dtx.DatabaseError, match="timeout") as raised:
        tx.execute("db1", "SELECT 1")
    assert raised.value.code in (dtx.Code.ABORT_ONLY, dtx.Code.TIMEOUT, dtx.Code.NO_TXN)
    with pytest.raises(dtx.DatabaseError):
        tx.commit()
    assert tx.outcome is dtx.Outcome.ABORTED
    assert client.outcome(tx.gid) is dtx.Outcome.ABORTED


def test_closed_client(system):
    client = system.client()
    tx = client.transaction()
    tx.execute("db1", "SELECT 1")
    client.close()
    client.close()
    assert client.closed
    assert tx.outcome is dtx.Outcome.ABORTED       # rolled back by close
    with pytest.raises(dtx.InterfaceError, match="closed"):
        client.transaction()
    with pytest.raises(dtx.InterfaceError, match="closed"):
        client.outcome("dtx:x")


def test_wait_ready(system, client):
    client.wait_ready(system.dbs, timeout=5)
    with pytest.raises(dtx.OperationalError, match="not ready within"):
        client.wait_ready(["db1", "no_such_db"], timeout=0.3)


def test_bad_arguments(system, client):
    with pytest.raises(dtx.ProgrammingError, match="given twice"):
        dtx.connect("tcp://127.0.0.1:1,tcp://127.0.0.1:1")
    with pytest.raises(dtx.ProgrammingError, match="not an endpoint"):
        dtx.connect("localhost")
    with pytest.raises(dtx.ProgrammingError, match="seconds"):
        dtx.connect(system.endpoint, request_timeout=0)
    with pytest.raises(dtx.ProgrammingError, match="seconds"):
        client.transaction(timeout=-1)
    with pytest.raises(dtx.ProgrammingError, match="sequence"):
        with client.transaction() as tx:
            tx.execute("db1", "SELECT $1", "abc")
    with pytest.raises(dtx.ProgrammingError, match="cannot send a parameter of type dict"):
        with client.transaction() as tx:
            tx.execute("db1", "SELECT $1", [{}])
    with pytest.raises(dtx.DataError, match="NUL"):
        with client.transaction() as tx:
            tx.execute("db1", "SELECT $1", ["a\x00b"])

"""services/common/db.py and pg.py against real PostgreSQL: the pipelined pg8000 connection, the
pool that keeps its connections, and the check of connections that sat idle."""
from __future__ import annotations

import threading

import pg8000
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError, ProgrammingError

from services.common import db, pg
from services.common.db import make_engine
from services.common.testing import fresh_database


@pytest.fixture(scope="module")
def url():
    with fresh_database("haven_common_db_test") as url:
        yield url


@pytest.fixture
def engine(url):
    engine = make_engine(url)
    yield engine
    engine.dispose()


def test_the_pinned_pg8000_is_the_one_the_pipelined_connection_was_checked_with():
    # When pg8000 moves on, read pg.py against its new core.py before adding the version here.
    assert pg8000.__version__ in pg.TESTED_VERSIONS and pg.ENABLED


def test_statements_run_on_the_pipelined_connection_as_on_pg8000s_own(engine):
    with engine.connect() as conn:
        assert isinstance(conn.connection.dbapi_connection, pg.PipelinedConnection)
        conn.execute(text("CREATE TABLE t (id int PRIMARY KEY, v text)"))
        conn.execute(text("INSERT INTO t VALUES (:id, :v)"), [{"id": n, "v": f"é{n}%s"} for n in range(5)])
        assert conn.execute(text("SELECT v FROM t WHERE id = :id AND v LIKE :p"),
                            {"id": 3, "p": "é3%"}).scalar() == "é3%s"
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 5  # no parameters: simple query
        conn.commit()
        with pytest.raises(ProgrammingError):
            conn.execute(text("SELEC :x"), {"x": 1})
        conn.rollback()
        with pytest.raises(IntegrityError):
            conn.execute(text("INSERT INTO t VALUES (:id, 'again')"), {"id": 1})
        conn.rollback()
        with pytest.raises(ProgrammingError):
            conn.execute(text("SELECT CAST(:x AS int)"), {"x": "not a number"})
        conn.rollback()
        assert conn.execute(text("SELECT max(id) FROM t WHERE id < :n"), {"n": 4}).scalar() == 3
        conn.execute(text("DROP TABLE t"))
        conn.commit()


def test_a_statement_is_one_round_trip(engine):
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        conn.execute(text("SELECT 1"))  # begin
        flushes = []
        real = raw._sock.flush
        raw._sock.flush = lambda: (flushes.append(1), real())[1]
        try:
            assert conn.execute(text("SELECT CAST(:a AS int) + 1"), {"a": 1}).scalar() == 2
        finally:
            raw._sock.flush = real
        assert len(flushes) == 1
        conn.rollback()


def test_placeholders_are_converted_once_per_statement():
    sql = "SELECT * FROM t WHERE a = %s AND b = '%%s' AND c = %s"
    assert pg.cached_convert_paramstyle("format", sql, (1, 2)) == \
        pg._convert_paramstyle("format", sql, (1, 2))
    assert pg.cached_convert_paramstyle("format", sql, (3, 4))[1] == (3, 4)
    assert pg.cached_convert_paramstyle("named", "SELECT :a, :b, :a", {"a": 1, "b": 2}) == \
        ("SELECT $1, $2, $1", (1, 2))


def test_the_pool_keeps_a_burst_of_connections_for_the_next_one(engine):
    """As many connections at once as a service has workers: opened once, then reused."""
    opened = []
    event.listen(engine, "connect", lambda *_: opened.append(1))
    barrier = threading.Barrier(db.POOL_SIZE)

    def work():
        with engine.connect() as conn:
            barrier.wait(10)
            conn.execute(text("SELECT 1"))

    for _ in range(3):
        threads = [threading.Thread(target=work) for _ in range(db.POOL_SIZE)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
    assert len(opened) == db.POOL_SIZE


def test_a_connection_dropped_while_idle_is_replaced_before_use(engine, monkeypatch):
    with engine.connect() as conn:
        first_pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    with engine.connect() as other:  # a second pooled connection, to end the first one's backend
        other_pid = other.execute(text("SELECT pg_backend_pid()")).scalar()
        assert other_pid == first_pid  # the pool handed the same connection back: use a fresh one
    admin = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid})
            conn.commit()
    finally:
        admin.dispose()
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
    with engine.connect() as conn:  # would fail with "network error" without the ping
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar() != first_pid


def test_a_connection_in_steady_use_is_not_pinged(engine):
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    pings = []
    real = engine.dialect.do_ping
    engine.dialect.do_ping = lambda c: (pings.append(1), real(c))[1]
    try:
        for _ in range(5):
            with engine.connect() as conn:
                conn.execute(text("SELECT 2"))
    finally:
        engine.dialect.do_ping = real
    assert pings == []


def test_instances_starting_together_migrate_one_after_the_other():
    """Two processes of one service start at once and both run the migrations: the advisory lock
    makes them take turns, so neither trips over the other's half-made tables."""
    import os

    from services.common.db import migrate
    migrations = os.path.join(os.path.dirname(__file__), "..", "..", "alerts", "migrations")
    with fresh_database("haven_common_migrate_test") as url:
        errors: list[BaseException] = []

        def run():
            try:
                migrate(url, migrations)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        finally:
            engine.dispose()


def test_a_failure_that_is_not_the_databases_throws_the_connection_away(engine):
    """A driver that could not encode a value, or a time-out mid-read, may leave the connection
    mid-conversation: the next unit of work must get a fresh one. A domain refusal keeps it."""
    from sqlalchemy.orm import sessionmaker

    from services.common.errors import Forbidden
    invalidated = []
    event.listen(engine, "invalidate", lambda *args: invalidated.append(1))
    sessions = sessionmaker(bind=engine)
    with pytest.raises(UnicodeEncodeError):
        with db.transaction(sessions) as session:
            session.execute(text("SELECT 1"))
            "\ud800".encode("utf-8")
    assert invalidated == [1]
    with pytest.raises(Forbidden):
        with db.transaction(sessions) as session:
            session.execute(text("SELECT 1"))
            raise Forbidden()
    assert invalidated == [1]
    with db.transaction(sessions) as session:  # the pool hands out a working connection
        assert session.execute(text("SELECT 1")).scalar() == 1

"""Database helpers shared by the services: engines, sessions and running Alembic at start-up."""
from __future__ import annotations

import os
import ssl
import time
from contextlib import contextmanager
from datetime import datetime, timezone

from alembic import command
from alembic.config import Config
from pg8000.exceptions import InterfaceError as DriverInterfaceError
from sqlalchemy import create_engine, event, exc, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from . import pg
from .errors import HavenError
from .tls import TlsSetupError, client_context

# Connections a process keeps open: enough for every worker of a service (runner.MAX_WORKERS = 20)
# and its relay at once, so a burst never opens (and then closes) connections beyond the pool —
# with pg8000 a new connection costs a TCP and authentication handshake and a fresh TLS context,
# some milliseconds of CPU each, and a new server process. Past POOL_SIZE + MAX_OVERFLOW a worker
# waits for a connection. Size PostgreSQL's max_connections for instances × processes × pool.
POOL_SIZE = 20
MAX_OVERFLOW = 10
# A connection idle longer than this is checked with a round trip before it is handed out (the
# server may have restarted or dropped it); a connection in steady use is not.
PING_AFTER_IDLE_SECONDS = 10.0


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def contains_pattern(term: str) -> str:
    """A LIKE pattern (escape character \\) matching `term` literally anywhere: % and _ typed in a
    search box are not wildcards."""
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def normalise_url(url: str) -> str:
    """PostgreSQL goes through pg8000: pure Python, so eventlet can make it green."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+pg8000://" + url[len(prefix):]
    return url


def create_private_file(path: str) -> None:
    """An SQLite file (records, accounts) readable by its owner only: 0600, in directories this makes
    0700. SQLite gives its -wal and -shm files the database file's mode. A directory that already
    exists is left as it is (it may be shared, such as /tmp)."""
    path = os.path.abspath(path)
    missing, directory = [], os.path.dirname(path)
    while not os.path.isdir(directory):
        missing.append(directory)
        directory = os.path.dirname(directory)
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:  # another process of this Haven made it first
            pass
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)  # a file an older Haven created with the umask's mode


# --- PostgreSQL over TLS -------------------------------------------------------------------------
# libpq's own URL options, so a database URL reads as PostgreSQL's tools read it:
#     postgresql://haven_incidents:…@postgres:5432/haven_incidents?sslmode=verify-full&sslrootcert=/certs/ca.pem
# (sslcert= and sslkey= for a client certificate). pg8000 takes none of them: they become its ssl_context.
# Only modes that verify the server, or none at all, said so: libpq's require/prefer/allow encrypt
# without checking who answers, and pg8000's own default does the same. A URL to another machine must
# say which it wants; a URL to this one (tests, `make run`) goes without TLS unless it asks.
SSL_OPTIONS = ("sslmode", "sslrootcert", "sslcert", "sslkey")
CHECKS_HOST_NAME = {"verify-full": True, "verify-ca": False}
THIS_MACHINE = (None, "", "localhost", "127.0.0.1", "::1")


def postgres_tls(url: str) -> tuple[URL, dict]:
    """The URL without libpq's TLS options, and pg8000's connect arguments for them (raises
    TlsSetupError for a mode Haven refuses or a file that is not there)."""
    parsed = make_url(url)
    options = {name: parsed.query[name] for name in SSL_OPTIONS if name in parsed.query}
    parsed = parsed.difference_update_query(SSL_OPTIONS)
    where = f"the database URL for {parsed.host or 'this machine'}"
    mode = options.get("sslmode")
    if mode is None and parsed.host not in THIS_MACHINE and "unix_sock" not in parsed.query:
        raise TlsSetupError(f"{where} must say how the connection is protected: add "
                            "?sslmode=verify-full&sslrootcert=<CA file> (README \"TLS\"), or sslmode=disable "
                            "on a network that nobody else can reach")
    if mode in (None, "disable"):
        return parsed, {"ssl_context": False}  # False, not None: pg8000's None tries TLS unverified
    if mode not in CHECKS_HOST_NAME:
        raise TlsSetupError(f"{where}: sslmode={mode} would not check the server's certificate; use "
                            "verify-full with sslrootcert=<CA file> (or disable)")
    root = options.get("sslrootcert")
    context = client_context(None if root in (None, "system") else root, options.get("sslcert"),
                             options.get("sslkey"), check_hostname=CHECKS_HOST_NAME[mode])
    return parsed, {"ssl_context": context}


def _explain_tls_failures(url: URL, mode: str | None):
    """The driver's words for a TLS failure are not an operator's: say which server, and what to check."""
    def connect(open_connection):
        where = f"PostgreSQL at {url.host}:{url.port or 5432}"
        try:
            return open_connection()
        except ssl.SSLCertVerificationError as error:
            raise DriverInterfaceError(f"{where} failed the certificate check ({error.verify_message}): "
                                       "check sslrootcert= and the host name in the database URL") from error
        except ssl.SSLError as error:
            raise DriverInterfaceError(f"the TLS handshake with {where} failed ({error.reason})") from error
        except DriverInterfaceError as error:
            if "refuses SSL" not in str(error):
                raise
            raise DriverInterfaceError(f"{where} does not offer TLS, and the database URL asks for "
                                       f"sslmode={mode}: turn ssl on in the server (README \"TLS\")") from error
    return connect


def make_engine(url: str, pool_size: int = POOL_SIZE, max_overflow: int = MAX_OVERFLOW,
                pooled: bool = True) -> Engine:
    """`hide_parameters`: a database error's message (which reaches the logs) never carries the
    values of a statement — they can be a pupil's name or the account of a concern. `pooled=False`:
    a connection per use (migrations). PostgreSQL URLs may carry libpq's TLS options (postgres_tls)."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = make_url(url).database  # None or ":memory:" for a database in memory
        if path and path != ":memory:" and not path.startswith("file:"):
            create_private_file(path)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    mode, connect_args = None, {}
    if url.startswith("postgresql"):
        mode = make_url(url).query.get("sslmode")
        url, connect_args = postgres_tls(url)
    pool = {"pool_size": pool_size, "max_overflow": max_overflow, "pool_recycle": 3600} if pooled \
        else {"poolclass": NullPool}
    engine = create_engine(url, connect_args=connect_args, hide_parameters=True, **pool)
    if engine.dialect.driver == "pg8000":
        pg.install()
        explained = _explain_tls_failures(engine.url, mode)

        @event.listens_for(engine, "do_connect")
        def _pipelined(dialect, _record, cargs, cparams):
            # One round trip per statement (services/common/pg.py), where this pg8000 allows it.
            return explained(lambda: pg.connect(cargs, cparams) or dialect.connect(*cargs, **cparams))

    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Pessimistic disconnect handling for idle connections only (`pool_pre_ping` would add a round
    trip to every checkout): a connection that fails the ping is replaced before anyone uses it."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn, record):
        record.info["haven_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn, record, _proxy):
        since = record.info.get("haven_idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)  # what pool_pre_ping does, on idle connections only
        except Exception as error:
            raise exc.DisconnectionError() from error  # the pool opens a fresh connection instead


def skip_locked(query, session: Session):
    """`query` taking row locks that another worker's transaction skips rather than waits for
    (FOR UPDATE SKIP LOCKED): how several workers or instances share one queue. SQLite has no row locks;
    there the callers' conditional updates keep two workers apart."""
    return query.with_for_update(skip_locked=True) if session.get_bind().dialect.name == "postgresql" else query


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]):
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException as error:
        if not isinstance(error, (HavenError, exc.SQLAlchemyError)) and session.in_transaction():
            # Not the database's own error nor a domain answer (text the driver could not encode, a
            # time-out in the middle of a read): the connection may be mid-conversation with the
            # server, so it is thrown away rather than handed to the next unit of work.
            try:
                session.connection().invalidate()
            except Exception:  # already unusable: the rollback below discards it anyway
                pass
        session.rollback()
        raise
    finally:
        session.close()


# Held (pg_advisory_lock) while a process migrates its database: instances starting together take
# turns, and the second finds the schema at head already.
MIGRATION_LOCK_KEY = 0x484156454E  # "HAVEN"


def migrate(url: str, migrations_dir: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", migrations_dir)
    url = normalise_url(url)
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if not url.startswith("postgresql"):
        command.upgrade(cfg, "head")  # SQLite: one process per database
        return
    engine = make_engine(url, pooled=False)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            try:
                command.upgrade(cfg, "head")
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
    finally:
        engine.dispose()

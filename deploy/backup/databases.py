"""Each service's database into the backup and back: PostgreSQL through pg_dump and pg_restore,
SQLite through its online backup API (a consistent copy while the service writes).

The row counts the manifest keeps are taken from the very snapshot the dump is made from (PostgreSQL:
pg_dump --snapshot, of a transaction that exports it; SQLite: the copy itself), so a restore can be
checked against them exactly even when the backup ran while staff were recording.
"""
from __future__ import annotations

import os
import sqlite3
import subprocess

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Connection, make_url

from services.common.db import create_private_file, make_engine, normalise_url

from .manifest import BackupRefused, describe

POSTGRESQL, SQLITE = "postgresql", "sqlite"
SUFFIX = {POSTGRESQL: "pgdump", SQLITE: "sqlite3"}


def kind_of(url: str) -> str:
    scheme = make_url(normalise_url(url)).get_backend_name()
    if scheme not in SUFFIX:
        raise BackupRefused(f"a {scheme} database cannot be backed up (PostgreSQL or SQLite)")
    return scheme


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL as PostgreSQL's own tools read it, and their environment: the password goes in
    PGPASSWORD, never on a command line that every user of the machine can list."""
    parsed = make_url(url).set(drivername="postgresql")
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = parsed.password
    return parsed.set(password=None).render_as_string(hide_password=False), env


def _run(args: list[str], env: dict, what: str) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupRefused(f"{what} failed ({args[0]} exit {done.returncode}): {done.stderr.strip()[-2000:]}")


def _counts(conn: Connection) -> dict[str, int]:
    quote = conn.dialect.identifier_preparer.quote
    tables = inspect(conn).get_table_names()
    return {name: conn.execute(text(f"SELECT count(*) FROM {quote(name)}")).scalar_one() for name in sorted(tables)}


def _heads(conn: Connection, counts: dict) -> list[str]:
    if "alembic_version" not in counts:
        return []
    return sorted(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def _audit_head(conn: Connection, counts: dict) -> dict | None:
    """The newest entry of the gateway's audit chain: a restored log must still hold it."""
    if "audit_log" not in counts:
        return None
    row = conn.execute(text("SELECT id, hash FROM audit_log WHERE hash IS NOT NULL ORDER BY id DESC LIMIT 1")).first()
    return {"id": row.id, "hash": row.hash} if row else None


def _summary(conn: Connection) -> dict:
    counts = _counts(conn)
    return {"tables": counts, "alembic_heads": _heads(conn, counts), "audit_head": _audit_head(conn, counts)}


def dump(service: str, url: str, folder: str) -> dict:
    """Copy one service's database into `folder`/databases; its manifest entry."""
    kind = kind_of(url)
    relative = f"databases/{service}.{SUFFIX[kind]}"
    target = os.path.join(folder, relative)
    os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
    summary = _dump_postgresql(url, target) if kind == POSTGRESQL else _dump_sqlite(url, target)
    return {"kind": kind, "file": describe(folder, relative), **summary}


def _dump_postgresql(url: str, target: str) -> dict:
    engine = make_engine(url, pooled=False)
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            with conn.begin():
                conn.execute(text("SET TRANSACTION READ ONLY"))
                snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                summary = _summary(conn)
                libpq_url, env = _libpq(url)
                # The snapshot lives while this transaction does: pg_dump sees exactly what was counted.
                _run(["pg_dump", "--format=custom", f"--snapshot={snapshot}", "--no-owner",
                      f"--file={target}", f"--dbname={libpq_url}"], env, "pg_dump")
    finally:
        engine.dispose()
    return summary


def _sqlite_path(url: str) -> str:
    path = make_url(url).database
    if not path or path == ":memory:":
        raise BackupRefused(f"{url} is not a database file")
    return path


def _dump_sqlite(url: str, target: str) -> dict:
    path = _sqlite_path(url)
    if not os.path.isfile(path):
        raise BackupRefused(f"there is no database at {path} (has this service ever started?)")
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    create_private_file(target)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
        # The copy keeps the source's WAL mode, and a WAL database grows -wal and -shm files beside it
        # whenever it is opened, even to read: a backup's files must not change once summed.
        copy.execute("PRAGMA journal_mode=DELETE")
    finally:
        source.close()
        copy.close()
    engine = create_engine(f"sqlite:///{target}")  # not make_engine: its WAL pragma would alter the copy
    try:
        with engine.connect() as conn:
            return _summary(conn)
    finally:
        engine.dispose()


# --- restoring ------------------------------------------------------------------------------------

def tables_in(url: str) -> list[str]:
    """The tables a target database already has (an empty list for one that is not there yet)."""
    if kind_of(url) == SQLITE and not os.path.isfile(_sqlite_path(url)):
        return []
    engine = make_engine(url, pooled=False)
    try:
        with engine.connect() as conn:
            return sorted(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def summarise(url: str) -> dict:
    """What a restored database holds, in the manifest's terms."""
    engine = make_engine(url, pooled=False)
    try:
        with engine.connect() as conn:
            return _summary(conn)
    finally:
        engine.dispose()


def restore(entry: dict, folder: str, url: str, force: bool = False) -> None:
    """Load one dump into the database at `url` (checked empty by the caller, or `force`)."""
    kind = kind_of(url)
    if kind != entry["kind"]:
        raise BackupRefused(f"this backup holds a {entry['kind']} database; it cannot be restored into "
                            f"{kind} (restore into the same kind of database, then move it)")
    source = os.path.join(folder, entry["file"]["path"])
    if kind == POSTGRESQL:
        libpq_url, env = _libpq(url)
        # No owners and no grants: the target's roles are its operator's (Haven's migrations grant none).
        _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
              *(["--clean", "--if-exists"] if force else []), f"--dbname={libpq_url}", source], env, "pg_restore")
        return
    path = _sqlite_path(url)
    create_private_file(path)
    for leftover in (f"{path}-wal", f"{path}-shm"):  # another database's journal must not replay onto this one
        if os.path.exists(leftover):
            os.unlink(leftover)
    backup, target = sqlite3.connect(f"file:{source}?mode=ro&immutable=1", uri=True), sqlite3.connect(path)
    try:
        backup.backup(target)  # replaces every page of the target
    finally:
        backup.close()
        target.close()

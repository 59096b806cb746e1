"""pg8000, the pure-Python PostgreSQL driver every service uses (eventlet can make it green), with
two costs of its DB-API layer taken away. Used by `db.make_engine`; nothing else changes.

- One round trip per statement. pg8000 1.31 runs a statement with parameters as three exchanges
  with the server (Parse+Sync, Describe+Sync, Bind+Execute+Sync), each waiting for the answer to
  the one before. `PipelinedConnection` sends the five messages at once and reads the answers in
  one go, as libpq does (PQexecParams): a transaction of ten statements waits ten times on the
  server rather than thirty. Errors arrive as before (the server skips to the Sync after one),
  COPY keeps pg8000's own path.
- The SQL of a statement converted once. pg8000 turns `%s` placeholders into `$1…` with a
  character-by-character scanner in Python on every execute; SQLAlchemy sends the same few
  statements again and again, so the conversion is cached by statement text (its result does not
  depend on the values for the positional styles SQLAlchemy uses).

Both rely on pg8000's internals: they are switched on for the versions in TESTED_VERSIONS only
(services/common/tests/test_pg.py fails when the pinned pg8000 moves on, so someone looks again).
"""
from __future__ import annotations

import logging
from functools import lru_cache

import pg8000
import pg8000.legacy
from pg8000 import core

log = logging.getLogger(__name__)

TESTED_VERSIONS = {"1.31.6"}
ENABLED = pg8000.__version__ in TESTED_VERSIONS


class PipelinedConnection(pg8000.legacy.Connection):
    """pg8000's DB-API connection, running each statement in one round trip."""

    def execute_unnamed(self, statement, vals=(), oids=(), stream=None):
        if stream is not None:  # COPY: the server ignores a Sync sent before its data
            return super().execute_unnamed(statement, vals=vals, oids=oids, stream=stream)
        context = core.Context(statement, stream=None)
        encoding = self._client_encoding
        parse = bytearray(core.NULL_BYTE)  # the unnamed statement
        parse.extend(statement.encode(encoding) + core.NULL_BYTE)
        parse.extend(core.H_pack(len(oids)))
        for oid in oids:
            parse.extend(core.i_pack(0 if oid == -1 else oid))
        params = core.make_params(self.py_types, vals)
        bind = bytearray(core.NULL_BYTE + core.NULL_BYTE + core.H_pack(0) + core.H_pack(len(params)))
        for value in params:
            if value is None:
                bind.extend(core.i_pack(-1))
            else:
                data = value.encode(encoding)
                bind.extend(core.i_pack(len(data)))
                bind.extend(data)
        bind.extend(core.H_pack(0))
        try:
            self._send_message(core.PARSE, parse)
            self._send_message(core.DESCRIBE, core.STATEMENT + core.NULL_BYTE)
            self._send_message(core.BIND, bind)
            core._write(self._sock, core.EXECUTE_MSG)
            core._write(self._sock, core.SYNC_MSG)
            core._flush(self._sock)
        except AttributeError:
            if self._sock is None:
                raise core.InterfaceError("connection is closed") from None
            raise
        self.handle_messages(context)
        return context


_convert_paramstyle = pg8000.legacy.convert_paramstyle


@lru_cache(maxsize=4096)
def _converted_sql(style: str, query: str) -> str:
    return _convert_paramstyle(style, query, ())[0]


def cached_convert_paramstyle(style, query, args):
    """pg8000's convert_paramstyle, the SQL remembered: for the positional styles the values pass
    through unchanged, so the converted text depends on the statement alone."""
    if style in ("format", "numeric", "qmark"):
        return _converted_sql(style, query), args
    return _convert_paramstyle(style, query, args)


def install() -> None:
    """Cache pg8000's placeholder conversion (process-wide; the results are the same)."""
    if ENABLED and pg8000.legacy.convert_paramstyle is not cached_convert_paramstyle:
        pg8000.legacy.convert_paramstyle = cached_convert_paramstyle


def connect(cargs, cparams):
    """For SQLAlchemy's `do_connect` event: a pipelined connection where this pg8000 is known."""
    if not ENABLED:
        return None  # SQLAlchemy connects the usual way
    return PipelinedConnection(*cargs, **cparams)


if not ENABLED:
    log.warning("pg8000 %s is not one the pipelined connection was checked with; using it as it is",
                pg8000.__version__)

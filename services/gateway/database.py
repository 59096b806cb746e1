"""The gateway's database from async code: each unit of work runs in a worker thread.

The web server runs up to 40 such threads at once; the pool keeps POOL_SIZE connections and never
opens more (a thread past that waits a moment for one), so a burst of requests never opens and
closes connections — each costs a handshake and a server process."""
from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from services.common.db import make_engine, session_factory, transaction

POOL_SIZE = 20


class GatewayDatabase:
    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url, pool_size=POOL_SIZE, max_overflow=0)
        self.factory = session_factory(self.engine)

    def run_sync(self, fn, *args, **kwargs):
        with transaction(self.factory) as session:
            return fn(session, *args, **kwargs)

    async def run(self, fn, *args, **kwargs):
        """`fn(session, ...)` in one transaction, off the event loop."""
        return await run_in_threadpool(self.run_sync, fn, *args, **kwargs)

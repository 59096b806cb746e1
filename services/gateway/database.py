"""The gateway's database from async code: each unit of work runs in a worker thread."""
from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from services.common.db import make_engine, session_factory, transaction


class GatewayDatabase:
    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.factory = session_factory(self.engine)

    def run_sync(self, fn, *args, **kwargs):
        with transaction(self.factory) as session:
            return fn(session, *args, **kwargs)

    async def run(self, fn, *args, **kwargs):
        """`fn(session, ...)` in one transaction, off the event loop."""
        return await run_in_threadpool(self.run_sync, fn, *args, **kwargs)

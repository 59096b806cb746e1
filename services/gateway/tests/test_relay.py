"""The gateway's outbox relay (relay.py) against real PostgreSQL: several gateways share one
database and relay its outbox at once; each event is published once, and a publish the broker
does not confirm leaves its row for the next pass; every event goes out signed with the gateway's key."""
from __future__ import annotations

import asyncio
import json
import os

import pytest
from sqlalchemy import select, text

from services.common.db import make_engine, migrate, session_factory
from services.common.events import add_to_outbox, make_event
from services.common import signed
from services.common.keys import KeyRing
from services.common.testing import TEST_KEYS, TEST_PUBLIC_KEYS, fresh_database
from services.gateway import relay
from services.gateway.models import OutboxEvent

MIGRATIONS = os.path.join(os.path.dirname(__file__), "..", "migrations")
KEY = TEST_KEYS["gateway"]


class Db:
    def __init__(self, engine):
        self.factory = session_factory(engine)


class FakeRpc:
    """publish_event as the RPC client's: the body as bytes; a coroutine that returns once the broker confirms."""

    def __init__(self, published: list, refuse: set[str] = frozenset()):
        self.published, self.refuse = published, refuse
        self.sent: list[tuple[str, bytes, dict]] = []  # (event type, body as sent, headers)

    async def publish_event(self, source, event_type, body, event_id, headers=None, timeout=10.0):
        await asyncio.sleep(0.005)
        if event_id in self.refuse:
            raise ConnectionError("the broker did not confirm")
        self.published.append((source, event_type, event_id))
        self.sent.append((event_type, body, headers))


@pytest.fixture(scope="module")
def relay_engine():
    with fresh_database("haven_gateway_relay_test") as url:
        migrate(url, MIGRATIONS)
        engine = make_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture
def db(relay_engine):
    with relay_engine.begin() as conn:
        conn.execute(text("TRUNCATE outbox RESTART IDENTITY"))
        with relay_engine.connect() as second:  # two pooled connections: neither relay waits to connect
            second.execute(text("SELECT 1"))
    return Db(relay_engine)


def put(db, n: int) -> list[str]:
    events = [make_event("staff_member_saved", 1, user_id=i) for i in range(n)]
    with db.factory.begin() as session:
        for event in events:
            add_to_outbox(session, OutboxEvent, event)
    return [e["event_id"] for e in events]


def unpublished(db) -> set[str]:
    with db.factory() as session:
        return set(session.scalars(select(OutboxEvent.event_id).where(OutboxEvent.published_at.is_(None))))


def test_two_gateways_relaying_one_outbox_publish_each_event_once(db):
    ids = put(db, 200)
    published: list = []

    async def gateway():
        sent = 0
        while n := await relay.relay_once(db, FakeRpc(published), KEY, batch=25):
            sent += n
        return sent

    async def both():
        return await asyncio.gather(gateway(), gateway())

    shares = asyncio.run(both())
    assert sorted(e for _, _, e in published) == sorted(ids)
    assert sum(shares) == 200 and all(shares), shares
    assert {s for s, _, _ in published} == {"gateway"}
    assert unpublished(db) == set()


def test_an_unconfirmed_event_stays_for_the_next_pass(db):
    ids = put(db, 5)
    published: list = []
    with pytest.raises(ConnectionError):
        asyncio.run(relay.relay_once(db, FakeRpc(published, refuse={ids[2]}), KEY))
    assert sorted(e for _, _, e in published) == sorted(ids[:2] + ids[3:])
    assert unpublished(db) == {ids[2]}
    assert asyncio.run(relay.relay_once(db, FakeRpc(published), KEY)) == 1
    assert unpublished(db) == set()


def test_each_event_goes_out_signed_with_the_gateway_key(db):
    put(db, 3)
    rpc = FakeRpc([])
    assert asyncio.run(relay.relay_once(db, rpc, KEY)) == 3
    ring = KeyRing.parse(TEST_PUBLIC_KEYS)
    for event_type, body, headers in rpc.sent:
        assert headers[signed.KID_HEADER] == KEY.kid
        assert signed.refusal(ring, "gateway.events", event_type, body, headers, json.loads(body)) is None


def test_the_migration_indexes_the_unpublished_rows(relay_engine):
    with relay_engine.connect() as conn:
        definition = conn.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_outbox_unpublished'")
                                  ).scalar()
    assert definition is not None and "WHERE (published_at IS NULL)" in definition

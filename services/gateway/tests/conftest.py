"""Fixtures for the gateway's tests: real PostgreSQL with the demo staff, one rolled-back session per
test (the account functions only flush; the route's unit of work commits); and the gateway's app with
its RPC client replaced by a fake that records every call and answers from a table."""
from __future__ import annotations

import os

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from fastapi.testclient import TestClient

from services.common.db import make_engine, migrate, session_factory
from services.common.testing import TEST_SECRETS_KEY, fresh_database, key_settings
from services.gateway import accounts, mailer
from services.gateway.app import create_app
from services.gateway.clients import Clients
from services.gateway.models import StaffMember
from services.gateway.seed import DEMO_PASSWORD, seed_demo_staff
from services.gateway.settings import GatewaySettings

MIGRATIONS = os.path.join(os.path.dirname(__file__), "..", "migrations")
# The demo seed seals its TOTP secret with HAVEN_SECRETS_KEY (accounts.save_staff_member); the app below
# uses the same key.
os.environ.setdefault("HAVEN_SECRETS_KEY", TEST_SECRETS_KEY)
# Real argon2 at the lowest cost (production parameters take ~0.2 s a hash here); module-scoped so
# the patch never outlives these tests.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="module", autouse=True)
def cheap_password_hashing():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(accounts, "hasher", CHEAP_HASHER)
        mp.setattr(accounts, "_DUMMY_HASH", CHEAP_HASHER.hash("not-a-password"))
        yield


@pytest.fixture(scope="module")
def engine(cheap_password_hashing):
    with fresh_database("haven_gateway_test") as url:
        migrate(url, MIGRATIONS)
        engine = make_engine(url)
        with session_factory(engine).begin() as session:
            assert seed_demo_staff(session)
        yield engine
        engine.dispose()


@pytest.fixture
def db(engine):
    """Committed writes (the app reads them in its own transactions): db(lambda s: ...)."""
    factory = session_factory(engine)

    def run(fn):
        with factory.begin() as s:
            return fn(s)
    return run


@pytest.fixture
def sent(monkeypatch):
    """The gateway's mail, caught instead of sent (use with `pytest.mark.usefixtures("sent")`)."""
    messages = []
    monkeypatch.setattr(mailer, "send", lambda cfg, message: messages.append(message))
    return messages


@pytest.fixture
def session(engine):
    """Everything a test writes is rolled back, so each test starts from the demo staff alone."""
    s = session_factory(engine)()
    yield s
    s.rollback()
    s.close()


def staff(session, email: str) -> StaffMember:
    return session.scalar(select(StaffMember).where(StaffMember.email == email))


# --- the app with a fake RPC client -------------------------------------------------------------------

def actor_of(call: dict):
    """The actor a recorded call carried, checked as the service would check it (for its method and
    arguments, signed with the gateway's key)."""
    from services.common.actor import verify
    from services.common.keys import KeyRing
    from services.common.testing import TEST_PUBLIC_KEYS
    return verify(call["args"][0], KeyRing.parse(TEST_PUBLIC_KEYS), call["key"], call["kwargs"]).actor


class FakeRpc:
    """Records each call as it would go on the wire; answers from `answers[routing_key]` (a value, an
    exception to raise, or a function of the kwargs)."""

    def __init__(self):
        self.calls: list[dict] = []
        self.answers: dict = {}

    async def send(self, service, method, args, kwargs, timeout=None):
        key = f"{service}.{method}"
        self.calls.append({"key": key, "args": args, "kwargs": kwargs, "timeout": timeout})
        answer = self.answers.get(key)
        if isinstance(answer, Exception):
            raise answer
        return answer(kwargs) if callable(answer) else answer

    async def call(self, service, method, *args, timeout=None, **kwargs):
        return await self.send(service, method, list(args), kwargs, timeout)

    def keys(self) -> list[str]:
        return [c["key"] for c in self.calls]


@pytest.fixture(scope="module")
def app(engine):
    settings = GatewaySettings(gateway_database_url=engine.url.render_as_string(hide_password=False),
                               **key_settings("gateway"), env="test", cookie_secure=False,
                               secrets_key=TEST_SECRETS_KEY)
    app = create_app(settings)  # no lifespan: nothing connects to a broker
    app.state.rpc = FakeRpc()
    app.state.clients = Clients(app.state.rpc)
    return app


@pytest.fixture
def rpc(app):
    app.state.rpc.calls.clear()
    app.state.rpc.answers.clear()
    return app.state.rpc


def signed_in(app, email: str, totp_step: int | None = None) -> TestClient:
    client = TestClient(app)
    r = client.post("/api/v1/session", json={"email": email, "password": DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    if r.json()["second_factor_required"]:
        import time

        import pyotp

        from services.gateway.seed import DEMO_TOTP_SECRET
        code = pyotp.TOTP(DEMO_TOTP_SECRET).at(int(time.time()) + 30 * (totp_step or 0))
        r = client.post("/api/v1/session/second-factor", json={"code": code})
        assert r.status_code == 200, r.text
    return client


@pytest.fixture(scope="module")
def teacher(app):
    return signed_in(app, "teacher@demo.haven.test")


@pytest.fixture(scope="module")
def dsl(app):
    return signed_in(app, "dsl@demo.haven.test", totp_step=-1)


@pytest.fixture(scope="module")
def slt(app):
    return signed_in(app, "slt@demo.haven.test", totp_step=0)


@pytest.fixture(scope="module")
def admin(app):
    """An administrator and nothing else (the demo's business manager)."""
    return signed_in(app, "admin@demo.haven.test", totp_step=0)


@pytest.fixture(scope="module")
def ddsl(app):
    """A deputy DSL: the DSL team, not an administrator."""
    return signed_in(app, "ddsl@demo.haven.test", totp_step=0)


@pytest.fixture(scope="module")
def governor(app):
    return signed_in(app, "governor@demo.haven.test")

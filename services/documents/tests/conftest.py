"""Fixtures for the documents service's tests: real PostgreSQL, a local vault and moto's S3 over HTTP."""
from __future__ import annotations

import base64
import os
import uuid

import pytest

from services.common.actor import DSL, STAFF, Actor
from services.common.db import make_engine, migrate, session_factory, transaction
from services.common.errors import Forbidden
from services.common.testing import fresh_database
from services.documents.vault import LocalDirectoryStore, S3Store, Vault

MIGRATIONS = os.path.join(os.path.dirname(__file__), "..", "migrations")
SCHOOL, OTHER_SCHOOL = 1, 2


@pytest.fixture(scope="session")
def sessions():
    with fresh_database("haven_documents_test") as url:
        migrate(url, MIGRATIONS)
        engine = make_engine(url)
        yield session_factory(engine)
        engine.dispose()


@pytest.fixture
def db(sessions):
    """A function that runs `fn(session)` in its own committed transaction, as the service does."""
    def run(fn):
        with transaction(sessions) as session:
            return fn(session)
    return run


@pytest.fixture
def master_key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def local_vault(tmp_path, master_key) -> Vault:
    vault = Vault(LocalDirectoryStore(str(tmp_path / "vault")), master_key)
    vault.prepare()
    return vault


@pytest.fixture(scope="session")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def make_s3_store(moto_endpoint, monkeypatch):
    """`make_s3_store(sse=…, kms_key_id=…)`: an S3Store on a new bucket of moto's server, not prepared."""
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_SESSION_TOKEN", "testing")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)

    def make(**options) -> S3Store:
        return S3Store(f"haven-test-{uuid.uuid4().hex[:12]}", "eu-west-2", moto_endpoint, **options)
    return make


@pytest.fixture
def s3_store(make_s3_store) -> S3Store:
    store = make_s3_store()
    store.prepare()
    return store


@pytest.fixture
def s3_vault(s3_store, master_key) -> Vault:
    return Vault(s3_store, master_key)


def make_actor(user_id=10, school_id=SCHOOL, roles=(STAFF,), name="Ms Teacher") -> Actor:
    second_factor = 1.0 if DSL in roles else None
    return Actor(user_id=user_id, school_id=school_id, name=name, roles=tuple(roles),
                 second_factor_at=second_factor)


class FakeIncidents:
    """Stands in for incidents.check_incident_access: records each question, refuses what it is told to."""

    def __init__(self, school_id=SCHOOL, forbidden=()):
        self.school_id = school_id
        self.forbidden = set(forbidden)  # {(incident_id, purpose)}
        self.calls: list[tuple[int, str]] = []

    def __call__(self, incident_id, purpose):
        self.calls.append((incident_id, purpose))
        if (incident_id, purpose) in self.forbidden:
            raise Forbidden("You do not have permission to do that to this incident.")
        return {"incident_id": incident_id, "pupil_id": 1, "school_id": self.school_id}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()

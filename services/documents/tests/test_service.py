"""The Nameko adapter: wiring, the caller's token passed through, remote errors, the vault provider."""
from __future__ import annotations

import base64
import os
import time
from types import SimpleNamespace

import boto3
import eventlet
import pytest
from nameko.exceptions import UnknownService, deserialize, serialize
from nameko.testing.services import worker_factory

from services.common.actor import sign, verify
from services.common.errors import Forbidden, ServiceUnavailable, Unauthenticated, ValidationFailed
from services.common.nameko_ext import DatabaseSessions
from services.documents.dependencies import DocumentVault, incident_access
from services.documents.service import DocumentsService

from .conftest import b64, make_actor

ACTOR_KEY = "test-actor-key-" + "x" * 30


class Actors:
    def verify(self, token):
        return verify(token, ACTOR_KEY, 120)


class FakeIncidentsProxy:
    """What `RpcProxy("incidents")` gives a worker, answering check_incident_access."""

    def __init__(self, raises=None):
        self.raises = raises
        self.calls = []

    def check_incident_access(self, token, incident_id, purpose):
        self.calls.append((token, incident_id, purpose))
        if self.raises:
            raise self.raises
        return {"incident_id": incident_id, "pupil_id": 1, "school_id": verify(token, ACTOR_KEY, 120).school_id}


@pytest.fixture
def service(sessions, local_vault):
    incidents = FakeIncidentsProxy()
    worker = worker_factory(DocumentsService, db=DatabaseSessions(sessions), actors=Actors(), vault=local_vault,
                            incidents=incidents,
                            config={"MAX_DOCUMENT_BYTES": 1024, "RPC_TIMEOUT_SECONDS": 5})
    return worker, incidents


def test_the_service_passes_the_callers_own_token_to_incidents(service):
    worker, incidents = service
    token = sign(make_actor(user_id=7), ACTOR_KEY)
    stored = worker.store_document(token, 31, "note.txt", "text/plain", b64(b"hello"))
    fetched = worker.get_document(token, stored["id"])
    listed = worker.list_documents(token, 31)
    assert base64.b64decode(fetched["content_b64"]) == b"hello" and listed == [stored]
    assert incidents.calls == [(token, 31, "attach"), (token, 31, "read"), (token, 31, "read")]
    with pytest.raises(ValidationFailed):  # the configured limit reaches the domain
        worker.store_document(token, 31, "big.txt", "text/plain", b64(b"x" * 1025))


def test_an_unsigned_actor_is_refused_before_anything_is_asked(service):
    worker, incidents = service
    forged = sign(make_actor(), "another key entirely, forty characters..")
    with pytest.raises(Unauthenticated):
        worker.store_document(forged, 31, "note.txt", "text/plain", b64(b"hello"))
    assert incidents.calls == []


def test_domain_errors_from_incidents_come_back_as_our_types():
    forbidden = deserialize(serialize(Forbidden("You may not attach to this incident.")))
    assert type(forbidden) is Forbidden and forbidden.message == "You may not attach to this incident."
    invalid = deserialize(serialize(ValidationFailed.one("file", "Too big.")))
    assert type(invalid) is ValidationFailed and invalid.errors == [{"field": "file", "message": "Too big."}]


def test_incidents_not_answering_is_reported_not_waited_on():
    check = incident_access(FakeIncidentsProxy(raises=UnknownService("incidents")), "token", 5)
    with pytest.raises(ServiceUnavailable):
        check(1, "read")

    class Silent:
        def check_incident_access(self, *args):
            eventlet.sleep(5)

    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        incident_access(Silent(), "token", 0.05)(1, "read")
    assert time.monotonic() - started < 1


def test_the_vault_provider_builds_one_s3_client_per_process(moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    made = []
    real_client = boto3.session.Session.client
    monkeypatch.setattr(boto3.session.Session, "client",
                        lambda self, *a, **kw: made.append(a) or real_client(self, *a, **kw))
    provider = DocumentVault()
    provider.container = SimpleNamespace(config={
        "VAULT_BACKEND": "s3", "S3_BUCKET": "haven-provider-test", "S3_REGION": "eu-west-2",
        "S3_ENDPOINT_URL": moto_endpoint, "MASTER_KEY": base64.b64encode(os.urandom(32)).decode()})
    provider.setup()
    vaults = [provider.get_dependency(None) for _ in range(3)]
    for n, vault in enumerate(vaults):
        sealed = vault.put(f"school-1/doc-{n}", f"doc-{n}", b"content")
        assert vault.get(f"school-1/doc-{n}", f"doc-{n}", sealed.wrapped_key, sealed.nonce) == b"content"
    assert vaults[0] is vaults[1] is vaults[2]
    assert made == [("s3",)]

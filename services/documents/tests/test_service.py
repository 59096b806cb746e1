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
from services.common.contracts.documents import ASKS_INCIDENTS
from services.common.keys import KeyRing
from services.common.testing import TEST_KEYS, TEST_PUBLIC_KEYS, key_settings
from services.common.errors import Forbidden, ServiceUnavailable, Unauthenticated, ValidationFailed
from services.common.adapter import Work
from services.documents.dependencies import DocumentVault, IncidentAccess
from services.documents.models import SpentToken
from services.documents.settings import DocumentsSettings
from services.documents.service import DocumentsService

from .conftest import b64, make_actor

RING = KeyRing.parse(TEST_PUBLIC_KEYS)
SETTINGS = SimpleNamespace(key_ring=RING, actor_ttl_seconds=15, check_results=True)


def signed(method: str, actor=None, key=TEST_KEYS["gateway"], **kwargs) -> str:
    """The context the gateway signs for one call of documents.<method> with these arguments."""
    return sign(actor or make_actor(user_id=7), key, f"documents.{method}", kwargs, 30, ASKS_INCIDENTS)


class FakeIncidentsProxy:
    """What `RpcProxy("incidents")` gives a worker, answering check_incident_access."""

    def __init__(self, raises=None):
        self.raises = raises
        self.calls = []

    def check_incident_access(self, token, *, incident_id, purpose):
        self.calls.append((token, incident_id, purpose))
        if self.raises:
            raise self.raises
        asked = {"incident_id": incident_id, "purpose": purpose}
        return {"incident_id": incident_id, "pupil_id": 1,
                "school_id": verify(token, RING, "incidents.check_incident_access", asked).actor.school_id}


@pytest.fixture
def service(sessions, local_vault):
    incidents = FakeIncidentsProxy()
    # check_access is built per call from the caller's token, as IncidentAccess does.
    checks = _access_provider(incidents, timeout=5)
    worker = worker_factory(DocumentsService, unit_of_work=Work(SETTINGS, sessions, spent_model=SpentToken), vault=local_vault,
                            check_access=_LateBound(checks), max_bytes=1024)
    return worker, incidents


def _access_provider(proxy, timeout):
    provider = IncidentAccess()
    provider.timeout = timeout
    return lambda token: provider.check_for(proxy, token)


class _LateBound:
    """Stands in for the provider's per-call value: the token is the call's first argument."""

    def __init__(self, checks):
        self.checks, self.token = checks, None

    def __call__(self, incident_id, purpose):
        return self.checks(self.token)(incident_id, purpose)


def call(worker, method: str, **kwargs):
    """As the bus would: the call's own context, which the access check then forwards to incidents."""
    token = worker.check_access.token = signed(method, **kwargs)
    return token, getattr(worker, method)(token, **kwargs)


def test_the_service_passes_the_callers_own_token_to_incidents(service):
    worker, incidents = service
    note = {"incident_id": 31, "filename": "note.txt", "content_type": "text/plain", "content_b64": b64(b"hello")}
    stored_with, stored = call(worker, "store_document", **note)
    fetched_with, fetched = call(worker, "get_document", document_id=stored["id"])
    listed_with, listed = call(worker, "list_documents", incident_id=31)
    assert base64.b64decode(fetched["content_b64"]) == b"hello" and listed == [stored]
    assert incidents.calls == [(stored_with, 31, "attach"), (fetched_with, 31, "read"), (listed_with, 31, "read")]
    with pytest.raises(ValidationFailed):  # the configured limit reaches the domain
        call(worker, "store_document", **{**note, "filename": "big.txt", "content_b64": b64(b"x" * 1025)})


def test_a_context_is_good_for_one_call(service):
    worker, incidents = service
    token, listed = call(worker, "list_documents", incident_id=31)
    with pytest.raises(Unauthenticated):
        worker.list_documents(token, incident_id=31)  # the same message again
    with pytest.raises(Unauthenticated):
        worker.list_documents(token, incident_id=32)  # the context re-used for another incident
    assert [c[1] for c in incidents.calls] == [31]


def test_an_unsigned_actor_is_refused_before_anything_is_asked(service):
    worker, incidents = service
    note = {"incident_id": 31, "filename": "note.txt", "content_type": "text/plain", "content_b64": b64(b"hello")}
    for key in (TEST_KEYS["documents"], TEST_KEYS["incidents"]):  # a service's own key mints nothing
        with pytest.raises(Unauthenticated):
            worker.store_document(signed("store_document", key=key, **note), **note)
    assert incidents.calls == []


def test_arguments_outside_the_contract_are_refused_with_field_errors(service):
    worker, incidents = service
    with pytest.raises(ValidationFailed) as refused:
        call(worker, "store_document", incident_id=36053394819455548506096271360, filename="a\ud800.txt",
             content_type="text/plain", content_b64=b64(b"hello"), extra=1)
    fields = {e["field"] for e in refused.value.errors}
    assert fields == {"incident_id", "filename", "extra"}
    assert incidents.calls == []


def test_domain_errors_from_incidents_come_back_as_our_types():
    forbidden = deserialize(serialize(Forbidden("You may not attach to this incident.")))
    assert type(forbidden) is Forbidden and forbidden.message == "You may not attach to this incident."
    invalid = deserialize(serialize(ValidationFailed.one("file", "Too big.")))
    assert type(invalid) is ValidationFailed and invalid.errors == [{"field": "file", "message": "Too big."}]


def test_incidents_not_answering_is_reported_not_waited_on():
    check = _access_provider(FakeIncidentsProxy(raises=UnknownService("incidents")), 5)("token")
    with pytest.raises(ServiceUnavailable):
        check(1, "read")

    class Silent:
        def check_incident_access(self, *args, **kwargs):
            eventlet.sleep(5)

    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        _access_provider(Silent(), 0.05)("token")(1, "read")
    assert time.monotonic() - started < 1


def test_the_vault_provider_builds_one_s3_client_per_process(moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    made = []
    real_client = boto3.session.Session.client
    monkeypatch.setattr(boto3.session.Session, "client",
                        lambda self, *a, **kw: made.append(a) or real_client(self, *a, **kw))
    provider = DocumentVault()
    provider.container = SimpleNamespace(config={"SETTINGS": DocumentsSettings(
        _env_file=None, **key_settings("documents"), vault_backend="s3", vault_dir="unused",
        s3_bucket="haven-provider-test", s3_region="eu-west-2", s3_endpoint_url=moto_endpoint,
        master_key=base64.b64encode(os.urandom(32)).decode())})
    provider.setup()
    vaults = [provider.get_dependency(None) for _ in range(3)]
    for n, vault in enumerate(vaults):
        sealed = vault.put(f"school-1/doc-{n}", f"doc-{n}", b"content")
        assert vault.get(f"school-1/doc-{n}", f"doc-{n}", sealed.wrapped_key, sealed.nonce) == b"content"
    assert vaults[0] is vaults[1] is vaults[2]
    assert made == [("s3",)]

"""Uploads whose row never commits: their intent is recorded first, and the sweeper deletes their object."""
from __future__ import annotations

import base64
import os
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import delete, event, select

from services.common.db import make_engine, migrate, session_factory, utcnow
from services.common.testing import fresh_database, key_settings
from services.documents import domain
from services.documents.models import Document, PendingUpload
from services.documents.orphans import sweep_orphans
from services.documents.service import OrphanSweeper
from services.documents.settings import DocumentsSettings

from .conftest import MIGRATIONS, FakeIncidents, b64, make_actor

LETTER = b"%PDF-1.4 notes of a call from the school nurse" * 10
LATER = timedelta(hours=1)  # well past any upload still under way
WAIT = timedelta(minutes=30)


@pytest.fixture(scope="module")
def database_url():
    """A database of its own: a sweep goes over every pending upload, so no other test's may be there."""
    with fresh_database("haven_documents_orphans_test") as url:
        migrate(url, MIGRATIONS)
        yield url


@pytest.fixture(scope="module")
def sessions(database_url):
    engine = make_engine(database_url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture(autouse=True)
def nothing_pending(db):
    db(lambda s: s.execute(delete(PendingUpload)))


def upload(session, vault) -> dict:
    return domain.store_document(session, make_actor(), vault, FakeIncidents(), uuid.uuid4().int % 1_000_000_000,
                                 "letter.pdf", "application/pdf", b64(LETTER), 1024 * 1024)


def failed_upload(db, vault) -> str:
    """An upload whose transaction fails at commit (as a lost connection or a conflict would); its key."""
    uploaded = {}

    def run(session):
        def refuse(_session):
            raise RuntimeError("the database went away at commit")
        event.listen(session, "before_commit", refuse)
        uploaded.update(upload(session, vault))
        uploaded["storage_key"] = session.get(Document, uploaded["id"]).storage_key

    with pytest.raises(RuntimeError):
        db(run)
    assert db(lambda s: s.get(Document, uploaded["id"])) is None
    return uploaded["storage_key"]


def sweep(db, vault, now):
    return db(lambda s: sweep_orphans(s, vault.store, WAIT, now=now))


def pending(db) -> list[str]:
    return list(db(lambda s: s.scalars(select(PendingUpload.storage_key)).all()))


@pytest.mark.parametrize("vault_fixture", ["local_vault", "s3_vault"])
def test_a_failed_commit_leaves_a_pending_row_and_the_sweeper_deletes_its_object(request, vault_fixture, db):
    vault = request.getfixturevalue(vault_fixture)
    key = failed_upload(db, vault)
    assert pending(db) == [key] and vault.store.exists(key)  # the orphan, and what says it is one
    assert sweep(db, vault, utcnow()) == 0  # not yet: an upload may still be under way
    assert vault.store.exists(key)
    assert sweep(db, vault, utcnow() + LATER) == 1
    assert not vault.store.exists(key) and pending(db) == []
    assert sweep(db, vault, utcnow() + LATER) == 0


def test_a_completed_upload_is_never_swept(db, local_vault):
    stored = db(lambda s: upload(s, local_vault))
    key = db(lambda s: s.get(Document, stored["id"]).storage_key)
    assert pending(db) == []  # removed in the transaction that committed the row
    assert sweep(db, local_vault, utcnow() + timedelta(days=365)) == 0
    assert local_vault.store.exists(key)
    document = db(lambda s: domain.get_document(s, make_actor(), local_vault, FakeIncidents(), stored["id"]))
    assert base64.b64decode(document["content_b64"]) == LETTER


def test_an_object_already_gone_is_swept_all_the_same(db, local_vault):
    key = failed_upload(db, local_vault)
    local_vault.store.delete(key)  # e.g. a sweeper that deleted it and died before its commit
    assert sweep(db, local_vault, utcnow() + LATER) == 1 and pending(db) == []


def test_a_pending_row_of_a_committed_document_keeps_the_object(db, local_vault):
    stored = db(lambda s: upload(s, local_vault))
    key = db(lambda s: s.get(Document, stored["id"]).storage_key)
    db(lambda s: s.add(PendingUpload(storage_key=key, started_at=utcnow())))
    assert sweep(db, local_vault, utcnow() + LATER) == 1
    assert local_vault.store.exists(key) and pending(db) == []


def test_the_service_sweeper_deletes_orphans_from_its_configured_vault(db, database_url, tmp_path):
    settings = DocumentsSettings(_env_file=None, **key_settings("documents"), documents_database_url=database_url,
                                 vault_dir=str(tmp_path / "vault"), pending_upload_minutes=1,
                                 master_key=base64.b64encode(os.urandom(32)).decode())
    vault = settings.open_vault()
    vault.prepare()
    key = failed_upload(db, vault)
    db(lambda s: s.get(PendingUpload, key).__setattr__("started_at", utcnow() - timedelta(minutes=2)))
    sweeper = OrphanSweeper()
    sweeper.container = SimpleNamespace(config={"SETTINGS": settings})
    sweeper.setup()
    try:
        assert sweeper.sweep_once() == 1 and sweeper.sweep_once() == 0
    finally:
        sweeper.engine.dispose()
    assert not vault.store.exists(key)

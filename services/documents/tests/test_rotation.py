"""Master key rotation: previous keys still open documents, and `keys rotate` re-wraps data keys only."""
from __future__ import annotations

import base64
import os
import uuid

import pytest
from sqlalchemy import delete, select, update

from services.common.db import make_engine, migrate, session_factory, transaction
from services.common.errors import IntegrityFailed
from services.common.testing import fresh_database, key_settings
from services.documents import domain, keys
from services.documents.models import Document
from services.documents.vault import LocalDirectoryStore, Vault, master_key_id

from .conftest import MIGRATIONS, FakeIncidents, b64, make_actor

LETTER = b"%PDF-1.4 a letter from the social worker about a strategy meeting" * 10
OLD, NEW, OTHER = os.urandom(32), os.urandom(32), os.urandom(32)


@pytest.fixture(scope="module")
def database_url():
    """A database of its own: rotation goes over every document, so no other test's rows may be there."""
    with fresh_database("haven_documents_rotation_test") as url:
        migrate(url, MIGRATIONS)
        yield url


@pytest.fixture(scope="module")
def sessions(database_url):
    engine = make_engine(database_url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture(autouse=True)
def no_documents(db):
    db(lambda s: s.execute(delete(Document)))


@pytest.fixture
def store(tmp_path) -> LocalDirectoryStore:
    store = LocalDirectoryStore(str(tmp_path / "vault"))
    store.prepare()
    return store


def upload(db, vault, count=1) -> list[str]:
    actor, incident_id = make_actor(), uuid.uuid4().int % 1_000_000_000
    return [db(lambda s: domain.store_document(s, actor, vault, FakeIncidents(), incident_id, "letter.pdf",
                                               "application/pdf", b64(LETTER), 1024 * 1024))["id"]
            for _ in range(count)]


def read(db, vault, document_id) -> bytes:
    document = db(lambda s: domain.get_document(s, make_actor(), vault, FakeIncidents(), document_id))
    return base64.b64decode(document["content_b64"])


def key_ids(db) -> dict[str, str | None]:
    return dict(db(lambda s: s.execute(select(Document.id, Document.key_id)).all()))


def objects(store) -> dict[str, bytes]:
    return {key: store.get(key) for key in store.keys()}


def test_each_row_records_the_key_that_wrapped_it(db, store):
    ids = upload(db, Vault(store, OLD))
    assert key_ids(db) == {ids[0]: master_key_id(OLD)}
    assert len(master_key_id(OLD)) == 8 and master_key_id(OLD) != master_key_id(NEW)


def test_a_previous_key_still_opens_what_it_wrapped_and_new_uploads_use_the_current(db, store):
    [old] = upload(db, Vault(store, OLD))
    rotated = Vault(store, NEW, [OLD])
    [new] = upload(db, rotated)
    assert read(db, rotated, old) == LETTER and read(db, rotated, new) == LETTER
    assert key_ids(db) == {old: master_key_id(OLD), new: master_key_id(NEW)}
    with pytest.raises(IntegrityFailed):  # without the previous key, the old document cannot be read
        read(db, Vault(store, NEW), old)


def test_rotate_rewraps_every_data_key_in_batches_without_touching_the_objects(db, sessions, store):
    ids = upload(db, Vault(store, OLD), count=5)
    before = objects(store)
    rotated = Vault(store, NEW, [OLD])
    done = keys.rotate(sessions, rotated.master_keys, batch=2)
    assert (done.rewrapped, done.unreadable, done.current) == (5, 0, 5)
    assert set(key_ids(db).values()) == {master_key_id(NEW)}
    assert objects(store) == before  # same objects, byte for byte
    new_only = Vault(store, NEW)  # the previous key can now be dropped
    assert all(read(db, new_only, document_id) == LETTER for document_id in ids)
    again = keys.rotate(sessions, rotated.master_keys, batch=2)
    assert (again.rewrapped, again.current) == (0, 5)


def test_an_interrupted_rotation_keeps_its_batches_and_a_second_run_finishes(db, sessions, store, monkeypatch):
    upload(db, Vault(store, OLD), count=3)
    new = Vault(store, NEW, [OLD]).master_keys
    real_rewrap, calls = new.rewrap, []

    def dies_on_the_second_batch(wrapped_key, key_id):
        calls.append(key_id)
        if len(calls) == 2:
            raise RuntimeError("killed")
        return real_rewrap(wrapped_key, key_id)

    monkeypatch.setattr(new, "rewrap", dies_on_the_second_batch)
    with pytest.raises(RuntimeError):
        keys.rotate(sessions, new, batch=1)
    assert sorted(key_ids(db).values()) == sorted([master_key_id(NEW)] + [master_key_id(OLD)] * 2)
    monkeypatch.setattr(new, "rewrap", real_rewrap)
    assert keys.rotate(sessions, new, batch=1).rewrapped == 2
    assert set(key_ids(db).values()) == {master_key_id(NEW)}


def test_rows_from_before_key_ids_open_and_are_rotated(db, sessions, store):
    [document_id] = upload(db, Vault(store, OLD))
    db(lambda s: s.execute(update(Document).values(key_id=None)))  # as the migration leaves them
    rotated = Vault(store, NEW, [OLD])
    assert read(db, rotated, document_id) == LETTER
    assert keys.rotate(sessions, rotated.master_keys).rewrapped == 1
    assert key_ids(db) == {document_id: master_key_id(NEW)} and read(db, Vault(store, NEW), document_id) == LETTER


def test_a_document_under_a_key_not_given_is_counted_and_left_as_it_was(db, sessions, store):
    [lost] = upload(db, Vault(store, OTHER))
    [kept] = upload(db, Vault(store, OLD))
    wrapped_before = db(lambda s: s.get(Document, lost).wrapped_key)
    done = keys.rotate(sessions, Vault(store, NEW, [OLD]).master_keys)
    assert (done.rewrapped, done.unreadable, done.current) == (1, 1, 1)
    assert key_ids(db) == {lost: master_key_id(OTHER), kept: master_key_id(NEW)}
    assert db(lambda s: s.get(Document, lost).wrapped_key) == wrapped_before


def test_rows_another_rotation_holds_are_skipped_not_waited_for(db, sessions, store):
    first, second = sorted(upload(db, Vault(store, OLD), count=2))
    new = Vault(store, NEW, [OLD]).master_keys
    with transaction(sessions) as other:  # another run of `rotate`, in the middle of its batch
        other.scalars(select(Document).where(Document.id == first).with_for_update()).all()
        done = keys.rotate(sessions, new)
    assert done.rewrapped == 1 and key_ids(db) == {first: master_key_id(OLD), second: master_key_id(NEW)}
    assert keys.rotate(sessions, new).rewrapped == 1


def test_the_command_prints_its_counts_and_fails_while_a_key_is_missing(db, store, database_url, tmp_path,
                                                                        monkeypatch, capsys):
    upload(db, Vault(store, OLD), count=2)
    upload(db, Vault(store, OTHER))
    monkeypatch.chdir(tmp_path)  # no .env file
    for name, value in {**key_settings("documents"), "documents_database_url": database_url,
                        "vault_dir": store.root, "master_key": base64.b64encode(NEW).decode(),
                        "previous_master_keys": base64.b64encode(OLD).decode()}.items():
        monkeypatch.setenv(f"HAVEN_{name.upper()}", value)
    monkeypatch.setattr("sys.argv", ["keys", "rotate"])
    with pytest.raises(SystemExit) as exit:
        keys.main()
    assert exit.value.code == 1
    out = capsys.readouterr()
    assert f"re-wrapped 2 data key(s); 2 document(s) now under master key {master_key_id(NEW)}; 1 could not" \
        in out.out and "HAVEN_PREVIOUS_MASTER_KEYS" in out.err

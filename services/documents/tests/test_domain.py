"""The documents service's rules against real PostgreSQL, with the local vault and S3 (moto)."""
from __future__ import annotations

import base64
import hashlib
import os
import uuid

import pytest
from sqlalchemy import func, select, update

from services.common.errors import Forbidden, IntegrityFailed, NotFound, ValidationFailed
from services.documents import domain
from services.documents.models import Document

from . import samples
from .conftest import OTHER_SCHOOL, FakeIncidents, b64, make_actor

MAX = 20 * 1024 * 1024
LETTER = b"%PDF-1.4 letter from a parent about a worry at home" * 10


@pytest.fixture
def incident_id() -> int:
    return uuid.uuid4().int % 1_000_000_000  # the database is shared by the whole session


@pytest.fixture
def actor():
    return make_actor()


def store(db, vault, actor, incident_id, content=LETTER, filename="letter.pdf", content_type="application/pdf",
          access=None, max_bytes=MAX):
    access = access or FakeIncidents()
    return db(lambda s: domain.store_document(s, actor, vault, access, incident_id, filename, content_type,
                                              b64(content) if isinstance(content, bytes) else content,
                                              max_bytes))


def get(db, vault, actor, document_id, access=None):
    return db(lambda s: domain.get_document(s, actor, vault, access or FakeIncidents(), document_id))


def rows_for(db, incident_id) -> int:
    return db(lambda s: s.scalar(select(func.count()).select_from(Document)
                                 .where(Document.incident_id == incident_id)))


def tamper(db, document_id, **values):
    db(lambda s: s.execute(update(Document).where(Document.id == document_id).values(**values)))


@pytest.mark.parametrize("vault_fixture", ["local_vault", "s3_vault"])
def test_a_document_round_trips(request, vault_fixture, db, actor, incident_id):
    vault = request.getfixturevalue(vault_fixture)
    access = FakeIncidents()
    stored = store(db, vault, actor, incident_id, access=access)
    assert access.calls == [(incident_id, "attach")]
    assert stored["size"] == len(LETTER) and stored["sha256"] == hashlib.sha256(LETTER).hexdigest()
    assert stored["filename"] == "letter.pdf" and stored["content_type"] == "application/pdf"
    assert stored["incident_id"] == incident_id and stored["uploaded_by"]["id"] == actor.user_id

    row = db(lambda s: s.get(Document, stored["id"]))
    assert row.school_id == actor.school_id and len(row.wrapped_key) == 40
    assert LETTER[:40] not in vault.store.get(row.storage_key)

    read = FakeIncidents()
    fetched = get(db, vault, actor, stored["id"], access=read)
    assert read.calls == [(incident_id, "read")]
    assert base64.b64decode(fetched["content_b64"]) == LETTER
    assert {k: v for k, v in fetched.items() if k != "content_b64"} == stored


def test_tampered_ciphertext_is_refused(db, local_vault, actor, incident_id):
    stored = store(db, local_vault, actor, incident_id)
    key = db(lambda s: s.get(Document, stored["id"]).storage_key)
    data = bytearray(local_vault.store.get(key))
    data[0] ^= 0xFF
    local_vault.store.put(key, bytes(data))
    with pytest.raises(IntegrityFailed):
        get(db, local_vault, actor, stored["id"])


def test_tampered_sha256_is_refused(db, local_vault, actor, incident_id):
    stored = store(db, local_vault, actor, incident_id)
    assert get(db, local_vault, actor, stored["id"])["sha256"] == stored["sha256"]
    tamper(db, stored["id"], sha256=hashlib.sha256(b"something else").hexdigest())
    with pytest.raises(IntegrityFailed):
        get(db, local_vault, actor, stored["id"])


def test_wrapped_keys_swapped_between_documents_are_refused(db, local_vault, actor, incident_id):
    a = store(db, local_vault, actor, incident_id, content=b"%PDF-1.4 first document")
    b = store(db, local_vault, actor, incident_id, content=b"%PDF-1.4 second document")
    key_a = db(lambda s: s.get(Document, a["id"]).wrapped_key)
    key_b = db(lambda s: s.get(Document, b["id"]).wrapped_key)
    tamper(db, a["id"], wrapped_key=key_b)
    tamper(db, b["id"], wrapped_key=key_a)
    for doc in (a, b):
        with pytest.raises(IntegrityFailed):
            get(db, local_vault, actor, doc["id"])


@pytest.mark.parametrize("given, kept", [
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\office\\Desktop\\referral.docx", "referral.docx"),
    ("invoice\u202efdp.exe", "invoicefdp.exe"),  # right-to-left override hides the real extension
    ('report "final".pdf', "report _final_.pdf"),
    ("  notes.txt. ", "notes.txt"),
    ("Zoe\u0308 letter.pdf", "Zoë letter.pdf"),
    ("x" * 300 + ".pdf", "x" * 251 + ".pdf"),
])
def test_filenames_are_sanitised(given, kept):
    assert domain.clean_filename(given) == kept


def test_a_path_is_stored_as_its_last_part(db, local_vault, actor, incident_id):
    stored = store(db, local_vault, actor, incident_id, filename="../../etc/letter.pdf")
    assert stored["filename"] == "letter.pdf"
    assert get(db, local_vault, actor, stored["id"])["filename"] == "letter.pdf"


def test_a_name_without_an_extension_gets_the_one_its_content_says(db, local_vault, actor, incident_id):
    assert store(db, local_vault, actor, incident_id, filename="../../etc/passwd")["filename"] == "passwd.pdf"
    stored = store(db, local_vault, actor, incident_id, filename="x" * 300, content=samples.png(),
                   content_type="image/png")
    assert stored["filename"] == "x" * 251 + ".png"


@pytest.mark.parametrize("filename", ["", "..", "../", None, "\u202e"])
def test_a_file_needs_a_name(db, local_vault, actor, incident_id, filename):
    with pytest.raises(ValidationFailed) as caught:
        store(db, local_vault, actor, incident_id, filename=filename)
    assert [e["field"] for e in caught.value.errors] == ["filename"]
    assert rows_for(db, incident_id) == 0


@pytest.mark.parametrize("claimed", ["application/octet-stream", "Application/PDF; charset=x", "<script>"])
def test_the_stored_type_is_the_detected_one_never_the_claim(db, local_vault, actor, incident_id, claimed):
    assert store(db, local_vault, actor, incident_id, content_type=claimed)["content_type"] == "application/pdf"


@pytest.mark.parametrize("content, filename, claimed", [
    (samples.EXE, "letter.pdf", "application/pdf"),
    (samples.HTML, "note.txt", "text/plain"),
    (samples.zip_of({"a.txt": b"a"}), "referral.docx", "application/octet-stream"),
    (LETTER, "letter.pdf", "image/png"),
])
def test_a_disguised_file_is_refused_and_nothing_is_stored(db, local_vault, actor, incident_id, content,
                                                           filename, claimed):
    with pytest.raises(ValidationFailed) as caught:
        store(db, local_vault, actor, incident_id, content=content, filename=filename, content_type=claimed)
    assert [e["field"] for e in caught.value.errors] == ["file"]
    assert rows_for(db, incident_id) == 0 and os.listdir(local_vault.store.root) == []


def test_an_oversized_file_is_refused_in_words_a_secretary_understands(db, local_vault, actor, incident_id):
    too_big = "A" * (4 * (MAX // 3 + 1) + 4)
    with pytest.raises(ValidationFailed) as caught:
        store(db, local_vault, actor, incident_id, content=too_big)
    assert caught.value.errors == [{"field": "file",
                                    "message": "The file is larger than 20 MB. Split it or reduce its size."}]
    assert rows_for(db, incident_id) == 0 and os.listdir(local_vault.store.root) == []


def test_the_size_limit_is_exact(db, local_vault, actor, incident_id):
    with pytest.raises(ValidationFailed) as caught:
        store(db, local_vault, actor, incident_id, content=b"%PDF-" + b"x" * 1020, max_bytes=1024)
    assert caught.value.errors[0]["field"] == "file" and "1 KB" in caught.value.errors[0]["message"]
    exact = store(db, local_vault, actor, incident_id, content=b"%PDF-" + b"x" * 1019, max_bytes=1024)
    assert exact["size"] == 1024


@pytest.mark.parametrize("content", [b"", "not base64 at all!", 12345])
def test_an_empty_or_unreadable_file_is_refused(db, local_vault, actor, incident_id, content):
    with pytest.raises(ValidationFailed) as caught:
        store(db, local_vault, actor, incident_id, content=content)
    assert [e["field"] for e in caught.value.errors] == ["file"]
    assert rows_for(db, incident_id) == 0


@pytest.mark.parametrize("bad_id", ["12", None, True, 1.5])
def test_the_incident_must_be_an_id(db, local_vault, actor, bad_id):
    access = FakeIncidents()
    with pytest.raises(ValidationFailed) as caught:
        store(db, local_vault, actor, bad_id, access=access)
    assert caught.value.errors[0]["field"] == "incident_id" and access.calls == []


def test_forbidden_to_attach_stores_nothing(db, local_vault, actor, incident_id):
    access = FakeIncidents(forbidden={(incident_id, "attach")})
    with pytest.raises(Forbidden):
        store(db, local_vault, actor, incident_id, access=access)
    # Permission is checked before the content: a refused caller learns nothing about limits either.
    with pytest.raises(Forbidden):
        store(db, local_vault, actor, incident_id, content="!!", access=access)
    assert rows_for(db, incident_id) == 0 and os.listdir(local_vault.store.root) == []


def test_an_answer_about_another_school_is_refused(db, local_vault, actor, incident_id):
    with pytest.raises(Forbidden):
        store(db, local_vault, actor, incident_id, access=FakeIncidents(school_id=OTHER_SCHOOL))
    assert rows_for(db, incident_id) == 0


def test_forbidden_to_read_returns_nothing(db, local_vault, actor, incident_id):
    stored = store(db, local_vault, actor, incident_id)
    with pytest.raises(Forbidden):
        get(db, local_vault, actor, stored["id"], access=FakeIncidents(forbidden={(incident_id, "read")}))
    with pytest.raises(Forbidden):
        db(lambda s: domain.list_documents(s, actor, FakeIncidents(forbidden={(incident_id, "read")}),
                                           incident_id))


def test_another_schools_document_is_not_found(db, local_vault, actor, incident_id):
    stored = store(db, local_vault, actor, incident_id)
    access = FakeIncidents(school_id=OTHER_SCHOOL)
    with pytest.raises(NotFound):
        get(db, local_vault, make_actor(school_id=OTHER_SCHOOL), stored["id"], access=access)
    assert access.calls == []


@pytest.mark.parametrize("document_id", [str(uuid.uuid4()), "not-a-uuid", 42, None])
def test_unknown_documents_are_not_found(db, local_vault, actor, document_id):
    with pytest.raises(NotFound):
        get(db, local_vault, actor, document_id)


def test_list_shows_only_that_incidents_documents(db, local_vault, actor, incident_id):
    first = store(db, local_vault, actor, incident_id, filename="one.pdf")
    second = store(db, local_vault, actor, incident_id, filename="two.pdf")
    store(db, local_vault, actor, incident_id + 1, filename="elsewhere.pdf")
    store(db, local_vault, make_actor(school_id=OTHER_SCHOOL), incident_id,
          access=FakeIncidents(school_id=OTHER_SCHOOL), filename="other-school.pdf")
    access = FakeIncidents()
    listed = db(lambda s: domain.list_documents(s, actor, access, incident_id))
    assert listed == [first, second] and access.calls == [(incident_id, "read")]
    assert "content_b64" not in listed[0]

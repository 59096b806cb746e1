"""The vault on its own: envelope encryption, the local directory store and S3 (moto over HTTP)."""
from __future__ import annotations

import base64
import os
import stat

import pytest
from pydantic import ValidationError

from services.common.errors import IntegrityFailed
from services.common.testing import key_settings
from services.documents.settings import DocumentsSettings
from services.documents.vault import LocalDirectoryStore, Vault, decode_master_key

PLAINTEXT = b"Pupil disclosed at break time that... (a safeguarding account)" * 20
DOC_A, DOC_B = "6f1c3a52-0000-4000-8000-00000000000a", "6f1c3a52-0000-4000-8000-00000000000b"


def test_local_round_trip_writes_only_ciphertext_readable_by_owner(local_vault):
    sealed = local_vault.put("school-1/doc-a", DOC_A, PLAINTEXT)
    path = os.path.join(local_vault.store.root, "school-1", "doc-a")
    with open(path, "rb") as f:
        on_disk = f.read()
    assert PLAINTEXT[:40] not in on_disk
    assert len(on_disk) == len(PLAINTEXT) + 16  # AES-GCM: same length plus the tag
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(os.path.dirname(path)) == ["doc-a"]  # no temp file left behind
    assert len(sealed.wrapped_key) == 40 and len(sealed.nonce) == 12
    assert local_vault.get("school-1/doc-a", DOC_A, sealed.wrapped_key, sealed.nonce) == PLAINTEXT


def test_s3_round_trip_stores_only_ciphertext(s3_vault, s3_store):
    sealed = s3_vault.put("school-1/doc-a", DOC_A, PLAINTEXT)
    raw = s3_store.client.get_object(Bucket=s3_store.bucket, Key="school-1/doc-a")["Body"].read()
    assert PLAINTEXT[:40] not in raw and len(raw) == len(PLAINTEXT) + 16
    assert s3_store.exists("school-1/doc-a") and not s3_store.exists("school-1/doc-b")
    assert s3_vault.get("school-1/doc-a", DOC_A, sealed.wrapped_key, sealed.nonce) == PLAINTEXT


def test_s3_store_creates_its_bucket_once(s3_store):
    s3_store.client.head_bucket(Bucket=s3_store.bucket)  # prepare() created it
    s3_store.prepare()  # and a second start finds it there


def test_each_document_gets_its_own_key_and_nonce(local_vault):
    a = local_vault.put("school-1/a", DOC_A, PLAINTEXT)
    b = local_vault.put("school-1/b", DOC_A, PLAINTEXT)
    assert a.wrapped_key != b.wrapped_key and a.nonce != b.nonce
    assert local_vault.store.get("school-1/a") != local_vault.store.get("school-1/b")


def test_tampered_ciphertext_on_disk_is_refused(local_vault):
    sealed = local_vault.put("school-1/doc-a", DOC_A, PLAINTEXT)
    path = os.path.join(local_vault.store.root, "school-1", "doc-a")
    data = bytearray(open(path, "rb").read())
    data[5] ^= 0x01
    with open(path, "wb") as f:
        f.write(data)
    with pytest.raises(IntegrityFailed):
        local_vault.get("school-1/doc-a", DOC_A, sealed.wrapped_key, sealed.nonce)


def test_tampered_ciphertext_in_s3_is_refused(s3_vault, s3_store):
    sealed = s3_vault.put("school-1/doc-a", DOC_A, PLAINTEXT)
    raw = bytearray(s3_store.get("school-1/doc-a"))
    raw[-1] ^= 0x80
    s3_store.put("school-1/doc-a", bytes(raw))
    with pytest.raises(IntegrityFailed):
        s3_vault.get("school-1/doc-a", DOC_A, sealed.wrapped_key, sealed.nonce)


def test_wrapped_keys_cannot_be_swapped_between_documents(local_vault):
    a = local_vault.put("school-1/a", DOC_A, b"document A")
    b = local_vault.put("school-1/b", DOC_B, b"document B")
    with pytest.raises(IntegrityFailed):
        local_vault.get("school-1/a", DOC_A, b.wrapped_key, a.nonce)
    with pytest.raises(IntegrityFailed):
        local_vault.get("school-1/b", DOC_B, a.wrapped_key, b.nonce)


def test_a_ciphertext_cannot_be_passed_off_as_another_document(local_vault):
    b = local_vault.put("school-1/b", DOC_B, b"document B")
    assert local_vault.get("school-1/b", DOC_B, b.wrapped_key, b.nonce) == b"document B"
    # Everything of B's, presented as document A: the associated data (the id) no longer matches.
    with pytest.raises(IntegrityFailed):
        local_vault.get("school-1/b", DOC_A, b.wrapped_key, b.nonce)


def test_another_master_key_cannot_open_a_document(local_vault):
    sealed = local_vault.put("school-1/a", DOC_A, PLAINTEXT)
    other = Vault(local_vault.store, os.urandom(32))
    with pytest.raises(IntegrityFailed):
        other.get("school-1/a", DOC_A, sealed.wrapped_key, sealed.nonce)


def test_a_missing_object_is_an_integrity_failure(local_vault):
    sealed = local_vault.put("school-1/a", DOC_A, PLAINTEXT)
    os.unlink(os.path.join(local_vault.store.root, "school-1", "a"))
    with pytest.raises(IntegrityFailed):
        local_vault.get("school-1/a", DOC_A, sealed.wrapped_key, sealed.nonce)


@pytest.mark.parametrize("key", ["../outside", "school-1/../../outside", "/etc/passwd", ".hidden",
                                 "school-1/.tmp-x", "a//b", "", "a\\..\\b", "a/b/c/d/e"])
def test_local_object_keys_cannot_escape_the_directory(tmp_path, key):
    store = LocalDirectoryStore(str(tmp_path / "vault"))
    store.prepare()
    with pytest.raises(ValueError):
        store.put(key, b"x")
    assert not (tmp_path / "outside").exists()


def test_local_object_keys_cannot_escape_through_a_symlink(tmp_path):
    store = LocalDirectoryStore(str(tmp_path / "vault"))
    store.prepare()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "vault" / "link")
    with pytest.raises(ValueError):
        store.put("link/file", b"x")
    assert os.listdir(tmp_path / "elsewhere") == []


def test_master_key_of_the_wrong_length_is_refused(tmp_path):
    short = base64.b64encode(os.urandom(16)).decode()
    with pytest.raises(ValueError, match="32 random bytes"):
        decode_master_key(short)
    with pytest.raises(ValueError, match="not valid base64"):
        decode_master_key("not base64!")
    with pytest.raises(ValueError):
        Vault(LocalDirectoryStore(str(tmp_path)), os.urandom(16))
    assert len(decode_master_key(base64.b64encode(os.urandom(32)).decode())) == 32


def test_settings_refuse_a_missing_or_short_master_key(monkeypatch):
    monkeypatch.delenv("HAVEN_MASTER_KEY", raising=False)
    with pytest.raises(ValidationError, match="HAVEN_MASTER_KEY"):
        DocumentsSettings(_env_file=None, **key_settings("documents"), master_key=base64.b64encode(b"x" * 31).decode())
    with pytest.raises(ValidationError, match="master_key"):
        DocumentsSettings(_env_file=None, **key_settings("documents"))
    good = base64.b64encode(os.urandom(32)).decode()
    settings = DocumentsSettings(_env_file=None, **key_settings("documents"), master_key=good)
    assert good not in repr(settings)  # a secret, kept out of logs
    assert settings.master_key.get_secret_value() == good and settings.max_document_bytes == 20 * 1024 * 1024
    assert settings.vault_backend == "local" and settings.s3_endpoint_url is None

"""The vault on its own: envelope encryption, the local directory store and S3 (moto over HTTP)."""
from __future__ import annotations

import base64
import os
import stat

import pytest
from cryptography.hazmat.primitives.keywrap import aes_key_wrap
from pydantic import ValidationError

from services.common.errors import IntegrityFailed
from services.common.testing import key_settings
from services.documents.settings import DocumentsSettings
from services.documents.vault import (LocalDirectoryStore, StoreRefusesEncryption, Vault, decode_master_key,
                                      master_key_id)

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


def head(store, key) -> dict:
    return store.client.head_object(Bucket=store.bucket, Key=key)


def test_s3_objects_are_encrypted_by_the_store_too_aes256_by_default(s3_vault, s3_store):
    s3_vault.put("school-1/doc-a", DOC_A, PLAINTEXT)
    assert head(s3_store, "school-1/doc-a")["ServerSideEncryption"] == "AES256"
    assert s3_store.keys() == ["school-1/doc-a"]  # the start-up check left nothing behind


def test_s3_encryption_with_a_kms_key_or_none(make_s3_store):
    kms = make_s3_store(sse="aws:kms", kms_key_id="arn:aws:kms:eu-west-2:111122223333:key/haven")
    kms.prepare()
    kms.put("school-1/a", b"ciphertext")
    answer = head(kms, "school-1/a")
    assert answer["ServerSideEncryption"] == "aws:kms" and answer["SSEKMSKeyId"].endswith("key/haven")
    plain = make_s3_store(sse="none")
    plain.prepare()
    plain.put("school-1/a", b"ciphertext")
    assert "ServerSideEncryption" not in head(plain, "school-1/a")


def _answer_puts_with(store, status: int, body: bytes, headers: dict) -> None:
    """The store's PutObject answered as an S3-compatible endpoint without server-side encryption would."""
    from botocore.awsrequest import AWSResponse

    class Raw:
        def stream(self, **_):
            yield body

    def answer(request, **_):
        return AWSResponse(request.url, status, headers, Raw())
    store.client.meta.events.register("before-send.s3.PutObject", answer)


def test_a_store_that_refuses_server_side_encryption_fails_at_start_naming_the_setting(make_s3_store):
    store = make_s3_store()
    store._make_bucket()
    _answer_puts_with(store, 501, b"<?xml version='1.0'?><Error><Code>NotImplemented</Code><Message>Server side "
                      b"encryption specified but KMS is not configured</Message></Error>", {})
    with pytest.raises(StoreRefusesEncryption, match="refused server-side encryption AES256 .*HAVEN_VAULT_S3_SSE=none"):
        store.prepare()


def test_a_store_that_ignores_server_side_encryption_fails_at_start(make_s3_store):
    store = make_s3_store(sse="aws:kms")
    store._make_bucket()
    _answer_puts_with(store, 200, b"", {"ETag": '"d41d8cd98f00b204e9800998ecf8427e"'})
    with pytest.raises(StoreRefusesEncryption, match="did not confirm .*HAVEN_VAULT_S3_KMS_KEY_ID"):
        store.prepare()


def test_settings_take_previous_master_keys_and_the_s3_encryption(monkeypatch):
    current, previous = os.urandom(32), [os.urandom(32), os.urandom(32)]
    settings = DocumentsSettings(
        _env_file=None, **key_settings("documents"), master_key=base64.b64encode(current).decode(),
        previous_master_keys=" , ".join(base64.b64encode(key).decode() for key in previous) + ",",
        vault_s3_sse="aws:kms", vault_s3_kms_key_id="  ")
    assert settings.vault_s3_kms_key_id is None
    assert base64.b64encode(previous[0]).decode() not in repr(settings)
    vault = settings.open_vault()
    assert vault.master_keys.current_id == master_key_id(current)
    for key in previous:
        data_key = os.urandom(32)
        assert vault.master_keys.unwrap(aes_key_wrap(key, data_key), master_key_id(key)) == data_key
    with pytest.raises(ValidationError, match="HAVEN_PREVIOUS_MASTER_KEYS, key 2"):
        DocumentsSettings(_env_file=None, **key_settings("documents"), master_key=base64.b64encode(current).decode(),
                          previous_master_keys=base64.b64encode(previous[0]).decode() + ",c2hvcnQ=")
    with pytest.raises(ValidationError, match="vault_s3_sse"):
        DocumentsSettings(_env_file=None, **key_settings("documents"), master_key=base64.b64encode(current).decode(),
                          vault_s3_sse="aws:fixme")
    assert DocumentsSettings(_env_file=None, **key_settings("documents"),
                             master_key=base64.b64encode(current).decode()).vault_s3_sse == "AES256"

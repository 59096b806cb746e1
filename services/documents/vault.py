"""The document vault: envelope encryption over a small object store. No Nameko here.

Each document gets a fresh 256-bit data key. The content is sealed with AES-GCM, using the
document's id as associated data so a ciphertext cannot be passed off as another document's; the
data key is wrapped with the master key (RFC 3394 AES key wrap) and only the wrapped key is kept,
in the document's row, with the id of the master key that wrapped it. Storage only ever sees
ciphertext.

Master keys rotate without touching a stored object: the current key wraps new data keys, previous
keys are still accepted for unwrapping, and `python -m services.documents.keys rotate` re-wraps the
data keys that previous keys hold (keys.py says the operator's steps).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from .exceptions import IntegrityFailed

log = logging.getLogger(__name__)

MASTER_KEY_BYTES = 32
NONCE_BYTES = 12
# Path-like keys of plain segments: nothing that could climb out of a directory or hide as a dotfile.
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}(/[A-Za-z0-9][A-Za-z0-9._-]{0,199}){0,3}")


def decode_master_key(text: str) -> bytes:
    """The master key from its base64 form; ValueError with a message an operator can act on."""
    hint = ("HAVEN_MASTER_KEY must be the base64 of 32 random bytes, e.g. the output of "
            "python -c \"import base64, os; print(base64.b64encode(os.urandom(32)).decode())\"")
    try:
        key = base64.b64decode((text or "").strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{hint} (it is not valid base64)") from None
    if len(key) != MASTER_KEY_BYTES:
        raise ValueError(f"{hint} (it decodes to {len(key)} bytes)")
    return key


def decode_previous_keys(text: str) -> list[bytes]:
    """HAVEN_PREVIOUS_MASTER_KEYS: comma-separated base64 keys, each checked as the master key is."""
    keys = []
    for n, part in enumerate(p.strip() for p in (text or "").split(",")):
        if not part:
            continue
        try:
            keys.append(decode_master_key(part))
        except ValueError as error:
            raise ValueError(f"HAVEN_PREVIOUS_MASTER_KEYS, key {n + 1}: {error}") from None
    return keys


def master_key_id(key: bytes) -> str:
    """A master key's name in the documents' rows: a prefix of its SHA-256, so an operator can tell
    which key a row needs without the row revealing anything of the key (32 bits of a hash of 256
    random bits)."""
    return hashlib.sha256(key).hexdigest()[:8]


class MasterKeys:
    """The current master key, which wraps every new data key, and the previous ones, still accepted
    for unwrapping until `keys rotate` has re-wrapped what they hold."""

    def __init__(self, current: bytes, previous: Iterable[bytes] = ()):
        previous = tuple(previous)
        for key in (current, *previous):
            if not isinstance(key, bytes) or len(key) != MASTER_KEY_BYTES:
                raise ValueError(f"the master key must be exactly {MASTER_KEY_BYTES} bytes")
        self.current_id = master_key_id(current)
        self._keys = {master_key_id(key): key for key in previous}
        self._keys[self.current_id] = current

    def __repr__(self) -> str:  # never show a key in a log or traceback
        return f"MasterKeys(current={self.current_id}, held={sorted(self._keys)})"

    def wrap(self, data_key: bytes) -> bytes:
        return aes_key_wrap(self._keys[self.current_id], data_key)

    def unwrap(self, wrapped_key: bytes, key_id: str | None) -> bytes:
        """The data key. `key_id` None: a row from before key ids were recorded, tried with each key
        held (the key wrap's own integrity check tells a wrong key, it never yields a wrong data key).
        KeyError if this process does not hold the key; InvalidUnwrap if the key does not open it."""
        if key_id is not None:
            if key_id not in self._keys:
                raise KeyError(key_id)
            return aes_key_unwrap(self._keys[key_id], bytes(wrapped_key))
        for key in self._keys.values():
            try:
                return aes_key_unwrap(key, bytes(wrapped_key))
            except InvalidUnwrap:
                continue
        raise InvalidUnwrap()

    def rewrap(self, wrapped_key: bytes, key_id: str | None) -> bytes:
        """The same data key, wrapped by the current master key: what rotation writes back."""
        return self.wrap(self.unwrap(wrapped_key, key_id))


def check_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError(f"not a valid object key: {key!r}")
    return key


class ObjectMissing(Exception):
    """The store has no object under that key."""


class ObjectStore(Protocol):
    def prepare(self) -> None: ...
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def keys(self) -> list[str]: ...


class LocalDirectoryStore:
    """Objects as files under one directory: written atomically, readable by this user only."""

    def __init__(self, root: str):
        self.root = os.path.realpath(root)

    def prepare(self) -> None:
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        os.chmod(self.root, 0o700)  # a vault an older Haven made with the umask's mode

    def _path(self, key: str) -> str:
        path = os.path.realpath(os.path.join(self.root, *check_key(key).split("/")))
        if os.path.commonpath([self.root, path]) != self.root:  # e.g. through a symlink
            raise ValueError(f"object key escapes the vault directory: {key!r}")
        return path

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        directory = os.path.dirname(path)
        self._make_directories(directory)
        # mkstemp creates the file 0600; the name starts with "." so no valid key can collide with it.
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        finally:
            os.close(dir_fd)

    def _make_directories(self, directory: str) -> None:
        """Each missing level 0700: os.makedirs gives its mode to the last level only."""
        if not os.path.isdir(self.root):
            self.prepare()
        missing = []
        while directory != self.root and not os.path.isdir(directory):
            missing.append(directory)
            directory = os.path.dirname(directory)
        for directory in reversed(missing):
            try:
                os.mkdir(directory, 0o700)
            except FileExistsError:  # another worker made it first
                pass

    def get(self, key: str) -> bytes:
        try:
            with open(self._path(key), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise ObjectMissing(key) from None

    def exists(self, key: str) -> bool:
        return os.path.isfile(self._path(key))

    def delete(self, key: str) -> None:
        """Gone afterwards, whether or not it was there (the orphan sweeper may be asked twice)."""
        try:
            os.unlink(self._path(key))
        except FileNotFoundError:
            pass

    def keys(self) -> list[str]:
        """Every object's key, sorted (a backup lists them; the service never needs to). Files whose
        names start with "." are writes in progress (put's ".tmp-…"), never objects."""
        found = []
        for directory, subdirectories, files in os.walk(self.root):
            subdirectories[:] = [d for d in subdirectories if not d.startswith(".")]
            relative = os.path.relpath(directory, self.root)
            found += [name if relative == "." else f"{relative.replace(os.sep, '/')}/{name}"
                      for name in files if not name.startswith(".")]
        return sorted(found)


ServerSideEncryption = Literal["none", "AES256", "aws:kms"]


class StoreRefusesEncryption(Exception):
    """The S3 endpoint will not encrypt on its side as configured: a setting to change, said at start."""


class S3Store:
    """Objects in one S3 (or MinIO) bucket. Build it once per process: it holds one boto3 client.

    The objects are already ciphertext; server-side encryption (`sse`, "AES256" by default) is asked
    for as well, so a bucket copied or exposed outside Haven's keys is still encrypted at rest by the
    store. Not every S3-compatible store does it: prepare() finds out at start, not at the first upload.
    """

    def __init__(self, bucket: str, region: str, endpoint_url: str | None = None,
                 sse: ServerSideEncryption = "AES256", kms_key_id: str | None = None):
        if sse not in ("none", "AES256", "aws:kms"):
            raise ValueError(f"HAVEN_VAULT_S3_SSE must be none, AES256 or aws:kms, not {sse!r}")
        self.bucket = bucket
        self.region = region
        self._sse = {} if sse == "none" else {"ServerSideEncryption": sse}
        if sse == "aws:kms" and kms_key_id:
            self._sse["SSEKMSKeyId"] = kms_key_id
        config = BotoConfig(region_name=region, connect_timeout=5, read_timeout=60,
                            retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=20,
                            # MinIO and moto serve buckets by path, not by virtual host.
                            s3={"addressing_style": "path" if endpoint_url else "auto"})
        self.client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)

    def prepare(self) -> None:
        self._make_bucket()
        if self._sse:
            self._check_encryption()

    def _make_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if _error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise
        extra = {} if self.region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": self.region}}
        try:
            self.client.create_bucket(Bucket=self.bucket, **extra)
            log.info("created bucket %s", self.bucket)
        except ClientError as exc:
            if _error_code(exc) != "BucketAlreadyOwnedByYou":
                raise

    def _check_encryption(self) -> None:
        """Writes (and deletes) one small object the way every document is written. A store that refuses
        the header, or takes it and does not say it encrypted, would otherwise fail or mislead later."""
        asked = self._sse["ServerSideEncryption"]
        probe = f"sse-check/{uuid.uuid4()}"
        hint = ("set HAVEN_VAULT_S3_SSE=none if this store cannot encrypt on its side (the documents are "
                "encrypted by Haven before they are stored either way)")
        if asked == "aws:kms":
            hint += ", or check HAVEN_VAULT_S3_KMS_KEY_ID"
        try:
            answer = self.client.put_object(Bucket=self.bucket, Key=probe, Body=b"", **self._sse)
        except ClientError as exc:
            raise StoreRefusesEncryption(
                f"bucket {self.bucket} refused server-side encryption {asked} ({_error_code(exc)}): "
                f"{hint}") from None
        self.client.delete_object(Bucket=self.bucket, Key=probe)
        if answer.get("ServerSideEncryption") != asked:
            raise StoreRefusesEncryption(
                f"bucket {self.bucket} did not confirm server-side encryption {asked}: {hint}")

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=check_key(key), Body=data,
                               ContentType="application/octet-stream", **self._sse)

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=check_key(key))["Body"].read()
        except ClientError as exc:
            if _error_code(exc) in ("NoSuchKey", "404"):
                raise ObjectMissing(key) from None
            raise

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=check_key(key))
            return True
        except ClientError as exc:
            if _error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                return False
            raise

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=check_key(key))  # S3: no error if it is not there

    def keys(self) -> list[str]:
        """Every object's key, sorted (a backup lists them; the service never needs to)."""
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            found += [item["Key"] for item in page.get("Contents", [])]
        return sorted(found)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def open_store(backend: str, *, vault_dir: str, s3_bucket: str, s3_region: str,
               s3_endpoint_url: str | None = None, s3_sse: ServerSideEncryption = "AES256",
               s3_kms_key_id: str | None = None) -> ObjectStore:
    if backend == "local":
        return LocalDirectoryStore(vault_dir)
    if backend == "s3":
        return S3Store(s3_bucket, s3_region, s3_endpoint_url, s3_sse, s3_kms_key_id)
    raise ValueError(f"HAVEN_VAULT_BACKEND must be 'local' or 's3', not {backend!r}")


@dataclass(frozen=True)
class Sealed:
    """What the document's row keeps so the vault can open the stored ciphertext again."""

    wrapped_key: bytes
    nonce: bytes
    key_id: str  # of the master key that wrapped the data key


class Vault:
    def __init__(self, store: ObjectStore, master_key: bytes, previous_keys: Iterable[bytes] = ()):
        self.store = store
        self.master_keys = MasterKeys(master_key, previous_keys)

    def __repr__(self) -> str:  # never show the key in a log or traceback
        return f"Vault({type(self.store).__name__})"

    def prepare(self) -> None:
        self.store.prepare()

    def put(self, storage_key: str, document_id: str, content: bytes) -> Sealed:
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(data_key).encrypt(nonce, content, document_id.encode())
        self.store.put(storage_key, ciphertext)
        return Sealed(wrapped_key=self.master_keys.wrap(data_key), nonce=nonce,
                      key_id=self.master_keys.current_id)

    def get(self, storage_key: str, document_id: str, wrapped_key: bytes, nonce: bytes,
            key_id: str | None = None) -> bytes:
        """The plaintext, or IntegrityFailed if anything about the stored document is not as sealed."""
        try:
            ciphertext = self.store.get(storage_key)
        except ObjectMissing:
            log.error("document %s: its stored object %s is missing", document_id, storage_key)
            raise IntegrityFailed() from None
        try:
            data_key = self.master_keys.unwrap(wrapped_key, key_id)
        except KeyError:
            log.error("document %s: its data key is wrapped by master key %s, which is neither "
                      "HAVEN_MASTER_KEY nor one of HAVEN_PREVIOUS_MASTER_KEYS", document_id, key_id)
            raise IntegrityFailed() from None
        except (InvalidUnwrap, ValueError):
            log.error("document %s: its data key does not unwrap with the master key", document_id)
            raise IntegrityFailed() from None
        try:
            return AESGCM(data_key).decrypt(bytes(nonce), ciphertext, document_id.encode())
        except (InvalidTag, ValueError):
            log.error("document %s: the stored ciphertext failed authentication", document_id)
            raise IntegrityFailed() from None

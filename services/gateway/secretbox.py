"""Small secrets at rest (TOTP secrets, saved forms): AES-256-GCM with the gateway's secrets key.

A sealed value is text, `v1.<base64url(nonce ‖ ciphertext ‖ tag)>`, so it fits a string column. The
purpose (e.g. `totp:42`, the column and the row it belongs to) is the associated data: a value copied
into another row or column does not open there. Who holds the database without the key (a backup, a
replica) holds nothing usable.
"""
from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic_settings import BaseSettings, SettingsConfigDict

PREFIX = "v1."
NONCE_BYTES = 12


class SecretboxError(Exception):
    """A sealed value that does not open with this key and purpose (tampered, moved, or another key)."""


class _KeyOnly(BaseSettings):
    """HAVEN_SECRETS_KEY alone, for callers without the gateway's settings at hand (the demo seed)."""

    model_config = SettingsConfigDict(env_prefix="HAVEN_", env_file=".env", extra="ignore")
    secrets_key: str = ""


def default_key() -> bytes:
    """The process's key from the environment (the same HAVEN_SECRETS_KEY the gateway's settings read)."""
    key = base64.b64decode(_KeyOnly().secrets_key or "", validate=True)
    if len(key) != 32:
        raise SecretboxError("HAVEN_SECRETS_KEY must be set to the base64 of 32 random bytes")
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(key: bytes, plaintext: str, purpose: str) -> str:
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), purpose.encode("utf-8"))
    return PREFIX + _b64(nonce + sealed)


def is_sealed(value: str | None) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def open_sealed(key: bytes, value: str, purpose: str) -> str:
    if not is_sealed(value):
        raise SecretboxError("not a sealed value")
    try:
        raw = _unb64(value[len(PREFIX):])
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], purpose.encode("utf-8")).decode("utf-8")
    except (InvalidTag, ValueError) as exc:
        raise SecretboxError("the sealed value does not open with this key and purpose") from exc

"""The key file: Haven's keys sealed with a passphrase, so a backup's vault copy and the keys that open
it can be kept apart. (The database dumps are not encrypted by Haven: they hold every record's text and
must be kept as safely as the databases themselves — README "Backup and restore".)

scrypt (N=2¹⁷, r=8, p=1: about 128 MiB and a fraction of a second, the cost that makes guessing
passphrases slow) turns the passphrase into an AES-256-GCM key. The header (format and scrypt
parameters) is the associated data, so a file whose parameters were changed does not open.
"""
from __future__ import annotations

import base64
import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

FORMAT = "haven-keys-1"
SCRYPT = {"n": 2 ** 17, "r": 8, "p": 1}
MIN_PASSPHRASE = 12


class KeyFileRefused(ValueError):
    """The key file cannot be opened: the message says why, never the passphrase or a key."""


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def _header(params: dict) -> bytes:
    return json.dumps({"format": FORMAT, "scrypt": params}, sort_keys=True, separators=(",", ":")).encode()


def check_passphrase(passphrase: str | None) -> None:
    if len(passphrase or "") < MIN_PASSPHRASE:
        raise KeyFileRefused(f"the passphrase must be at least {MIN_PASSPHRASE} characters")


def seal(values: dict[str, str], passphrase: str) -> bytes:
    check_passphrase(passphrase)
    salt, nonce = os.urandom(16), os.urandom(12)
    key = _derive(passphrase, salt, **SCRYPT)
    plaintext = json.dumps(values, sort_keys=True).encode()
    sealed = AESGCM(key).encrypt(nonce, plaintext, _header(SCRYPT))
    return json.dumps({"format": FORMAT, "scrypt": SCRYPT, "salt": base64.b64encode(salt).decode(),
                       "nonce": base64.b64encode(nonce).decode(),
                       "sealed": base64.b64encode(sealed).decode()}, indent=1).encode()


def open_sealed(data: bytes, passphrase: str) -> dict[str, str]:
    try:
        outer = json.loads(data)
        if outer.get("format") != FORMAT:
            raise KeyFileRefused(f"this is not a Haven key file ({FORMAT})")
        params = {name: int(outer["scrypt"][name]) for name in SCRYPT}
        if not (2 ** 14 <= params["n"] <= 2 ** 20 and params["r"] <= 32 and params["p"] <= 16):
            raise KeyFileRefused("the key file asks for scrypt parameters Haven does not use")
        salt, nonce, sealed = (base64.b64decode(outer[name], validate=True) for name in ("salt", "nonce", "sealed"))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        if isinstance(exc, KeyFileRefused):
            raise
        raise KeyFileRefused("the key file is damaged (it is not the JSON a backup writes)") from None
    try:
        plaintext = AESGCM(_derive(passphrase, salt, **params)).decrypt(nonce, sealed, _header(params))
    except (InvalidTag, ValueError):
        raise KeyFileRefused("the passphrase does not open this key file (or the file was altered)") from None
    return json.loads(plaintext)

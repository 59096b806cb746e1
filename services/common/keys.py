"""Ed25519 keys: each process signs with its own, and everyone verifies with the public ones.

The gateway signs actor contexts (DESIGN rule 3); every process signs the events it publishes (rule
4). A private key is given to its own process only, as `HAVEN_<PROCESS>_SIGNING_KEY`; every process
is given the public keys it trusts, as `HAVEN_PUBLIC_KEYS`. Both are text:

    signing key   <kid>:<base64 of the 32-byte private seed>
    public keys   <kid>:<base64 of the 32-byte public key>,<kid>:<…>,…

A key id names its owner first: `gateway-20261130-1a2b3c`. A signature is checked only against the
keys of the owner it claims, so the documents service's key can never pass for the gateway's.

Rotation keeps both keys for an overlap (README "Keys"): publish the new public key everywhere, move
the owner to the new private key, and once the overlap is over take the old public key away (which
also revokes it). `python -m services.common.keys` prints new keys and rewrites an env file.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import os
import re
import secrets
import sys
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

OWNERS = ("gateway", "incidents", "alerts", "documents", "transfers")
KID = re.compile(r"(?P<owner>[a-z]+)-[0-9]{8}-[0-9a-f]{6}")


class BadKey(ValueError):
    """A key that cannot be read (the message names the setting, never the key's text)."""


def owner_of(kid: str) -> str:
    match = KID.fullmatch(kid) if isinstance(kid, str) else None
    if not match or match["owner"] not in OWNERS:
        raise BadKey(f"{kid!r} is not a key id (owner-yyyymmdd-hex, owner one of {', '.join(OWNERS)})")
    return match["owner"]


def _raw(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise BadKey(f"{what}: the key is not the base64 of 32 bytes")
    return raw


def _split(item: str, what: str) -> tuple[str, str]:
    kid, sep, value = item.strip().partition(":")
    if not sep:
        raise BadKey(f"{what}: each key is written <key id>:<base64>")
    owner_of(kid)
    return kid, value


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: Ed25519PrivateKey

    @property
    def owner(self) -> str:
        return owner_of(self.kid)

    @classmethod
    def parse(cls, text: str, what: str = "signing key", owner: str | None = None) -> "SigningKey":
        kid, value = _split(text, what)
        key = cls(kid, Ed25519PrivateKey.from_private_bytes(_raw(value, what)))
        if owner is not None and key.owner != owner:
            raise BadKey(f"{what}: key {kid} belongs to {key.owner}, not {owner}")
        return key

    @classmethod
    def generate(cls, owner: str, now: float | None = None) -> "SigningKey":
        stamp = time.strftime("%Y%m%d", time.gmtime(time.time() if now is None else now))
        kid = f"{owner}-{stamp}-{secrets.token_hex(3)}"
        owner_of(kid)
        return cls(kid, Ed25519PrivateKey.generate())

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)

    def text(self) -> str:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat
        raw = self.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return f"{self.kid}:{base64.b64encode(raw).decode()}"

    def public_text(self) -> str:
        raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return f"{self.kid}:{base64.b64encode(raw).decode()}"

    def __repr__(self) -> str:  # never the private key, in a log or a traceback
        return f"SigningKey({self.kid})"


class KeyRing:
    """The public keys a process trusts, by key id."""

    def __init__(self, keys: dict[str, Ed25519PublicKey]):
        self.keys = keys

    @classmethod
    def parse(cls, text: str, what: str = "HAVEN_PUBLIC_KEYS") -> "KeyRing":
        keys = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            kid, value = _split(item, what)
            keys[kid] = Ed25519PublicKey.from_public_bytes(_raw(value, f"{what} ({kid})"))
        return cls(keys)

    def owners(self) -> set[str]:
        return {owner_of(kid) for kid in self.keys}

    def verify(self, owner: str, kid: object, signature: bytes, data: bytes) -> bool:
        """True when `kid` is a key of `owner` that this ring holds, and it signed `data`."""
        if not isinstance(kid, str) or kid not in self.keys or owner_of(kid) != owner:
            return False
        try:
            self.keys[kid].verify(signature, data)
        except InvalidSignature:
            return False
        return True


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    """Raises ValueError on anything that is not base64url."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- the command: new keys, rotation, retirement ---------------------------------------------------

def signing_variable(owner: str) -> str:
    return f"HAVEN_{owner.upper()}_SIGNING_KEY"


def read_env(path: str) -> dict[str, str]:
    values: dict[str, str] = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if "=" in line and not line.lstrip().startswith("#"):
                    name, value = line.rstrip("\n").split("=", 1)
                    values[name.strip()] = value
    return values


def write_env(path: str, values: dict[str, str]) -> None:
    """Rewrite the file readable by its owner only, replacing it in one step."""
    tmp = f"{path}.tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        for name, value in values.items():
            f.write(f"{name}={value}\n")
    os.replace(tmp, path)


def for_process(env: dict[str, str], owner: str | None) -> dict[str, str]:
    """`env` as one process should see it: its own signing key and no other process's."""
    others = {signing_variable(o) for o in OWNERS if o != owner}
    return {name: value for name, value in env.items() if name not in others}


def ensure(values: dict[str, str]) -> list[str]:
    """Give every owner a signing key and its public key, where it has none; the owners given one."""
    ring = values.get("HAVEN_PUBLIC_KEYS", "")
    added = []
    for owner in OWNERS:
        if values.get(signing_variable(owner)):
            continue
        key = SigningKey.generate(owner)
        values[signing_variable(owner)] = key.text()
        ring = ",".join(filter(None, [ring, key.public_text()]))
        added.append(owner)
    values["HAVEN_PUBLIC_KEYS"] = ring
    return added


def rotate(values: dict[str, str], owner: str) -> tuple[str, str | None]:
    """A new key for `owner`: its public key joins HAVEN_PUBLIC_KEYS beside the old one (the overlap)
    and the owner signs with the new one. Returns (new kid, old kid)."""
    old = values.get(signing_variable(owner))
    old_kid = SigningKey.parse(old, signing_variable(owner), owner).kid if old else None
    key = SigningKey.generate(owner)
    values[signing_variable(owner)] = key.text()
    values["HAVEN_PUBLIC_KEYS"] = ",".join(filter(None, [values.get("HAVEN_PUBLIC_KEYS", ""), key.public_text()]))
    return key.kid, old_kid


def retire(values: dict[str, str], kid: str) -> None:
    """Take a public key away: what it signed is refused from the next start of each process."""
    owner = owner_of(kid)
    current = values.get(signing_variable(owner))
    if current and SigningKey.parse(current, signing_variable(owner), owner).kid == kid:
        raise BadKey(f"{kid} is still {owner}'s signing key: rotate first")
    ring = [item for item in values.get("HAVEN_PUBLIC_KEYS", "").split(",") if item and _split(item, kid)[0] != kid]
    if len(ring) == len([i for i in values.get("HAVEN_PUBLIC_KEYS", "").split(",") if i]):
        raise BadKey(f"{kid} is not in HAVEN_PUBLIC_KEYS")
    values["HAVEN_PUBLIC_KEYS"] = ",".join(ring)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.common.keys", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-file", default=".env", help="the environment file holding the keys (default .env)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("ensure", help="give every process a signing key where it has none")
    rot = sub.add_parser("rotate", help="a new key for one process; the old one stays trusted until retired")
    rot.add_argument("owner", choices=OWNERS)
    ret = sub.add_parser("retire", help="stop trusting a key (after the overlap); revokes it")
    ret.add_argument("kid")
    sub.add_parser("list", help="the key ids in the file (never the keys)")
    args = parser.parse_args(argv)
    values = read_env(args.env_file)
    try:
        if args.command == "ensure":
            added = ensure(values)
            write_env(args.env_file, values)
            print(f"signing keys added for: {', '.join(added) or 'none (all present)'}")
        elif args.command == "rotate":
            new, old = rotate(values, args.owner)
            write_env(args.env_file, values)
            print(f"{args.owner} now signs with {new}.")
            if old:
                print(f"{old} stays trusted until retired. Restart every process (each verifies) before the "
                      f"{args.owner} processes; after the overlap run: retire {old}")
        elif args.command == "retire":
            retire(values, args.kid)
            write_env(args.env_file, values)
            print(f"{args.kid} is no longer trusted once each process restarts")
        else:
            ring = KeyRing.parse(values.get("HAVEN_PUBLIC_KEYS", ""))
            for kid in ring.keys:
                signing = any(values.get(signing_variable(o), "").startswith(kid + ":") for o in OWNERS)
                print(f"{kid}{'  (signing)' if signing else ''}")
    except BadKey as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

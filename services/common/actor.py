"""The actor context: who is asking, signed by the gateway, checked by every service (DESIGN rule 3).

A token is `base64url(json).base64url(hmac-sha256)`; it expires after a short time so a captured
token is of little use, and a service refuses one that is unsigned, tampered with or stale.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import asdict, dataclass, field

from .errors import Unauthenticated

DSL, SLT, STAFF = "dsl", "slt", "staff"
SECOND_FACTOR_ROLES = {DSL, SLT}


@dataclass(frozen=True)
class Actor:
    user_id: int
    school_id: int
    name: str
    roles: tuple[str, ...]
    second_factor_at: float | None = None
    # None: whatever the role allows. A list narrows it (SENCO, first-aid lead… in a later issue).
    categories: tuple[int, ...] | None = None
    year_groups: tuple[str, ...] | None = None
    job_title: str | None = None  # shown as the recorder's role on what they record
    kind: str = "staff"  # or "integration": a monitoring system posting to the incident tray
    issued_at: float = field(default_factory=time.time)

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @property
    def second_factor_verified(self) -> bool:
        return self.second_factor_at is not None

    @property
    def is_dsl(self) -> bool:
        return DSL in self.roles and self.second_factor_verified

    @property
    def is_slt(self) -> bool:
        return SLT in self.roles and self.second_factor_verified


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(actor: Actor, key: str) -> str:
    body = _b64(json.dumps(asdict(actor), separators=(",", ":")).encode())
    mac = hmac.new(key.encode(), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def verify(token: object, key: str, max_age: float, now: float | None = None) -> Actor:
    if not isinstance(token, str) or token.count(".") != 1:
        raise Unauthenticated()
    body, mac = token.split(".")
    expected = hmac.new(key.encode(), body.encode(), hashlib.sha256).digest()
    try:
        given = _unb64(mac)
    except ValueError:
        raise Unauthenticated() from None
    if not hmac.compare_digest(expected, given):
        raise Unauthenticated()
    data = json.loads(_unb64(body))
    now = time.time() if now is None else now
    if not (now - max_age <= data["issued_at"] <= now + 5):
        raise Unauthenticated("The actor context has expired.")
    for key_name in ("roles", "categories", "year_groups"):
        if data.get(key_name) is not None:
            data[key_name] = tuple(data[key_name])
    return Actor(**data)

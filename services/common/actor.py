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
ADMIN, GOVERNOR, TRUST_ADMIN = "admin", "governor", "trust_admin"
ROLES = (STAFF, DSL, SLT, ADMIN, GOVERNOR, TRUST_ADMIN)
# Roles that read other people's records, or manage who may: they must hold a second factor. A member
# of a group granted categories (a category reader) must too (`Actor.reads_records`).
SECOND_FACTOR_ROLES = {DSL, SLT, ADMIN, TRUST_ADMIN}
# Roles that record concerns. Administrators and governors by that role alone record and read nothing.
RECORDING_ROLES = {STAFF, DSL, SLT}


@dataclass(frozen=True)
class Grant:
    """What a group (SENCO, first-aid lead, pastoral leads…) gives its members: reading and recording
    in these categories, for pupils in these year groups only (None: every year group)."""

    categories: tuple[int, ...]
    year_groups: tuple[str, ...] | None = None

    def covers(self, category_id: int, year_group: str | None) -> bool:
        return category_id in self.categories and (
            self.year_groups is None or (year_group is not None and year_group in self.year_groups))




@dataclass(frozen=True)
class Actor:
    user_id: int
    school_id: int
    name: str
    roles: tuple[str, ...]
    # When the second factor was last given (epoch seconds), and until when that counts as recent
    # enough to read a safeguarding record (the step-up window, set by the gateway).
    second_factor_at: float | None = None
    step_up_until: float | None = None
    # The groups' grants (category readers). Empty: none.
    grants: tuple[Grant, ...] = ()
    job_title: str | None = None  # shown as the recorder's role on what they record
    kind: str = "staff"  # or "integration": a monitoring system posting to the incident tray
    issued_at: float = field(default_factory=time.time)

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @property
    def second_factor_verified(self) -> bool:
        return self.second_factor_at is not None

    def stepped_up(self, now: float | None = None) -> bool:
        """A second factor given recently enough to read a safeguarding record."""
        now = time.time() if now is None else now
        return self.step_up_until is not None and now <= self.step_up_until

    @property
    def is_dsl(self) -> bool:
        return DSL in self.roles and self.second_factor_verified

    @property
    def is_slt(self) -> bool:
        return SLT in self.roles and self.second_factor_verified

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles and self.second_factor_verified

    @property
    def is_trust_admin(self) -> bool:
        return TRUST_ADMIN in self.roles and self.second_factor_verified

    @property
    def reads_records(self) -> bool:
        """Reads other people's records (DSL, SLT, a category reader): needs a second factor."""
        return bool({DSL, SLT} & set(self.roles)) or bool(self.grants)

    @property
    def records(self) -> bool:
        """May record a concern: staff, the DSL team, SLT and category readers (not an administrator or
        a governor by that role alone, nor an integration)."""
        return self.kind == "staff" and (bool(RECORDING_ROLES & set(self.roles)) or bool(self.grants))

    def granted(self, category_id: int, year_group: str | None) -> bool:
        """A group's grant covers this category for a pupil in this year group (and the factor is given)."""
        return self.second_factor_verified and any(g.covers(category_id, year_group) for g in self.grants)


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
    data["roles"] = tuple(data["roles"])
    data["grants"] = tuple(Grant(categories=tuple(g["categories"]),
                                 year_groups=None if g["year_groups"] is None else tuple(g["year_groups"]))
                           for g in data.get("grants") or ())
    return Actor(**data)

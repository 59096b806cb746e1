"""The actor context: who is asking, signed by the gateway, checked by every service (DESIGN rule 3).

A context is `base64url(json claims).base64url(Ed25519 signature)`, signed with the gateway's key
alone (services hold only its public key, services/common/keys.py), for one call: the method it is
sent to, a hash of that call's arguments, a single-use id and a lifetime of the method's timeout and
a little more. A copy taken off the bus is useless: replayed, it is spent; sent to another method or
with other arguments, it does not match; later, it has expired.
"""
from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import asdict, dataclass, field

from .errors import Unauthenticated
from .keys import KeyRing, SigningKey, b64url, unb64url

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


# Signed bytes start with this, so an actor context can never pass for any other thing a key signs (an event).
PURPOSE = b"haven-actor-v2\n"
ISSUER = "gateway"  # the only process whose key may sign an actor context


def args_hash(kwargs: dict) -> str:
    """The call's keyword arguments, as the gateway sent them and as the service received them."""
    canonical = json.dumps(kwargs, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def sign(actor: Actor, key: SigningKey, method: str, kwargs: dict, ttl: float,
         delegates: tuple[str, ...] = (), now: float | None = None) -> str:
    """A context for one call: `method` (a routing key such as "incidents.get_incident") with exactly
    these arguments, once, within `ttl` seconds. `delegates`: methods the receiving service may call
    on this actor's behalf while it serves the call (each once; their arguments are its own)."""
    now = time.time() if now is None else now
    claims = {"kid": key.kid, "aud": method, "args": args_hash(kwargs), "jti": uuid.uuid4().hex,
              "iat": now, "exp": now + ttl, "delegates": list(delegates), "actor": asdict(actor)}
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    return f"{body}.{b64url(key.sign(PURPOSE + body.encode()))}"


@dataclass(frozen=True)
class ActorPass:
    """The gateway's hold on a caller: the actor, and the key to sign a context for each call it makes
    (services/gateway/clients binds it to the method and the arguments as it sends them)."""

    actor: Actor
    key: SigningKey = field(repr=False)
    default_timeout: float = 10.0
    slack: float = 15.0  # beyond the call's own timeout: clock drift between hosts

    def for_call(self, method: str, kwargs: dict, timeout: float | None,
                 delegates: tuple[str, ...] = ()) -> str:
        return sign(self.actor, self.key, method, kwargs, (timeout or self.default_timeout) + self.slack, delegates)


@dataclass(frozen=True)
class Verified:
    """A context that passed: who, and the single-use id to spend (`spend` in services/common/spent.py)."""

    actor: Actor
    token_id: str  # the jti, or "<jti>><method>" for a delegated call: each may be used once
    expires_at: float


class Refused(Unauthenticated):
    """A context that is not good for this call; `reason` is for the log (the caller learns only 401)."""

    def __init__(self, reason: str):
        super().__init__()
        self.reason = reason


def verify(token: object, ring: KeyRing, method: str, kwargs: dict, now: float | None = None) -> Verified:
    """The actor of a call to `method` with `kwargs`, if the gateway signed this context for it.

    Refused: a context that is not the gateway's (another process's key, or none we trust), tampered
    with, outside its lifetime, or made for another method or other arguments (re-targeted). Whether it
    was used before is for the service's database to tell (services/common/spent.py)."""
    if not isinstance(token, str) or token.count(".") != 1 or len(token) > 16_384:
        raise Refused("not an actor context")
    body, mac = token.split(".")
    try:
        signature = unb64url(mac)
        claims = json.loads(unb64url(body))
        kid = claims["kid"]
    except (ValueError, KeyError, TypeError):
        raise Refused("not an actor context") from None
    if not ring.verify(ISSUER, kid, signature, PURPOSE + body.encode()):
        raise Refused(f"not signed by a gateway key we trust (key {str(kid)[:40]!r})")
    now = time.time() if now is None else now
    if not (claims["iat"] - 5 <= now <= claims["exp"]):
        raise Refused("expired")
    if claims["aud"] == method:
        if claims["args"] != args_hash(kwargs):
            raise Refused(f"made for {method} with other arguments")
        token_id = claims["jti"]
    elif method in claims.get("delegates", ()):
        token_id = f"{claims['jti']}>{method}"
    else:
        raise Refused(f"made for {claims['aud']}, not {method}")
    data = dict(claims["actor"])
    data["roles"] = tuple(data["roles"])
    data["grants"] = tuple(Grant(categories=tuple(g["categories"]),
                                 year_groups=None if g["year_groups"] is None else tuple(g["year_groups"]))
                           for g in data.get("grants") or ())
    return Verified(Actor(**data), token_id, float(claims["exp"]))

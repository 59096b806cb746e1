"""Integrations: online-safety monitoring systems that post alerts to the incident tray with an API key.

A key is `hvn_` + 40 URL-safe random characters, shown once when it is made. Only its SHA-256 is
stored (a copy of the table cannot be used to post alerts), with its first characters so the DSL
can tell keys apart. A revoked integration stays in the table: the tray and the audit log name it.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.actor import Actor
from services.common.db import utcnow
from services.common.errors import NotFound, ValidationFailed

from .models import Integration

KEY_PREFIX = "hvn_"
KEY_RANDOM_CHARS = 40  # secrets.token_urlsafe(30): 240 random bits
DISPLAY_PREFIX_CHARS = 8  # "hvn_" and four random characters
MAX_NAME_CHARS = 120
INTEGRATION_ROLE = "integration"


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(30)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_key(key: str | None) -> bool:
    return (isinstance(key, str) and key.startswith(KEY_PREFIX)
            and len(key) == len(KEY_PREFIX) + KEY_RANDOM_CHARS and key.isascii())


def public(integration: Integration) -> dict:
    """What the DSL sees in the list: never the key or its hash."""
    return {"id": integration.id, "name": integration.name, "key_prefix": integration.key_prefix,
            "active": integration.active, "created_at": _iso(integration.created_at),
            "revoked_at": _iso(integration.revoked_at), "last_used_at": _iso(integration.last_used_at)}


def _iso(value):
    return value.isoformat() + "Z" if value is not None else None


def create_integration(session: Session, *, school_id: int, created_by: int, name) -> tuple[Integration, str]:
    """(the integration, its API key); the key is not kept and cannot be shown again."""
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        raise ValidationFailed.one("name", "Give the monitoring system's name, e.g. 'Smoothwall Monitor'.")
    if len(name) > MAX_NAME_CHARS:
        raise ValidationFailed.one("name", f"The name is longer than {MAX_NAME_CHARS} characters.")
    clash = session.scalar(select(Integration.id).where(
        Integration.school_id == school_id, Integration.active.is_(True),
        func.lower(Integration.name) == name.lower()))
    if clash is not None:
        raise ValidationFailed.one("name", "An active integration already has that name. Choose another, or "
                                           "revoke the old one first.")
    key = new_api_key()
    integration = Integration(school_id=school_id, name=name, key_hash=hash_key(key),
                              key_prefix=key[:DISPLAY_PREFIX_CHARS], active=True, created_by=created_by)
    session.add(integration)
    session.flush()
    return integration, key


def list_integrations(session: Session, school_id: int) -> list[Integration]:
    return list(session.scalars(select(Integration).where(Integration.school_id == school_id)
                                .order_by(Integration.active.desc(), Integration.name, Integration.id)))


def revoke_integration(session: Session, *, school_id: int, revoked_by: int, integration_id: int) -> Integration:
    """Switch the key off for good. Revoking a revoked integration changes nothing."""
    integration = session.get(Integration, integration_id)
    if integration is None or integration.school_id != school_id:
        raise NotFound("No such integration.")
    if integration.active:
        integration.active, integration.revoked_at, integration.revoked_by = False, utcnow(), revoked_by
    return integration


class KeyRefused(Exception):
    """Why a key was not accepted: a message the monitoring system's administrator can act on."""


def authenticate_key(session: Session, key: str | None) -> Integration:
    """The active integration holding this key, or KeyRefused saying what is wrong."""
    if not key:
        raise KeyRefused("Send the integration's API key as 'Authorization: Bearer <key>'.")
    digest = hash_key(key) if looks_like_key(key) else None
    integration = session.scalar(select(Integration).where(Integration.key_hash == digest)) if digest else None
    # The lookup is by hash, so its timing says nothing about the key; compare in constant time anyway.
    if integration is None or not hmac.compare_digest(integration.key_hash, digest):
        raise KeyRefused("The API key is not valid. Check it was copied in full, or ask the DSL for a new one.")
    if not integration.active:
        raise KeyRefused("This API key has been revoked. Ask the DSL for a new one.")
    integration.last_used_at = utcnow()
    return integration


def actor_for(integration: Integration) -> Actor:
    """The signed context the incidents service sees: kind "integration", its id as the user id."""
    return Actor(user_id=integration.id, school_id=integration.school_id, name=integration.name,
                 roles=(INTEGRATION_ROLE,), kind="integration")

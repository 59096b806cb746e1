"""Forms kept across a time-out: a web form sent after its session ended is stored, encrypted, for the
same member of staff, for two hours; after signing in again they get it back as they sent it (once).

What is stored is the form's text fields (a chosen file is not kept: the page asks for it again). The
key is the gateway's secrets key (AES-256-GCM); the associated data binds the ciphertext to its row and
its owner, so a copied ciphertext does not open under another row or account. The link's token is
kept only as its SHA-256, like a session cookie.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete

from services.common.db import utcnow

from ..models import LoginSession, SavedSubmission, StaffMember
from .activity import seconds_left, token_hash
from .context import Context

KEEP_FOR = timedelta(hours=2)
MAX_FIELDS = 400


def _aad(row_id: str, user_id: int) -> bytes:
    return f"saved-form:{row_id}:{user_id}".encode()


def seal(key: bytes, row_id: str, user_id: int, content: dict) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, json.dumps(content).encode(), _aad(row_id, user_id))
    return base64.b64encode(nonce + sealed).decode("ascii")


def unseal(key: bytes, row_id: str, user_id: int, body: str) -> dict | None:
    try:
        raw = base64.b64decode(body)
        return json.loads(AESGCM(key).decrypt(raw[:12], raw[12:], _aad(row_id, user_id)))
    except (ValueError, InvalidTag):
        return None


def ended_login(session, token: str | None, csrf_token: str | None, idle: timedelta, max_age: timedelta,
                now: datetime) -> LoginSession | None:
    """The session a form was sent from, when that session has ended or timed out and the form carries
    its CSRF token (so only a page of that session, not another site or a guess, can leave a form for
    someone to find after signing in). A live session is not this function's business."""
    if not token or len(token) > 200 or not isinstance(csrf_token, str):
        return None
    login = session.get(LoginSession, token_hash(token))
    if login is None or not secrets.compare_digest(csrf_token.encode("utf-8", "replace"), login.csrf_token.encode()):
        return None
    if login.ended_at is None and seconds_left(login, now, idle, max_age) > 0:
        return None
    user = session.get(StaffMember, login.user_id)
    return login if user is not None and user.active else None


def _keep(session, key: bytes, token: str | None, path: str, fields: list[tuple[str, str]], dropped_file: bool,
          idle: timedelta, max_age: timedelta) -> str | None:
    now = utcnow()
    csrf = next((v for k, v in fields if k == "csrf_token"), None)
    login = ended_login(session, token, csrf, idle, max_age, now)
    if login is None:
        return None
    session.execute(delete(SavedSubmission).where(SavedSubmission.expires_at < now))  # nothing kept past its time
    link = secrets.token_urlsafe(32)
    row_id = token_hash(link)
    kept = [[k, v] for k, v in fields if k != "csrf_token"][:MAX_FIELDS]
    session.add(SavedSubmission(id=row_id, user_id=login.user_id, path=path, expires_at=now + KEEP_FOR,
                                body=seal(key, row_id, login.user_id, {"fields": kept, "dropped_file": dropped_file})))
    return link


async def keep(ctx: Context, token: str | None, path: str, fields: list[tuple[str, str]],
               dropped_file: bool = False) -> str | None:
    """Store a form sent after its session ended; the token for its link, or None when it cannot be kept
    (no such session, a live one, a missing or wrong CSRF token)."""
    return await ctx.db.run(_keep, ctx.settings.secrets_key_bytes, token, path, fields, dropped_file,
                            timedelta(minutes=ctx.settings.session_idle_minutes),
                            timedelta(hours=ctx.settings.session_max_hours))


def _take(session, key: bytes, link: str, user_id: int) -> dict | None:
    now = utcnow()
    row = session.get(SavedSubmission, token_hash(link))
    if row is None or row.user_id != user_id:
        return None  # someone else's form is not there for this reader, and is left for its owner
    session.delete(row)  # given back once; an expired one is removed unread
    content = unseal(key, row.id, row.user_id, row.body) if row.expires_at > now else None
    if content is None:
        return None
    return {"path": row.path, "fields": [(k, v) for k, v in content["fields"]],
            "dropped_file": bool(content.get("dropped_file"))}


async def take(ctx: Context, user, link: str) -> dict | None:
    """The form kept under this link for this member of staff ({path, fields, dropped_file}), removed as
    it is given back; None for an unknown, expired or someone else's link."""
    if not link or len(link) > 100:
        return None
    return await ctx.db.run(_take, ctx.settings.secrets_key_bytes, link, user.id)


def save_for_test(session, key: bytes, user_id: int, path: str, fields: list[tuple[str, str]]) -> str:
    """A kept form made directly (tests and the accessibility scan need one without waiting for a time-out)."""
    link = secrets.token_urlsafe(32)
    row_id = token_hash(link)
    session.add(SavedSubmission(id=row_id, user_id=user_id, path=path, expires_at=utcnow() + KEEP_FOR,
                                body=seal(key, row_id, user_id, {"fields": [list(f) for f in fields],
                                                                 "dropped_file": False})))
    return link

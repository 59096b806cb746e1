"""The session's clock: how long it has left before it ends for inactivity, and keeping it alive.

The idle time runs from the session's `last_seen_at`. Asking how long is left must not count as
activity, or a tab left open (which asks now and then, to warn before the end) would never time out:
so it reads the session row without resolving it (resolving refreshes `last_seen_at`). Keeping the
session alive is what the page does when the person using it moves, types, scrolls or presses
"Stay signed in" (WCAG 2.2.1: warned, and able to extend with one simple action).
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from services.common.db import utcnow

from ..models import LoginSession, StaffMember
from .context import Context


def token_hash(token: str) -> str:
    """The session row's key: the SHA-256 of the cookie (the cookie itself is never stored)."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def seconds_left(login: LoginSession, now: datetime, idle: timedelta, max_age: timedelta) -> int:
    """Whole seconds until the session ends: idle, or at its absolute limit, whichever comes first."""
    ends = min(login.last_seen_at + idle, login.created_at + max_age)
    return max(0, int((ends - now).total_seconds()))


def live_login(session, token: str | None, idle: timedelta, max_age: timedelta,
               now: datetime) -> LoginSession | None:
    """The session row the cookie names, if it has not ended, timed out, or lost its account."""
    if not token or len(token) > 200:
        return None
    login = session.get(LoginSession, token_hash(token))
    if login is None or login.ended_at is not None or seconds_left(login, now, idle, max_age) <= 0:
        return None
    user = session.get(StaffMember, login.user_id)
    return login if user is not None and user.active else None


def _limits(ctx: Context) -> tuple[timedelta, timedelta]:
    return timedelta(minutes=ctx.settings.session_idle_minutes), timedelta(hours=ctx.settings.session_max_hours)


async def time_left(ctx: Context, token: str | None) -> int | None:
    """Seconds left, or None when there is no live session. Reads only: this is not activity."""
    idle, max_age = _limits(ctx)

    def read(session):
        now = utcnow()
        login = live_login(session, token, idle, max_age, now)
        return None if login is None else seconds_left(login, now, idle, max_age)

    return await ctx.db.run(read)


async def keep_alive(ctx: Context, token: str | None) -> int | None:
    """Count this moment as activity (to the second, not the minute a page request is counted to) and
    say how long is left now; None when the session has already ended."""
    idle, max_age = _limits(ctx)

    def touch(session):
        now = utcnow()
        login = live_login(session, token, idle, max_age, now)
        if login is None:
            return None
        login.last_seen_at = now
        return seconds_left(login, now, idle, max_age)

    return await ctx.db.run(touch)

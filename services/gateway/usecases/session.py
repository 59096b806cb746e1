"""Signing in (e-mail and password, then the TOTP code for the DSL team and SLT) and out, audited."""
from __future__ import annotations

from .. import accounts
from .context import Context


def _sign_in(session, email: str, password: str, ip: str | None):
    user = accounts.authenticate(session, email, password)
    if user is None:
        accounts.audit(session, action="sign_in", outcome="refused", ip=ip)
        return None
    token, login = accounts.start_session(session, user)
    accounts.audit(session, action="sign_in", outcome="ok", user_id=user.id, school_id=user.school_id, ip=ip)
    return token, {"user": {"id": user.id, "name": user.name, "roles": list(user.roles)},
                   "csrf_token": login.csrf_token,
                   "second_factor_required": accounts.needs_second_factor(user)}


async def sign_in(ctx: Context, email: str, password: str) -> tuple[str, dict] | None:
    """(session token, body) or None for bad credentials."""
    return await ctx.db.run(_sign_in, email, password, ctx.ip)


def _second_factor(session, user_id: int, csrf_token: str, code: str, ip: str | None) -> bool:
    login, user = accounts.find_login(session, user_id, csrf_token)
    ok = login is not None and accounts.verify_second_factor(session, login, user, code)
    accounts.audit(session, action="second_factor", outcome="ok" if ok else "refused", user_id=user_id,
                   school_id=user.school_id if user else None, ip=ip)
    return ok


async def second_factor(ctx: Context, user, code: str) -> bool:
    return await ctx.db.run(_second_factor, user.id, user.csrf_token, code, ctx.ip)


def _sign_out(session, csrf_token: str, user_id: int) -> None:
    login, _user = accounts.find_login(session, user_id, csrf_token)
    if login:
        accounts.end_session(login)


async def sign_out(ctx: Context, user) -> None:
    await ctx.db.run(_sign_out, user.csrf_token, user.id)

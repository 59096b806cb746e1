"""Signing in (e-mail and password, then the second factor for whoever must hold one) and out, audited.

Before a password is checked, throttle.py may answer "wait" (per source address, per account); the
answer is the same whether or not the account exists. Every sign-in is audited with the address it
tried; every second-factor answer (a code, a recovery code, a key) with its outcome.
"""
from __future__ import annotations

from dataclasses import dataclass

from .. import accounts, factors, throttle
from .context import Context


@dataclass(frozen=True)
class SignIn:
    """A sign-in's result: `token` and `body` when the password was right; `retry_after` seconds when
    this address must wait; neither for wrong credentials."""

    token: str | None = None
    body: dict | None = None
    retry_after: int | None = None
    device_cookie: str | None = None  # to set after a right password (throttle.DEVICE_COOKIE)

    @property
    def ok(self) -> bool:
        return self.token is not None


def _sign_in(session, email: str, password: str, ip: str | None, key: bytes, device: str | None) -> SignIn:
    tried = email.strip().lower()[:254] if accounts.storable(email) else None
    trusted = tried is not None and throttle.trusted_device(key, tried, device)
    wait = throttle.retry_after(session, email, ip, trusted=trusted)
    if wait is not None:
        accounts.audit(session, action="sign_in", outcome="refused:429", email=tried, ip=ip)
        return SignIn(retry_after=wait)
    user = accounts.authenticate(session, email, password)
    if user is None:
        throttle.failed(session, email, ip)
        accounts.audit(session, action="sign_in", outcome="refused:401", email=tried, ip=ip)
        return SignIn()
    throttle.succeeded(session, email, ip)
    token, login = accounts.start_session(session, user)
    grants = accounts.grants_of(session, user)
    owing = accounts.needs_second_factor(user, grants)
    accounts.audit(session, action="sign_in", outcome="ok", user_id=user.id, school_id=user.school_id,
                   email=tried, ip=ip)
    return SignIn(token=token, device_cookie=throttle.device_cookie(key, tried, device), body={
        "user": {"id": user.id, "name": user.name, "roles": list(user.roles)},
        "csrf_token": login.csrf_token, "second_factor_required": owing,
        "enrolment_required": owing and accounts.needs_enrolment(session, user, grants)})


async def sign_in(ctx: Context, email: str, password: str, device: str | None = None) -> SignIn:
    """`device`: the browser's `haven_device` cookie, if any (throttle.py)."""
    return await ctx.db.run(_sign_in, email, password, ctx.ip, ctx.settings.secrets_key_bytes, device)


# --- the second factor ------------------------------------------------------------------------------------

def audit_factor(session, user, action: str, verdict: factors.Verdict, ip: str | None,
                 school_id: int | None = None) -> None:
    """`school_id`: the school the session works in (default: the account's home)."""
    outcome = {"ok": "ok", "wrong": "refused:401", "wait": "refused:429", "locked": "refused:423"}[verdict.outcome]
    accounts.audit(session, action=action, outcome=outcome, user_id=user.id, school_id=school_id or user.school_id,
                   ip=ip)


def _answer(session, user_id: int, csrf_token: str, ip: str | None, action: str, check) -> factors.Verdict:
    login, user = accounts.find_login(session, user_id, csrf_token)
    if login is None or user is None:
        return factors.WRONG
    verdict = check(session, login, user)
    audit_factor(session, user, action, verdict, ip, accounts.standing_of(session, login, user).school_id)
    return verdict


async def second_factor(ctx: Context, user, code: str) -> factors.Verdict:
    """A TOTP code: finishes signing in, or (signed in already) steps up for safeguarding records."""
    key = ctx.settings.secrets_key_bytes
    return await ctx.db.run(_answer, user.id, user.csrf_token, ctx.ip, "second_factor",
                            lambda s, login, u: factors.verify_totp(s, login, u, code, key))


async def recovery_code(ctx: Context, user, code: str) -> factors.Verdict:
    """A recovery code instead: single use; it also clears a locked factor."""
    return await ctx.db.run(_answer, user.id, user.csrf_token, ctx.ip, "recovery_code",
                            lambda s, login, u: factors.use_recovery_code(s, login, u, code))


def _sign_out(session, csrf_token: str, user_id: int, ip: str | None) -> None:
    login, user = accounts.find_login(session, user_id, csrf_token)
    if login:
        accounts.end_session(login)
        accounts.audit(session, action="sign_out", outcome="ok", user_id=user_id,
                       school_id=accounts.standing_of(session, login, user).school_id if user else None, ip=ip)


async def sign_out(ctx: Context, user) -> None:
    await ctx.db.run(_sign_out, user.csrf_token, user.id, ctx.ip)


# --- the school a session works in (trusts) ---------------------------------------------------------------

NOT_A_MEMBER = "You do not hold a role at that school."


def _schools(session, user_id: int, current: int) -> list[dict]:
    member = session.get(accounts.StaffMember, user_id)
    return accounts.schools_of(session, member, current) if member else []


async def schools(ctx: Context, user) -> list[dict]:
    """The schools the signed-in account may work in, the current one marked."""
    return await ctx.db.run(_schools, user.id, user.school_id)


def _switch(session, user_id: int, csrf_token: str, from_school: int, school_id: int, ip: str | None) -> dict | None:
    login, member = accounts.find_login(session, user_id, csrf_token)
    here = accounts.switch_school(session, login, member, school_id) if login and member else None
    accounts.audit(session, action="switch_school", outcome="ok" if here else "refused:403", user_id=user_id,
                   school_id=from_school, object_type="school", object_id=school_id, ip=ip)
    if here is None:
        return None
    grants = accounts.grants_of(session, member, here.school_id)
    owing = not accounts.fully_signed_in(login, member, grants, here.roles)
    return {"user": {"id": member.id, "name": member.name, "roles": list(here.roles)},
            "csrf_token": login.csrf_token, "second_factor_required": owing,
            "enrolment_required": owing and accounts.needs_enrolment(session, member, grants, here.roles),
            "schools": accounts.schools_of(session, member, here.school_id)}


async def switch_school(ctx: Context, user, school_id: int) -> dict | None:
    """Move the session to another school where the account holds a role (audited either way): the session
    as it now stands there, or None when the account holds no role there. The second factor's time is kept;
    roles there that need a factor the session has not given ask for it (or for enrolment) as at sign-in."""
    return await ctx.db.run(_switch, user.id, user.csrf_token, user.school_id, school_id, ctx.ip)

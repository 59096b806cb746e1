"""Setting up and managing second factors: an authenticator app (TOTP), security keys and passkeys
(WebAuthn), recovery codes. Audited: an app set up, a key registered or removed, a new set of
recovery codes.

Adding a factor needs either no factor yet (enrolment at first sign-in, or a member of staff without
one) or a factor given within the step-up window: whoever finds a signed-in screen must not be able to
add their own key to it.
"""
from __future__ import annotations

from datetime import timedelta

from services.common.db import utcnow
from services.common.errors import Conflict, Forbidden, ValidationFailed

from .. import accounts, factors, webauthn_keys
from .context import Context
from .session import audit_factor

RECENT_FACTOR_MESSAGE = "Confirm it is you first: give your second factor again, then try this."


def _login(session, user):
    login, member = accounts.find_login(session, user.id, user.csrf_token)
    if login is None or member is None:
        raise Forbidden("Your session has ended. Sign in again.")
    return login, member


def _recent(login, step_up_minutes: int) -> bool:
    return login.second_factor_at is not None and utcnow() - login.second_factor_at <= timedelta(minutes=step_up_minutes)


def _may_add_factor(session, login, member, step_up_minutes: int) -> None:
    if factors.has_factor(session, member) and not _recent(login, step_up_minutes):
        raise Forbidden(RECENT_FACTOR_MESSAGE)


def _audit(session, member, action: str, ip: str | None, detail: str | None = None) -> None:
    accounts.audit(session, action=action, outcome="ok", user_id=member.id, school_id=member.school_id,
                   object_type="staff", object_id=member.id, ip=ip, detail=detail)


# --- overview ------------------------------------------------------------------------------------------

def _overview(session, user) -> dict:
    _login_row, member = _login(session, user)
    keys = webauthn_keys.keys_of(session, member)
    return {"totp": factors.has_totp(member), "locked": bool(member.factor_locked),
            "recovery_codes_left": factors.recovery_codes_left(session, member),
            "keys": [{"id": k.id, "name": k.name, "created_at": k.created_at.isoformat() + "Z",
                      "last_used_at": k.last_used_at.isoformat() + "Z" if k.last_used_at else None} for k in keys]}


async def overview(ctx: Context, user) -> dict:
    return await ctx.db.run(_overview, user)


# --- an authenticator app --------------------------------------------------------------------------------

def _begin_totp(session, user, issuer: str, key: bytes, step_up_minutes: int) -> factors.Enrolment:
    login, member = _login(session, user)
    _may_add_factor(session, login, member, step_up_minutes)
    return factors.begin_totp(member, issuer, key)


async def begin_totp(ctx: Context, user) -> factors.Enrolment:
    """The secret, its otpauth URI and QR code for the app (the same until it is confirmed)."""
    cfg = ctx.settings
    return await ctx.db.run(_begin_totp, user, cfg.totp_issuer, cfg.secrets_key_bytes, cfg.step_up_minutes)


def _confirm_totp(session, user, code: str, key: bytes, ip: str | None):
    login, member = _login(session, user)
    first_factor = not factors.has_factor(session, member)
    verdict = factors.confirm_totp(session, login, member, code, key)
    audit_factor(session, member, "totp_confirm", verdict, ip, user.school_id)
    if not verdict.ok:
        return verdict, None
    codes = factors.new_recovery_codes(session, member) if first_factor else None
    _audit(session, member, "totp_enrolled", ip)
    return verdict, codes


async def confirm_totp(ctx: Context, user, code: str) -> tuple[factors.Verdict, list[str] | None]:
    """The app's first code finishes setting it up (and counts as the second factor now). Someone setting
    up their first factor gets their recovery codes, to be shown once."""
    return await ctx.db.run(_confirm_totp, user, code, ctx.settings.secrets_key_bytes, ctx.ip)


# --- recovery codes ----------------------------------------------------------------------------------------

def _new_recovery_codes(session, user, step_up_minutes: int, ip: str | None) -> list[str]:
    login, member = _login(session, user)
    if not factors.has_factor(session, member):
        raise Conflict("Set up an authenticator app or a security key first.")
    if not _recent(login, step_up_minutes):
        raise Forbidden(RECENT_FACTOR_MESSAGE)
    codes = factors.new_recovery_codes(session, member)
    _audit(session, member, "recovery_codes_issued", ip)
    return codes


async def new_recovery_codes(ctx: Context, user) -> list[str]:
    """A new set (the old codes stop working), shown once."""
    return await ctx.db.run(_new_recovery_codes, user, ctx.settings.step_up_minutes, ctx.ip)


# --- security keys -----------------------------------------------------------------------------------------

def _key_options(session, user, public_url: str, step_up_minutes: int) -> dict:
    login, member = _login(session, user)
    _may_add_factor(session, login, member, step_up_minutes)
    return webauthn_keys.registration_options(session, login, member, public_url)


async def key_registration_options(ctx: Context, user) -> dict:
    return await ctx.db.run(_key_options, user, ctx.settings.public_url, ctx.settings.step_up_minutes)


def _register_key(session, user, credential: dict, name: str, public_url: str, step_up_minutes: int,
                  ip: str | None):
    login, member = _login(session, user)
    _may_add_factor(session, login, member, step_up_minutes)
    first_factor = not factors.has_factor(session, member)
    try:
        key = webauthn_keys.register(session, login, member, public_url, credential, name)
    except webauthn_keys.KeyRefused as refused:
        accounts.audit(session, action="security_key_registered", outcome="refused:422", user_id=member.id,
                       school_id=member.school_id, ip=ip)
        return refused, None
    factors.succeeded(login, member, utcnow())  # the key just proved itself: the factor is given now
    codes = factors.new_recovery_codes(session, member) if first_factor else None
    _audit(session, member, "security_key_registered", ip, detail=f"key {key.id}")
    return {"id": key.id, "name": key.name}, codes


async def register_key(ctx: Context, user, credential: dict, name: str) -> tuple[dict, list[str] | None]:
    """Keep a new key; recovery codes come with a first factor. A refused answer is a 422 with a reason."""
    result, codes = await ctx.db.run(_register_key, user, credential, name, ctx.settings.public_url,
                                     ctx.settings.step_up_minutes, ctx.ip)
    if isinstance(result, webauthn_keys.KeyRefused):
        raise ValidationFailed.one("credential", str(result))
    return result, codes


def _auth_options(session, user, public_url: str) -> dict:
    login, member = _login(session, user)
    return webauthn_keys.authentication_options(session, login, member, public_url)


async def key_sign_in_options(ctx: Context, user) -> dict:
    return await ctx.db.run(_auth_options, user, ctx.settings.public_url)


def _key_answer(session, user, credential: dict, public_url: str, ip: str | None) -> factors.Verdict:
    login, member = _login(session, user)
    verdict = webauthn_keys.authenticate(session, login, member, public_url, credential)
    audit_factor(session, member, "security_key", verdict, ip, user.school_id)
    return verdict


async def key_sign_in(ctx: Context, user, credential: dict) -> factors.Verdict:
    """The second factor given with a key: finishes signing in, or steps up."""
    return await ctx.db.run(_key_answer, user, credential, ctx.settings.public_url, ctx.ip)


def _remove_key(session, user, key_id: int, step_up_minutes: int, ip: str | None) -> bool:
    login, member = _login(session, user)
    if not _recent(login, step_up_minutes):
        raise Forbidden(RECENT_FACTOR_MESSAGE)
    removed = webauthn_keys.remove(session, member, key_id)
    if removed:
        _audit(session, member, "security_key_removed", ip, detail=f"key {key_id}")
    return removed


async def remove_key(ctx: Context, user, key_id: int) -> bool:
    return await ctx.db.run(_remove_key, user, key_id, ctx.settings.step_up_minutes, ctx.ip)

"""The second factor in the JSON API: giving it (a TOTP code, a recovery code, a security key), stepping
up for safeguarding records, setting up an authenticator app or a key, new recovery codes.

Who may call: any signed-in session (`SignedIn`) may give its factor or set up its first one; new
recovery codes and removing a key need the sign-in finished (`CurrentUser`) and a factor given within
the step-up window. A wrong answer is 401, an account that must wait 429 with Retry-After, a locked
factor 423 (a recovery code or an administrator unlocks it).
"""
from __future__ import annotations

from fastapi import APIRouter, HTTPException

from ..deps import CurrentUser, Ctx, SignedIn
from ..factors import Verdict
from ..schemas import (FactorDone, FactorsView, NewSecurityKey, PathId, RecoveryCodeRequest, RecoveryCodes,
                       SecondFactorRequest, SecurityKeyAnswer, SessionView, TotpEnrolment)
from ..usecases import factors, session

router = APIRouter()

WRONG_CODE = "That code is not right, or it has already been used. Check your authenticator app and try again."
LOCKED = ("Your second factor is locked after too many wrong answers. Sign in with a recovery code, or ask "
          "an administrator to reset it.")


def refuse(verdict: Verdict, wrong: str = WRONG_CODE) -> None:
    """Raise the HTTP answer for a second-factor verdict that is not ok."""
    if verdict.outcome == "wait":
        raise HTTPException(429, f"Too many wrong answers. Wait {verdict.retry_after} seconds, then try again.",
                            headers={"Retry-After": str(verdict.retry_after)})
    if verdict.outcome == "locked":
        raise HTTPException(423, LOCKED)
    raise HTTPException(401, wrong)


def answered(user, verdict: Verdict, wrong: str = WRONG_CODE) -> dict:
    """The session after a second-factor answer: fully signed in, or the refusal raised."""
    if not verdict.ok:
        refuse(verdict, wrong)
    return {"user": user.public(), "second_factor_required": False}


def _done(user, codes: list[str] | None = None) -> dict:
    return {"second_factor_required": False, "recovery_codes": codes}


@router.post("/second-factor", response_model=SessionView, response_model_exclude_none=True,
             summary="Give the TOTP code (whoever must hold a second factor)")
async def second_factor(body: SecondFactorRequest, user: SignedIn, ctx: Ctx):
    return answered(user, await session.second_factor(ctx, user, body.code))


@router.post("/step-up", response_model=SessionView, response_model_exclude_none=True,
             summary="Give the TOTP code again to read safeguarding records (step-up)")
async def step_up(body: SecondFactorRequest, user: CurrentUser, ctx: Ctx):
    return answered(user, await session.second_factor(ctx, user, body.code))


@router.post("/recovery-code", response_model=SessionView, response_model_exclude_none=True,
             summary="Give a recovery code instead of the second factor (single use; unlocks a locked factor)")
async def recovery_code(body: RecoveryCodeRequest, user: SignedIn, ctx: Ctx):
    return answered(user, await session.recovery_code(ctx, user, body.code),
                    "That recovery code is not right, or it has been used.")


@router.get("/factors", response_model=FactorsView, summary="The account's second factors")
async def list_factors(user: SignedIn, ctx: Ctx):
    return await factors.overview(ctx, user)


@router.post("/recovery-codes", response_model=RecoveryCodes,
             summary="A new set of recovery codes (the old set stops working; needs a recent second factor)")
async def new_recovery_codes(user: CurrentUser, ctx: Ctx):
    return {"recovery_codes": await factors.new_recovery_codes(ctx, user)}


# --- an authenticator app -----------------------------------------------------------------------------

@router.post("/totp/enrol", response_model=TotpEnrolment,
             summary="Start setting up an authenticator app: its secret and QR code")
async def totp_enrol(user: SignedIn, ctx: Ctx):
    enrolment = await factors.begin_totp(ctx, user)
    return {"secret": enrolment.secret, "otpauth_uri": enrolment.uri, "qr_svg": enrolment.qr_svg}


@router.post("/totp/confirm", response_model=FactorDone, response_model_exclude_none=True,
             summary="Finish setting up the app with its first code (recovery codes come with a first factor)")
async def totp_confirm(body: SecondFactorRequest, user: SignedIn, ctx: Ctx):
    verdict, codes = await factors.confirm_totp(ctx, user, body.code)
    if not verdict.ok:
        refuse(verdict)
    return _done(user, codes)


# --- security keys and passkeys -----------------------------------------------------------------------

@router.post("/webauthn/register/options", summary="Options for navigator.credentials.create()")
async def key_registration_options(user: SignedIn, ctx: Ctx) -> dict:
    return await factors.key_registration_options(ctx, user)


@router.post("/webauthn/register", response_model=FactorDone, response_model_exclude_none=True,
             summary="Register the new key (the browser's answer to the options)")
async def register_key(body: NewSecurityKey, user: SignedIn, ctx: Ctx):
    _key, codes = await factors.register_key(ctx, user, body.credential, body.name)
    return _done(user, codes)


@router.post("/webauthn/authenticate/options", summary="Options for navigator.credentials.get()")
async def key_sign_in_options(user: SignedIn, ctx: Ctx) -> dict:
    return await factors.key_sign_in_options(ctx, user)


@router.post("/webauthn/authenticate", response_model=FactorDone, response_model_exclude_none=True,
             summary="Give the second factor with a key: finishes signing in, or steps up")
async def key_sign_in(body: SecurityKeyAnswer, user: SignedIn, ctx: Ctx):
    verdict = await factors.key_sign_in(ctx, user, body.credential)
    if not verdict.ok:
        refuse(verdict, "The security key was not accepted. Try again, or use your authenticator app.")
    return _done(user)


@router.delete("/webauthn/keys/{key_id}", status_code=204,
               summary="Remove one of your security keys (needs a recent second factor)")
async def remove_key(key_id: PathId, user: CurrentUser, ctx: Ctx):
    if not await factors.remove_key(ctx, user, key_id):
        raise HTTPException(404, "No such security key on your account.")

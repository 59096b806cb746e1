"""Signing in and out of the JSON API (the web pages' forms do the same through the same use cases).

`POST /api/v1/session` refuses a request another site started (login CSRF: `Sec-Fetch-Site`, `Origin`),
and answers 429 with Retry-After while this address must wait (throttle.py), the same whether or not the
account exists. The second factor, step-up, recovery codes and security keys are in routes/factors.py.
"""
from __future__ import annotations

from fastapi import HTTPException, Response

from . import api_router
from . import factors as factor_routes
from ..deps import Ctx, SameSiteOnly, Settings, SignedIn, clear_session_cookie, set_session_cookie
from ..schemas import Credentials, SessionView
from ..throttle import MESSAGE as THROTTLED
from ..usecases import session

router = api_router("/api/v1/session", "session")


@router.post("", response_model=SessionView, response_model_exclude_none=True,
             summary="Sign in with e-mail and password", dependencies=[SameSiteOnly])
async def create_session(body: Credentials, response: Response, ctx: Ctx, cfg: Settings):
    result = await session.sign_in(ctx, body.email, body.password)
    if result.retry_after is not None:
        raise HTTPException(429, THROTTLED.format(seconds=result.retry_after),
                            headers={"Retry-After": str(result.retry_after)})
    if not result.ok:
        raise HTTPException(401, "That e-mail and password do not match an active account.")
    set_session_cookie(response, result.token, cfg)
    return result.body


@router.get("", response_model=SessionView, response_model_exclude_none=True, summary="Who is signed in")
async def whoami(user: SignedIn):
    return {"user": user.public(), "csrf_token": user.csrf_token,
            "second_factor_required": user.second_factor_required,
            "enrolment_required": user.enrolment_required, "step_up_until": user.step_up_until}


@router.delete("", status_code=204, summary="Sign out")
async def delete_session(user: SignedIn, response: Response, ctx: Ctx):
    await session.sign_out(ctx, user)
    clear_session_cookie(response)
    response.status_code = 204
    return None


router.include_router(factor_routes.router)

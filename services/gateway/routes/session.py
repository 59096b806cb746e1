"""Signing in and out of the JSON API (the web pages' forms do the same through the same use cases).

`POST /api/v1/session` refuses a request another site started (login CSRF: `Sec-Fetch-Site`, `Origin`),
and answers 429 with Retry-After while this address must wait (throttle.py), the same whether or not the
account exists. The second factor, step-up, recovery codes and security keys are in routes/factors.py.

Trusts: `GET` lists the schools the account holds a role at; `POST /api/v1/session/school` moves the
session to one of them (its roles and groups there apply from the next request on).
"""
from __future__ import annotations

from fastapi import HTTPException, Request, Response
from pydantic import BaseModel

from services.common.contracts.base import Id, View

from . import api_router
from . import factors as factor_routes
from .. import throttle
from ..deps import (Ctx, CurrentUser, SameSiteOnly, Settings, SignedIn, clear_session_cookie, set_device_cookie,
                    set_session_cookie)
from ..schemas import Credentials, SessionView
from ..throttle import MESSAGE as THROTTLED
from ..usecases import session

router = api_router("/api/v1/session", "session")


class SchoolChoice(View):
    id: int
    name: str
    current: bool


class SignedInView(SessionView):
    schools: list[SchoolChoice] | None = None


class SchoolSwitch(BaseModel):
    model_config = {"extra": "forbid"}
    school_id: Id


@router.post("", response_model=SessionView, response_model_exclude_none=True,
             summary="Sign in with e-mail and password", dependencies=[SameSiteOnly])
async def create_session(body: Credentials, request: Request, response: Response, ctx: Ctx, cfg: Settings):
    result = await session.sign_in(ctx, body.email, body.password, request.cookies.get(throttle.DEVICE_COOKIE))
    if result.retry_after is not None:
        raise HTTPException(429, THROTTLED.format(seconds=result.retry_after),
                            headers={"Retry-After": str(result.retry_after)})
    if not result.ok:
        raise HTTPException(401, "That e-mail and password do not match an active account.")
    set_session_cookie(response, result.token, cfg)
    set_device_cookie(response, result.device_cookie, cfg)
    return result.body


@router.get("", response_model=SignedInView, response_model_exclude_none=True, summary="Who is signed in")
async def whoami(user: SignedIn, ctx: Ctx):
    return {"user": user.public(), "csrf_token": user.csrf_token,
            "second_factor_required": user.second_factor_required,
            "enrolment_required": user.enrolment_required, "step_up_until": user.step_up_until,
            "schools": await session.schools(ctx, user)}


@router.post("/school", response_model=SignedInView, response_model_exclude_none=True,
             summary="Work in another school of the trust where the account holds a role")
async def switch_school(body: SchoolSwitch, user: CurrentUser, ctx: Ctx):
    switched = await session.switch_school(ctx, user, body.school_id)
    if switched is None:
        raise HTTPException(403, session.NOT_A_MEMBER)
    return switched


@router.delete("", status_code=204, summary="Sign out")
async def delete_session(user: SignedIn, response: Response, ctx: Ctx):
    await session.sign_out(ctx, user)
    clear_session_cookie(response)
    response.status_code = 204
    return None


router.include_router(factor_routes.router)

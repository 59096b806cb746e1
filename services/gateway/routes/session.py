from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from .. import accounts
from ..deps import SESSION_COOKIE, Database, Settings, SignedIn, client_ip

router = APIRouter(prefix="/api/v1/session", tags=["session"])


class Credentials(BaseModel):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=1000)


class SecondFactor(BaseModel):
    code: str = Field(min_length=6, max_length=10)


def set_session_cookie(response: Response, token: str, cfg) -> None:
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", secure=cfg.cookie_secure,
                        path="/", max_age=cfg.session_max_hours * 3600)


def sign_in(session, email: str, password: str, ip: str | None):
    """Shared by the JSON API and the web form: (token, body) or None for bad credentials."""
    user = accounts.authenticate(session, email, password)
    if user is None:
        accounts.audit(session, action="sign_in", outcome="refused", ip=ip)
        return None
    token, login = accounts.start_session(session, user)
    accounts.audit(session, action="sign_in", outcome="ok", user_id=user.id, school_id=user.school_id, ip=ip)
    return token, {"user": {"id": user.id, "name": user.name, "roles": list(user.roles)},
                   "csrf_token": login.csrf_token,
                   "second_factor_required": accounts.needs_second_factor(user)}


def check_second_factor(session, user_id: int, csrf_token: str, code: str, ip: str | None) -> bool:
    login, user = accounts.find_login(session, user_id, csrf_token)
    ok = login is not None and accounts.verify_second_factor(session, login, user, code)
    accounts.audit(session, action="second_factor", outcome="ok" if ok else "refused", user_id=user_id,
                   school_id=user.school_id if user else None, ip=ip)
    return ok


def sign_out(session, csrf_token: str, user_id: int) -> None:
    login, _user = accounts.find_login(session, user_id, csrf_token)
    if login:
        accounts.end_session(login)


@router.post("", summary="Sign in with e-mail and password")
async def create_session(body: Credentials, request: Request, response: Response, db: Database, cfg: Settings):
    result = await db.run(sign_in, body.email, body.password, client_ip(request))
    if result is None:
        raise HTTPException(401, "That e-mail and password do not match an active account.")
    token, payload = result
    set_session_cookie(response, token, cfg)
    return payload


@router.post("/second-factor", summary="Give the TOTP code (DSL and SLT)")
async def second_factor(body: SecondFactor, user: SignedIn, request: Request, db: Database):
    if not await db.run(check_second_factor, user.id, user.csrf_token, body.code, client_ip(request)):
        raise HTTPException(401, "That code is not right. Check your authenticator app and try again.")
    return {"user": user.public(), "second_factor_required": False}


@router.get("", summary="Who is signed in")
async def whoami(user: SignedIn):
    return {"user": user.public(), "csrf_token": user.csrf_token,
            "second_factor_required": user.second_factor_required}


@router.delete("", status_code=204, summary="Sign out")
async def delete_session(user: SignedIn, response: Response, db: Database):
    await db.run(sign_out, user.csrf_token, user.id)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.status_code = 204
    return None

"""Who may call what: typed dependencies, so a route's signature says who it is for.

`SignedIn` is anyone with a live session (maybe still owing a second factor); `CurrentUser` has
finished signing in (DSL and SLT have given their TOTP code); `DslUser` is the DSL team.
Unsafe methods must carry the session's CSRF token (header `X-CSRF-Token`, or a `csrf_token` form
field for the web forms).
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from services.common.actor import DSL, Actor, sign

from . import accounts
from .database import GatewayDatabase
from .rpc_client import RpcClient
from .settings import GatewaySettings

SESSION_COOKIE = "haven_session"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


@dataclass(frozen=True)
class SignedInUser:
    id: int
    school_id: int
    name: str
    email: str
    roles: tuple[str, ...]
    csrf_token: str
    second_factor_required: bool
    actor: Actor
    actor_token: str

    @property
    def is_dsl(self) -> bool:
        return self.actor.is_dsl

    def public(self) -> dict:
        return {"id": self.id, "name": self.name, "roles": list(self.roles)}


def settings(request: Request) -> GatewaySettings:
    return request.app.state.settings


def database(request: Request) -> GatewayDatabase:
    return request.app.state.db


def rpc(request: Request) -> RpcClient:
    return request.app.state.rpc


Settings = Annotated[GatewaySettings, Depends(settings)]
Database = Annotated[GatewayDatabase, Depends(database)]
Rpc = Annotated[RpcClient, Depends(rpc)]


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _signed_in(request: Request, cfg: Settings, db: Database) -> SignedInUser:
    token = request.cookies.get(SESSION_COOKIE)

    def load(session):
        found = accounts.resolve_session(session, token, timedelta(minutes=cfg.session_idle_minutes),
                                         timedelta(hours=cfg.session_max_hours))
        if found is None:
            return None
        login, user = found
        actor = accounts.actor_for(login, user)
        return SignedInUser(id=user.id, school_id=user.school_id, name=user.name, email=user.email,
                            roles=tuple(user.roles), csrf_token=login.csrf_token,
                            second_factor_required=not accounts.fully_signed_in(login, user),
                            actor=actor, actor_token=sign(actor, cfg.actor_key))

    user = await db.run(load) if token else None
    if user is None:
        raise HTTPException(401, "Please sign in.")
    if request.method not in SAFE_METHODS:
        given = request.headers.get("x-csrf-token")
        if given is None and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")):
            given = (await request.form()).get("csrf_token")
        if not isinstance(given, str) or not secrets.compare_digest(given, user.csrf_token):
            raise HTTPException(403, "The form has expired or the CSRF token is missing. Reload the page and try again.")
    return user


async def _current_user(user: Annotated[SignedInUser, Depends(_signed_in)]) -> SignedInUser:
    if user.second_factor_required:
        raise HTTPException(401, "Enter the code from your authenticator app to finish signing in.")
    return user


async def _dsl_user(user: Annotated[SignedInUser, Depends(_current_user)]) -> SignedInUser:
    if DSL not in user.roles:
        raise HTTPException(403, "Only the DSL team can do that.")
    return user


async def _maybe_signed_in(request: Request, cfg: Settings, db: Database) -> SignedInUser | None:
    """For pages like /sign-in that behave differently for someone already signed in (GET only)."""
    if request.method != "GET" or not request.cookies.get(SESSION_COOKIE):
        return None
    try:
        return await _signed_in(request, cfg, db)
    except HTTPException:
        return None


SignedIn = Annotated[SignedInUser, Depends(_signed_in)]
MaybeSignedIn = Annotated[SignedInUser | None, Depends(_maybe_signed_in)]
CurrentUser = Annotated[SignedInUser, Depends(_current_user)]
DslUser = Annotated[SignedInUser, Depends(_dsl_user)]

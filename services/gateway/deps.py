"""Who may call what: typed dependencies, so a route's or a page's signature says who it is for.

`SignedIn` is anyone with a live session (maybe still owing a second factor, or still to set one
up: `enrolment_required`); `CurrentUser` has finished signing in (whoever must hold a second factor has
given it); `Recorder` records concerns (staff, the DSL team, SLT, category readers — not an
administrator or a governor by that role alone); `DslOrSltUser` is the DSL team or senior leaders; `DslUser` is the DSL team; `AdminUser` manages staff, groups, categories and
integrations (and by that role alone reads no record); `DslOrAdminUser` is the DSL team or an administrator
(the school's alert settings, the alert e-mails that failed); `Integration` is a monitoring system with its API key.
Unsafe methods must carry the session's CSRF token (header `X-CSRF-Token`, or a `csrf_token` form
field for the web forms). A route marked with `@audits(label, "the_id")` has a tier's refusal
written to the audit log under that label, like the refusals the services give.

Signing in has no session yet, so no CSRF token: `refuse_cross_site` turns away a sign-in another site
started (login CSRF) by the browser's `Sec-Fetch-Site` and `Origin` headers, and the sign-in form adds
a double-submit cookie of its own (web/sign_in_pages.py).
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.common.actor import DSL, Actor, ActorPass

from . import accounts, integrations, throttle
from .clients import Clients
from .database import GatewayDatabase
from .rpc_client import RpcClient
from .settings import GatewaySettings
from .usecases import AuditLabel, Context

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
    actor_token: ActorPass  # signed afresh for each call, by the clients (services/gateway/clients)
    enrolment_required: bool = False  # must hold a second factor and has none yet
    school_count: int = 1  # schools the account holds roles at (more than one: it may switch)

    @property
    def step_up_until(self) -> float | None:
        return self.actor.step_up_until

    @property
    def is_dsl(self) -> bool:
        return self.actor.is_dsl

    @property
    def is_slt(self) -> bool:
        return self.actor.is_slt

    def public(self) -> dict:
        return {"id": self.id, "name": self.name, "roles": list(self.roles)}


@dataclass(frozen=True)
class IntegrationCaller:
    id: int
    school_id: int
    actor_token: ActorPass


def settings(request: Request) -> GatewaySettings:
    return request.app.state.settings


def database(request: Request) -> GatewayDatabase:
    return request.app.state.db


def rpc(request: Request) -> RpcClient:
    return request.app.state.rpc


def clients(request: Request) -> Clients:
    return request.app.state.clients


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


Settings = Annotated[GatewaySettings, Depends(settings)]
Database = Annotated[GatewayDatabase, Depends(database)]
Rpc = Annotated[RpcClient, Depends(rpc)]
Services = Annotated[Clients, Depends(clients)]


def context(request: Request, cfg: Settings, db: Database, services: Services) -> Context:
    return Context(clients=services, db=db, settings=cfg, ip=client_ip(request))


Ctx = Annotated[Context, Depends(context)]


# --- audited refusals ------------------------------------------------------------------------------

def audits(label: AuditLabel, id_param: str | None = None):
    """Mark a route: a tier's refusal of it goes in the audit log as `label` on the path's `id_param`."""
    def mark(endpoint):
        endpoint.__haven_audit__ = (label, id_param)
        return endpoint
    return mark


async def _refuse(request: Request, ctx: Context, user: SignedInUser, status: int, message: str):
    marked = getattr(request.scope.get("endpoint"), "__haven_audit__", None)
    if marked:
        label, id_param = marked
        await ctx.audit(user, label, request.path_params.get(id_param) if id_param else None,
                        f"refused:{status}")
    raise HTTPException(status, message)


# --- the tiers -------------------------------------------------------------------------------------

async def _signed_in(request: Request, cfg: Settings, db: Database) -> SignedInUser:
    token = request.cookies.get(SESSION_COOKIE)

    def load(session):
        found = accounts.resolve_session(session, token, timedelta(minutes=cfg.session_idle_minutes),
                                         timedelta(hours=cfg.session_max_hours))
        if found is None:
            return None
        login, user = found
        # The school the session works in decides the roles, job title and groups (accounts.standing_of).
        here = accounts.standing_of(session, login, user)
        grants = accounts.grants_of(session, user, here.school_id)
        actor = accounts.actor_for(login, user, grants, timedelta(minutes=cfg.step_up_minutes), here)
        owing = not accounts.fully_signed_in(login, user, grants, here.roles)
        return SignedInUser(id=user.id, school_id=here.school_id, name=user.name, email=user.email,
                            roles=here.roles, csrf_token=login.csrf_token,
                            second_factor_required=owing, actor=actor, actor_token=cfg.actor_pass(actor),
                            enrolment_required=owing and accounts.needs_enrolment(session, user, grants, here.roles),
                            # Only the pages' navigation shows it ("Your schools"): not counted for the API.
                            school_count=1 if for_api else accounts.school_count(session, user))

    for_api = request.url.path.startswith("/api/")
    user = await db.run(load) if token else None
    if user is None:
        raise HTTPException(401, "Please sign in.")
    # Who sent it, for the write audit (write_audit.py), which need not look the session up again.
    request.state.haven_caller = (user.id, user.school_id)
    if request.method not in SAFE_METHODS:
        given = request.headers.get("x-csrf-token")
        if given is None and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")):
            given = (await request.form()).get("csrf_token")
        # Compared as bytes: a token typed in non-ASCII characters is a wrong token, not a TypeError.
        if not isinstance(given, str) or not secrets.compare_digest(given.encode("utf-8", "replace"),
                                                                    user.csrf_token.encode()):
            raise HTTPException(403, "The form has expired or the CSRF token is missing. Reload the page and try again.")
    return user


async def _current_user(user: Annotated[SignedInUser, Depends(_signed_in)]) -> SignedInUser:
    if user.enrolment_required:
        raise HTTPException(401, "Set up a second factor (an authenticator app or a security key) to finish "
                                 "signing in.")
    if user.second_factor_required:
        raise HTTPException(401, "Enter the code from your authenticator app to finish signing in.")
    return user


async def _recorder(request: Request, ctx: Ctx,
                    user: Annotated[SignedInUser, Depends(_current_user)]) -> SignedInUser:
    if not user.actor.records:
        await _refuse(request, ctx, user, 403, "Your role does not record concerns. If you have one, tell the "
                                                "DSL in person.")
    return user


async def _dsl_or_slt_user(request: Request, ctx: Ctx,
                           user: Annotated[SignedInUser, Depends(_current_user)]) -> SignedInUser:
    if not (user.is_dsl or user.is_slt):
        await _refuse(request, ctx, user, 403, "Only the DSL team and senior leaders can do that.")
    return user


async def _dsl_user(request: Request, ctx: Ctx,
                    user: Annotated[SignedInUser, Depends(_current_user)]) -> SignedInUser:
    if DSL not in user.roles:
        await _refuse(request, ctx, user, 403, "Only the DSL team can do that.")
    return user


async def _admin_user(request: Request, ctx: Ctx,
                      user: Annotated[SignedInUser, Depends(_current_user)]) -> SignedInUser:
    if not user.actor.is_admin:
        await _refuse(request, ctx, user, 403, "Only an administrator can do that.")
    return user


async def _dsl_or_admin_user(request: Request, ctx: Ctx,
                             user: Annotated[SignedInUser, Depends(_current_user)]) -> SignedInUser:
    if not (DSL in user.roles or user.actor.is_admin):
        await _refuse(request, ctx, user, 403, "Only the DSL team and administrators can do that.")
    return user


async def _trust_admin_user(request: Request, ctx: Ctx,
                            user: Annotated[SignedInUser, Depends(_current_user)]) -> SignedInUser:
    if not user.actor.is_trust_admin:
        await _refuse(request, ctx, user, 403, "Only a trust administrator can do that.")
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
Recorder = Annotated[SignedInUser, Depends(_recorder)]
DslOrSltUser = Annotated[SignedInUser, Depends(_dsl_or_slt_user)]
DslUser = Annotated[SignedInUser, Depends(_dsl_user)]
AdminUser = Annotated[SignedInUser, Depends(_admin_user)]
DslOrAdminUser = Annotated[SignedInUser, Depends(_dsl_or_admin_user)]
TrustAdminUser = Annotated[SignedInUser, Depends(_trust_admin_user)]


# --- monitoring systems (an API key, no session and so no CSRF token) -------------------------------

bearer = HTTPBearer(auto_error=False, scheme_name="IntegrationKey",
                    description="An integration's API key (made by the DSL under /api/v1/integrations).")


async def _integration(request: Request, db: Database, cfg: Settings,
                       credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
                       ) -> IntegrationCaller:
    key = credentials.credentials if credentials else None

    def check(session):
        try:
            integration = integrations.authenticate_key(session, key)
        except integrations.KeyRefused as refused:
            accounts.audit(session, action="integration_key", outcome="refused:401", ip=client_ip(request))
            return str(refused)
        return IntegrationCaller(id=integration.id, school_id=integration.school_id,
                                 actor_token=cfg.actor_pass(integrations.actor_for(integration)))

    caller = await db.run(check)
    if isinstance(caller, str):
        raise HTTPException(401, caller, headers={"WWW-Authenticate": 'Bearer realm="haven-tray"'})
    return caller


Integration = Annotated[IntegrationCaller, Depends(_integration)]


# --- login CSRF -----------------------------------------------------------------------------------------

CROSS_SITE_MESSAGE = "Sign in from Haven's own sign-in page."


def public_origin(public_url: str) -> str:
    parts = urlsplit(public_url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def refuse_cross_site(request: Request, cfg: GatewaySettings) -> None:
    """403 for a request another site made the browser send: `Sec-Fetch-Site` other than same-origin or
    none (typed, bookmarked), or an `Origin` other than Haven's own. Clients that send neither (a script
    with no browser) are not a login-CSRF risk and pass."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site.strip().lower() not in ("same-origin", "none"):
        raise HTTPException(403, CROSS_SITE_MESSAGE)
    origin = request.headers.get("origin")
    if origin is not None and origin.strip().lower() != public_origin(cfg.public_url):
        raise HTTPException(403, CROSS_SITE_MESSAGE)


async def refuse_cross_site_audited(request: Request, cfg: GatewaySettings, db: GatewayDatabase) -> None:
    """`refuse_cross_site`, with the refusal in the audit log (a sign-in another site tried to start)."""
    try:
        refuse_cross_site(request, cfg)
    except HTTPException:
        ip = client_ip(request)
        await db.run(lambda session: accounts.audit(session, action="sign_in", outcome="refused:403",
                                                    detail="cross-site request", ip=ip))
        raise


async def _same_site_only(request: Request, cfg: Settings, db: Database) -> None:
    await refuse_cross_site_audited(request, cfg, db)


SameSiteOnly = Depends(_same_site_only)


# --- the session cookie ------------------------------------------------------------------------------

def set_device_cookie(response, value: str, cfg: GatewaySettings) -> None:
    """Remembers that this browser signed in to these accounts (throttle.py): only the sign-in reads it."""
    response.set_cookie(throttle.DEVICE_COOKIE, value, httponly=True, samesite="strict", secure=cfg.cookie_secure,
                        path="/", max_age=int(throttle.KNOWN_FOR.total_seconds()))


def set_session_cookie(response, token: str, cfg: GatewaySettings) -> None:
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", secure=cfg.cookie_secure,
                        path="/", max_age=cfg.session_max_hours * 3600)


def clear_session_cookie(response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")

"""The gateway: the JSON API and the web UI in front of the services."""
from __future__ import annotations

import asyncio
import logging
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from services.common import metrics, telemetry, topology
from services.common.db import migrate
from services.common.contracts.base import field_errors, field_name
from services.common.errors import HavenError, ServiceUnavailable, StepUpRequired, ValidationFailed

from .database import GatewayDatabase
from .limits import RequestLimits
from .models import OutboxEvent
from .observability import Observe
from .relay import relay_forever
from .clients import Clients
from .routes import (actions, activity, alerts, cases, categories, chronology, dashboard, documents, health,
                     incidents, integrations, pupils, roll, session, staff, tray)
from .rpc_client import RpcClient
from .settings import GatewaySettings
from .web import pages as web
from .routes import audit as audit_api
from .web import audit_pages
from .write_audit import WriteAudit
from .admin.front_doors import routers as admin_routers

log = logging.getLogger("haven.gateway")
MIGRATIONS = os.path.join(os.path.dirname(__file__), "migrations")
# A year, subdomains included: once a browser has seen Haven over HTTPS it never tries plain HTTP again.
HSTS = "max-age=31536000; includeSubDomains"


def _field(error: dict) -> str:
    loc = tuple(p for p in error["loc"] if p not in ("body", "query", "path", "header"))
    return field_name(loc, isinstance(error.get("input"), dict))


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    db = GatewayDatabase(settings.gateway_database_url)
    rpc = RpcClient(settings.amqp_uri, settings.rpc_timeout_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await run_in_threadpool(migrate, settings.gateway_database_url, MIGRATIONS)
        await run_in_threadpool(topology.declare, settings.amqp_uri, None, settings.queue_type)
        await rpc.start()
        metrics.serve(settings.metrics_address)
        metrics.watch_outbox("gateway", db.factory, OutboxEvent)  # the staff-directory events it relays
        relay = asyncio.create_task(relay_forever(db, rpc, settings.signing_key))
        yield
        relay.cancel()
        await rpc.close()
        db.engine.dispose()
        # The spans still buffered (uvicorn re-raises SIGTERM once the app has stopped: nothing runs after it).
        await run_in_threadpool(telemetry.shutdown_tracing)

    # FastAPI's own OpenTelemetry off: its server span would adopt a client's traceparent and record the full
    # URL (a search's query names a pupil), and its logs record exception messages. Haven's spans are
    # observability.py's, which name the route's template only.
    app = FastAPI(title="Haven", version="0.1.0", lifespan=lifespan, openapi_url="/api/v1/openapi.json",
                  docs_url="/api/v1/docs", redoc_url=None,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.settings, app.state.db, app.state.rpc = settings, db, rpc
    app.state.clients = Clients(rpc)

    @app.exception_handler(HavenError)
    async def domain_error(request: Request, exc: HavenError):
        body = {"detail": exc.message}
        if isinstance(exc, ValidationFailed):
            body["errors"] = exc.errors
        if isinstance(exc, ServiceUnavailable) and exc.service:
            body["service"] = exc.service
        if isinstance(exc, StepUpRequired):  # what to call to go on: the session stays
            body["step_up"] = "/api/v1/session/step-up"
        return JSONResponse(body, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        if not request.url.path.startswith("/api/"):
            return web.error_page(request, 404)  # e.g. /incidents/abc
        # The same words as the services' own field errors (one way of collecting them: the contracts').
        errors = [{"field": _field(e), "message": m["message"]}
                  for e, m in zip(exc.errors(), field_errors(exc))]
        return JSONResponse({"detail": "Some fields need correcting.", "errors": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        if exc.status_code == 401:
            return await web.to_sign_in(request)  # may keep a form sent after its session ended
        return web.error_page(request, exc.status_code, str(exc.detail))

    app.add_middleware(RequestLimits, settings=settings)  # before any body is read; inside security_headers
    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
        if not request.url.path.startswith("/static/"):  # pages name pupils: never kept by a browser or proxy
            response.headers.setdefault("Cache-Control", "no-store")
        if not settings.is_local:  # development and the tests run on plain HTTP
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response

    for router in (activity.router, session.router, health.router, staff.router, categories.router,
                   pupils.router, incidents.router, documents.router, actions.router, cases.router, chronology.router,
                   alerts.router, dashboard.router, roll.router, integrations.router, tray.router, web.router):
        app.include_router(router)
    app.include_router(audit_api.router)
    app.include_router(audit_pages.router)
    for router in admin_routers:
        app.include_router(router)
    app.add_middleware(WriteAudit)  # every write is audited, one refused at the door too
    if settings.trusted_proxy_networks:
        # Outermost, so the audit log, the write audit and the sign-in throttle all see the client the
        # trusted proxy names. Here rather than in uvicorn's options: one place, whatever server runs the app.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxy_networks)
    app.add_middleware(Observe)  # outermost of all: a request refused by any other middleware is counted too
    app.mount("/static", web.static_files(), name="static")
    return app

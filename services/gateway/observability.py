"""The outermost middleware: what every HTTP request leaves behind for the people who run Haven.

- a request id (telemetry.py), bound for everything the request does and answered as `X-Request-ID`;
- a span, the root of the request's trace, when tracing is on;
- one log line: method, the route's template, status, milliseconds;
- the latency in `haven_http_request_duration_seconds{method, route, status}`.

Never the path itself: `/api/v1/pupils?q=…` carries a pupil's name, and a path that matched no route is
whatever the client typed. Both are written as their route's template, or "unmatched".
"""
from __future__ import annotations

import logging
import time

from services.common import metrics, telemetry

log = logging.getLogger("haven.gateway.access")
UNMATCHED = "unmatched"
# Methods outside these are counted as "other": a client can send any word as a method.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_of(scope) -> str:
    """The template of the route that served the request (FastAPI leaves it in the scope), or UNMATCHED."""
    return getattr(scope.get("route"), "path", None) or UNMATCHED


class Observe:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = telemetry.new_request_id()
        header = (b"x-request-id", request_id.encode())
        method = scope["method"] if scope["method"] in METHODS else "other"
        status = 500  # what the client gets if the app fails before it answers

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        started = time.perf_counter()
        with telemetry.bound(request_id), telemetry.tracer.start_as_current_span(
                method, kind=telemetry.SpanKind.SERVER,
                record_exception=False, set_status_on_exception=False) as span:
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - started
                route = route_of(scope)
                span.update_name(f"{method} {route}")
                span.set_attributes({"http.request.method": method, "http.route": route,
                                     "http.response.status_code": status, "haven.request_id": request_id})
                metrics.HTTP_SECONDS.labels(method, route, str(status)).observe(elapsed)
                log.info("%s %s %d %.1f ms", method, route, status, elapsed * 1000)

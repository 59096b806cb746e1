"""Request limits, applied before a body is read: a pure ASGI middleware in front of the whole gateway.

- A body larger than its endpoint allows is refused with 413: at once when its Content-Length says so
  (nothing of it is read: not to answer 401, nor 422), and as soon as a body sent without one (chunked)
  passes the limit. JSON and form bodies may be 1 MB; the upload endpoints allow their file's limit
  plus room for the multipart framing and the form's other fields (each endpoint still checks the
  file's own size, with its own message).
- `input_guard`'s checks: a path, query string, JSON or urlencoded body holding text that is not text
  (unpaired surrogates, bytes that are not UTF-8) is refused with 422.

A body refused while the application is reading it: the application's receive() raises `BodyRefused`
(later calls say the client has gone), whatever the application makes of that is dropped, and the
refusal is sent instead — unless the application had already begun its answer.

After a refusal the server discards what is left of a body whose length was declared (uvicorn does, on a
connection that stays open), so that a client that sends its whole body before it reads the answer
(httpx, requests, curl) gets the 413 rather than a reset connection; nothing of it reaches the
application or memory. A chunked body refused mid-stream has no end the server can wait for: that
connection is closed."""
from __future__ import annotations

import html
import json
import re
from typing import NamedTuple

from . import input_guard
from .input_guard import Refusal
from .routes.roll import MAX_IMPORT_BYTES

KB, MB = 1024, 1024 * 1024
DEFAULT_BODY_BYTES = 1 * MB
MULTIPART_OVERHEAD = 1 * MB  # part headers, boundaries, and the other fields of a form sent with a file


class BodyLimit(NamedTuple):
    method: str
    path: re.Pattern
    max_bytes: int
    what: str  # for the message: "A file", "A roll import"…


def upload_limits(settings) -> list[BodyLimit]:
    """The endpoints that take a file, JSON API and web pages alike."""
    files = settings.max_upload_bytes + MULTIPART_OVERHEAD
    imports = MAX_IMPORT_BYTES + MULTIPART_OVERHEAD
    return [
        BodyLimit("POST", re.compile(r"/api/v1/incidents/[^/]+/documents"), files, "A file"),
        BodyLimit("POST", re.compile(r"/incidents/[^/]+/documents"), files, "A file"),
        BodyLimit("POST", re.compile(r"/incidents/new"), files, "A record with its file"),
        BodyLimit("POST", re.compile(r"/(api/v1/)?roll/import"), imports, "A roll import"),
    ]


def size(n: int) -> str:
    return f"{n / MB:.3g} MB" if n >= MB else f"{n / KB:.3g} KB" if n >= KB else f"{n} bytes"


def too_large(limit: BodyLimit | None, max_bytes: int) -> Refusal:
    if limit is None:
        return Refusal(413, f"The request body is larger than {size(max_bytes)}, the most this address takes.")
    return Refusal(413, f"{limit.what} can be at most {size(max_bytes)} with the rest of the form. "
                        "Send a smaller one.")


class BodyRefused(Exception):
    """Raised from receive() to the application when the body it is reading is refused."""


async def send_refusal(scope, send, refusal: Refusal, close: bool = False) -> None:
    """JSON under /api/, a plain page elsewhere (the web pages' forms). `close`: end the connection."""
    if scope.get("path", "").startswith("/api/"):
        body, content_type = json.dumps(refusal.body()).encode(), b"application/json"
    else:
        lines = [refusal.detail] + [f"{e['field']}: {e['message']}" for e in refusal.errors]
        paragraphs = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
        body = (f'<!doctype html><html lang="en"><meta charset="utf-8"><title>Haven</title>'
                f'<h1>That could not be sent</h1>{paragraphs}<p><a href="/">Back to Haven</a></p></html>').encode()
        content_type = b"text/html; charset=utf-8"
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store")]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestLimits:
    """`app.add_middleware(RequestLimits, settings=settings)`; or with explicit limits (tests)."""

    def __init__(self, app, settings=None, *, default_bytes: int = DEFAULT_BODY_BYTES,
                 limits: list[BodyLimit] | None = None):
        self.app = app
        self.default_bytes = default_bytes
        self.limits = limits if limits is not None else upload_limits(settings)

    def limit_for(self, method: str, path: str) -> tuple[BodyLimit | None, int]:
        for limit in self.limits:
            if limit.method == method and limit.path.fullmatch(path):
                return limit, limit.max_bytes
        return None, self.default_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        refusal = input_guard.target_problem(scope)
        if refusal:
            return await send_refusal(scope, send, refusal)
        limit, max_bytes = self.limit_for(scope["method"], scope["path"])
        content_type = declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"content-type":
                content_type = value.decode("latin-1")
        if declared is not None:
            if not declared.strip().isdigit():
                return await send_refusal(scope, send, Refusal(400, "The Content-Length header is not a number."))
            if int(declared) > max_bytes:
                return await send_refusal(scope, send, too_large(limit, max_bytes))
        await _Exchange(self.app, scope, receive, send, max_bytes, input_guard.body_kind(content_type),
                        too_large(limit, max_bytes), chunked=declared is None).run()


class _Exchange:
    """One request whose body is counted (and, for JSON and forms, checked) as the application reads it."""

    def __init__(self, app, scope, receive, send, max_bytes: int, kind: str | None, too_large: Refusal,
                 chunked: bool):
        self.app, self.scope, self._receive, self._send = app, scope, receive, send
        self.max_bytes, self.kind, self.too_large, self.chunked = max_bytes, kind, too_large, chunked
        self.close = False
        self.received = 0
        self.chunks: list[bytes] = []
        self.refusal: Refusal | None = None
        self.started = False  # the application's answer has begun

    def refuse(self, refusal: Refusal):
        self.refusal = refusal
        return BodyRefused(refusal.detail)

    async def receive(self):
        if self.refusal is not None:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] != "http.request":
            return message
        chunk = message.get("body", b"")
        self.received += len(chunk)
        if self.received > self.max_bytes:
            self.chunks, self.close = [], self.chunked
            raise self.refuse(self.too_large)
        if self.kind:
            self.chunks.append(chunk)
            if not message.get("more_body", False):
                body, self.chunks = b"".join(self.chunks), []
                problem = input_guard.body_problem(self.kind, body)
                if problem:
                    raise self.refuse(problem)
        return message

    async def send(self, message):
        if self.refusal is not None and not self.started:
            return  # the refusal goes instead
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)

    async def run(self):
        try:
            await self.app(self.scope, self.receive, self.send)
        except Exception:
            if self.refusal is None or self.started:
                raise
        if self.refusal is not None and not self.started:
            self.started = True
            await send_refusal(self.scope, self._send, self.refusal, close=self.close)

"""What ties one request together across the gateway, the bus and the services: its request id on every
log line, and (when switched on) its trace.

- **Request id.** The gateway gives every HTTP request a new one (answered as `X-Request-ID`, so a member
  of staff can quote it). It travels in the `haven-request-id` header of every RPC and every event (an
  event keeps the id of the request that caused it in its outbox row, events.py), and a service binds it
  for the worker that handles the message. Log lines carry it as `request_id`.
- **Logs.** One JSON object per line on stderr from every process (`HAVEN_LOG_FORMAT=text` for reading
  by eye): time, level, process, logger, message, request_id, and trace_id/span_id inside a traced span.
  What is logged is the caller's affair: never a pupil's name or a record's text (tests/test_log_privacy.py
  reads every line of a whole run).
- **Traces.** OpenTelemetry spans for HTTP → RPC → events, the W3C `traceparent` in AMQP headers. Off
  unless `HAVEN_OTEL_EXPORTER=otlp`: then spans go over OTLP/HTTP to `OTEL_EXPORTER_OTLP_ENDPOINT` (and the
  other standard `OTEL_*` variables: sampler, batch delay). Spans carry routes, methods and event types,
  never an argument.

A header that arrives on the bus is the sender's text until proven otherwise: a request id is used only
if it looks like one, so a forged header cannot write into the logs.
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator, Mapping

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

REQUEST_ID_HEADER = "haven-request-id"
TRACEPARENT_HEADER = "traceparent"
# A worker's Nameko context data keeps them under these names too (and forwards them, as nameko.<name>
# headers, on the calls that worker makes).

_REQUEST_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_request_id: ContextVar[str | None] = ContextVar("haven_request_id", default=None)

tracer = trace.get_tracer("haven")
SpanKind = trace.SpanKind


# --- request ids ------------------------------------------------------------------------------------------
def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return _request_id.get()


def usable_request_id(value) -> str | None:
    return value if isinstance(value, str) and _REQUEST_ID.match(value) else None


@contextmanager
def bound(request_id: str | None) -> Iterator[None]:
    """`request_id` on every log line written inside the block (this task or green thread only)."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


# --- what travels with a message ----------------------------------------------------------------------------
def outgoing() -> dict[str, str]:
    """The headers for a message sent now: the request id, and the current span as `traceparent` when
    tracing is on (nothing is injected for a span that is not recorded)."""
    headers: dict[str, str] = {}
    request_id = _request_id.get()
    if request_id:
        headers[REQUEST_ID_HEADER] = request_id
    propagate.inject(headers)
    return {k: v for k, v in headers.items() if k in (REQUEST_ID_HEADER, TRACEPARENT_HEADER)}


def context_data(headers: Mapping | None) -> dict[str, str]:
    """From a message's headers, the usable request id and traceparent (nothing else): what a Nameko
    worker's context data keeps (nameko_ext puts them there) and what an event goes out with."""
    headers = headers or {}
    data = {}
    request_id = usable_request_id(headers.get(REQUEST_ID_HEADER))
    if request_id:
        data[REQUEST_ID_HEADER] = request_id
    parent = headers.get(TRACEPARENT_HEADER)
    if isinstance(parent, str) and _TRACEPARENT.match(parent):
        data[TRACEPARENT_HEADER] = parent
    return data


def stored(headers_json: str | None) -> dict[str, str]:
    """The headers an outbox row kept (events.add_to_outbox), checked as if they had just arrived."""
    try:
        kept = json.loads(headers_json) if headers_json else None
    except ValueError:
        kept = None
    return context_data(kept if isinstance(kept, dict) else None)


class Handling:
    """One message being handled by a Nameko worker: its request id bound and, when tracing, its span
    open (a child of the sender's). `close()` ends both; the worker's context data is updated so the
    calls this worker makes (a service calling another) carry this span as their parent."""

    def __init__(self, name: str, kind: trace.SpanKind, data: dict, attributes: dict):
        self.name = name
        self._token = _request_id.set(usable_request_id(data.get(REQUEST_ID_HEADER)))
        parent = propagate.extract(data) if TRACEPARENT_HEADER in data else None
        self.span = tracer.start_span(name, context=parent, kind=kind, attributes=attributes)
        self._attached = otel_context.attach(trace.set_span_in_context(self.span))
        carried: dict[str, str] = {}
        propagate.inject(carried)
        if TRACEPARENT_HEADER in carried:
            data[TRACEPARENT_HEADER] = carried[TRACEPARENT_HEADER]
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def close(self, error: BaseException | None = None) -> None:
        """Ends the span (marked as an error for a fault) and unbinds the request id."""
        if error is not None:
            self.span.set_attribute("error.type", type(error).__name__)
            self.span.set_status(trace.StatusCode.ERROR)
        self.span.end()
        otel_context.detach(self._attached)
        _request_id.reset(self._token)


# --- set-up, once per process -------------------------------------------------------------------------------
LOG_FORMATS = ("json", "text")


class JsonFormatter(logging.Formatter):
    """One JSON object per line. `message` is the rendered message: what the code chose to log."""

    def __init__(self, process: str):
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                 + f".{int(record.msecs):03d}Z",
                 "level": record.levelname, "process": self.process, "logger": record.name,
                 "message": record.getMessage(), "request_id": _request_id.get()}
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"], entry["span_id"] = f"{span.trace_id:032x}", f"{span.span_id:016x}"
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self, process: str):
        super().__init__(f"%(asctime)s %(levelname)s {process} %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = _request_id.get()
        return f"{line} [request {request_id}]" if request_id else line


def configure_logging(process: str, log_format: str | None = None) -> None:
    """Every line of this process through one handler on stderr, as HAVEN_LOG_FORMAT says (json unless
    told otherwise)."""
    log_format = (log_format or os.environ.get("HAVEN_LOG_FORMAT") or "json").lower()
    if log_format not in LOG_FORMATS:
        raise SystemExit(f"HAVEN_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(process) if log_format == "json" else TextFormatter(process))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for noisy in ("nameko", "kombu", "pika", "alembic", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Expected domain errors (HavenError) are logged by Nameko as warnings with a traceback.
    logging.getLogger("nameko.containers").setLevel(logging.ERROR)


EXPORTERS = ("none", "otlp")


def configure_tracing(process: str, exporter: str | None = None) -> None:
    """Spans exported over OTLP/HTTP when HAVEN_OTEL_EXPORTER=otlp; otherwise the API's no-op tracer
    stays (no span is recorded, no traceparent is sent)."""
    exporter = (exporter or os.environ.get("HAVEN_OTEL_EXPORTER") or "none").lower()
    if exporter not in EXPORTERS:
        raise SystemExit(f"HAVEN_OTEL_EXPORTER must be one of {', '.join(EXPORTERS)}, not {exporter!r}")
    if exporter == "none":
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": f"haven-{process}"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def shutdown_tracing() -> None:
    """Send the spans still buffered (a process stopping)."""
    provider = trace.get_tracer_provider()
    if hasattr(provider, "shutdown"):
        provider.shutdown()


def configure(process: str) -> None:
    configure_logging(process)
    configure_tracing(process)

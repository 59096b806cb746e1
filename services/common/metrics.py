"""Prometheus metrics for every Haven process (README "Metrics").

Each process serves its own on a port of its own (`serve`, HAVEN_METRICS_ADDRESS), never the public
one: what is queued, failing or slow says something about a school's day, and Prometheus scrapes it
from inside the network. Label values are bounded words (a route's path template, a method's name, an
outcome) and never carry a name, an e-mail address or any text of a record.

Two kinds:
- Counted as things happen: the histograms and counters below, updated by the gateway's middleware,
  the RPC client and the services' adapter (and by the alerts service for its mail and escalations).
- Read when Prometheus scrapes (`watch_outbox`, `watch_dead_letters`, `watch_mail`): backlogs that live
  in a database or on the broker, and so are true across every instance of a process. A source that
  cannot be read (its database or the broker away) is left out of that scrape, logged once, and the
  rest of the scrape still answers.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from wsgiref.simple_server import WSGIRequestHandler, make_server

from amqp.exceptions import NotFound
from prometheus_client import REGISTRY, Counter, Histogram, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import amqp, topology
from .db import utcnow

log = logging.getLogger(__name__)

# From a cached answer (about 1 ms) to a generated PDF or an RPC time-out (the default is 10 s).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_SECONDS = Histogram(
    "haven_http_request_duration_seconds", "Gateway requests by route (the path template, never the path)",
    ["method", "route", "status"], buckets=BUCKETS)
RPC_SECONDS = Histogram(
    "haven_rpc_duration_seconds", "RPC methods as a service serves them; outcome: ok, domain_error or fault",
    ["service", "method", "outcome"], buckets=BUCKETS)
RPC_CLIENT_SECONDS = Histogram(
    "haven_rpc_client_duration_seconds",
    "RPC calls as the gateway waits for them; outcome: ok, domain_error, fault, timeout or unavailable",
    ["service", "method", "outcome"], buckets=BUCKETS)
EVENTS_PUBLISHED = Counter(
    "haven_events_published_total", "Events the outbox relay published, confirmed by the broker",
    ["service", "event_type"])
EVENTS_HANDLED = Counter(
    "haven_events_handled_total",
    "Events delivered to a handler; outcome: ok, retried, parked, refused, or requeued (no retry could be scheduled)",
    ["service", "event_type", "outcome"])
MAIL_SENT = Counter("haven_mail_sent_total", "Alert e-mails the mail relay accepted")
MAIL_FAILURES = Counter(
    "haven_mail_failures_total", "Alert e-mails the relay did not take; outcome: retrying, or gave_up "
    "(listed as failed for the DSL team)", ["outcome"])
ESCALATIONS = Counter(
    "haven_escalations_total", "Escalations of urgent incidents nobody on the DSL team had opened, by "
    "who they went to", ["to_group"])

# How long an answer from the broker is reused: a burst of scrapes (several Prometheus servers, someone
# reloading a dashboard) asks it once.
DEAD_LETTER_CACHE_SECONDS = 5.0
BROKER_CONNECT_TIMEOUT = 3.0


# --- read when scraped ------------------------------------------------------------------------------

class _Source:
    """One thing read at scrape time. `read()` gives (family, label values, value) triples; a failure
    gives none, logged once until it answers again."""

    def __init__(self, what: str, read: Callable[[], list[tuple]], cache_seconds: float = 0.0):
        self.what, self.read, self.cache_seconds = what, read, cache_seconds
        self._lock = threading.Lock()  # one read of a source at a time, however many scrapes come
        self._failing = False
        self._answer: list[tuple] = []
        self._at = float("-inf")

    def readings(self) -> list[tuple]:
        with self._lock:
            if time.monotonic() - self._at < self.cache_seconds:
                return self._answer
            try:
                self._answer = self.read()
            except Exception as error:  # whatever the database or the broker says, the scrape goes on
                self._answer = []
                if not self._failing:
                    log.warning("metrics: cannot read %s (%s: %s); left out of the metrics until it answers",
                                self.what, type(error).__name__, error)
                self._failing = True
            else:
                if self._failing:
                    log.info("metrics: %s answers again", self.what)
                self._failing = False
            self._at = time.monotonic()
            return self._answer


class Watch(Collector):
    """Gauges read at scrape time from several sources, one per key (a service, a queue's owner).

    Watching a key again replaces its source: tests start several containers of one service in one
    process, and each must not add a second copy of its series."""

    def __init__(self, families: dict[str, tuple[str, list[str]]]):
        self.families = families  # name -> (help, label names)
        self._sources: dict[str, _Source] = {}
        self._registered = False
        self._lock = threading.Lock()

    def watch(self, key: str, source: _Source) -> None:
        with self._lock:
            self._sources[key] = source
            if not self._registered:  # only a process that watches something shows these families
                REGISTRY.register(self)
                self._registered = True

    def describe(self):
        # Given, so registering does not run a scrape (the registry would call collect() instead).
        return [GaugeMetricFamily(name, doc, labels=labels) for name, (doc, labels) in self.families.items()]

    def collect(self):
        families = {f.name: f for f in self.describe()}
        with self._lock:
            sources = list(self._sources.values())
        seen = set()
        for source in sources:
            for name, labels, value in source.readings():
                if (name, labels) not in seen:  # two owners of one queue: its count once
                    seen.add((name, labels))
                    families[name].add_metric(list(labels), value)
        return list(families.values())


OUTBOX = Watch({
    "haven_outbox_backlog": ("Events written to the outbox and not yet published", ["service"]),
    "haven_outbox_oldest_age_seconds": ("Age of the oldest unpublished event (0 when there is none)", ["service"]),
})
DEAD_LETTERS = Watch({
    "haven_dead_letter_messages": ("Messages parked in a dead-letter queue, waiting for an operator", ["queue"]),
})
MAIL_QUEUE = Watch({
    "haven_mail_queue": ("Alert e-mails by state: pending (waiting to go or retrying) and failed (given up)",
                         ["state"]),
})


def watch_outbox(service: str, sessions: Callable[[], Session], outbox_model) -> None:
    """haven_outbox_backlog{service} and haven_outbox_oldest_age_seconds{service}: the relay falling
    behind, or stopped (the broker refusing it), shows here before anyone misses an alert. One query
    over the unpublished rows alone (the outbox's partial index, events.OutboxMixin)."""
    statement = (select(func.count(), func.min(outbox_model.created_at))
                 .where(outbox_model.published_at.is_(None)))

    def read() -> list[tuple]:
        with sessions() as session:
            count, oldest = session.execute(statement).one()
        age = max((utcnow() - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
        return [("haven_outbox_backlog", (service,), count),
                ("haven_outbox_oldest_age_seconds", (service,), age)]

    OUTBOX.watch(service, _Source(f"{service}'s outbox", read))


def dead_letter_queues(service: str) -> list[str]:
    """The dead-letter queues of `service`'s own queues (its RPC queue's and each handler's), as
    topology.py names them: what to give `watch_dead_letters`."""
    return [q.name for q in topology.durable_queues(service) if q.name.endswith(topology.DEAD_LETTER)]


def watch_dead_letters(service: str, amqp_uri: str, queue_names: list[str]) -> None:
    """haven_dead_letter_messages{queue} for each dead-letter queue named (`dead_letter_queues(service)`):
    a message parked there waits for an operator, and nothing else says so. A queue that does not exist
    yet has had nothing parked in it: 0. Passive declares, which need no permission and change nothing;
    the answer is reused for DEAD_LETTER_CACHE_SECONDS."""
    names = list(queue_names)

    def read() -> list[tuple]:
        counts = []
        with amqp.connection(amqp_uri, connect_timeout=BROKER_CONNECT_TIMEOUT) as conn:
            conn.ensure_connection(max_retries=0)  # once: kombu would wait and try again, holding the scrape
            channel = conn.channel()
            for name in names:
                try:
                    counts.append(("haven_dead_letter_messages", (name,), channel.queue_declare(
                        name, passive=True).message_count))
                except NotFound:
                    counts.append(("haven_dead_letter_messages", (name,), 0))
                    channel = conn.channel()  # the broker closes a channel on a failed passive declare
            channel.close()
        return counts

    DEAD_LETTERS.watch(service, _Source(f"{service}'s dead-letter queues", read, DEAD_LETTER_CACHE_SECONDS))


def watch_mail(sessions: Callable[[], Session], queue_sizes: Callable[[Session], dict[str, int]]) -> None:
    """haven_mail_queue{state}: `queue_sizes(session)` gives the number of e-mails in each state worth
    watching (the alerts service's own query: mail it could not send is a safeguarding alert nobody got)."""
    def read() -> list[tuple]:
        with sessions() as session:
            sizes = queue_sizes(session)
        return [("haven_mail_queue", (state,), count) for state, count in sizes.items()]

    MAIL_QUEUE.watch("alerts", _Source("the alert mail queue", read))


# --- serving ----------------------------------------------------------------------------------------

class _Quiet(WSGIRequestHandler):
    def log_message(self, format, *args):  # a scrape every 15 s is not worth a log line
        pass


_metrics_app = make_wsgi_app(REGISTRY)


def _app(environ, start_response):
    if environ.get("PATH_INFO") == "/metrics":
        return _metrics_app(environ, start_response)
    start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
    return [b"Not found: the metrics are at /metrics\n"]


def host_and_port(address: str) -> tuple[str, int]:
    """"host:port", "[::]:port" or ":port" (every IPv4 address)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"HAVEN_METRICS_ADDRESS must be host:port (such as 0.0.0.0:9464), not {address!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


_serving: set[str] = set()
_serving_lock = threading.Lock()


def serve(address: str | None) -> None:
    """Serve /metrics on `address` ("host:port"; None or "" serves nothing) from a daemon thread.

    A thread is right in both kinds of process: the gateway's event loop never runs the scrape, and in an
    eventlet-patched Nameko service the thread, its sockets and the selector it waits on are green, so
    the scrape takes turns with the workers. A second call for the same address does nothing."""
    if not address:
        return
    with _serving_lock:
        if address in _serving:
            return
        host, port = host_and_port(address)

        class Server(ThreadingWSGIServer):  # the address family belongs to this server alone
            address_family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                flags=socket.AI_PASSIVE)[0][0]

        try:
            server = make_server(host, port, _app, Server, handler_class=_Quiet)
        except OSError as error:
            raise OSError(error.errno, f"cannot serve metrics on {address}: {error.strerror}") from error
        threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
        _serving.add(address)
        log.info("metrics on http://%s/metrics", address)


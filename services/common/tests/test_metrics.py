"""Metrics (services/common/metrics.py): the scrape-time collectors against real PostgreSQL and a real
RabbitMQ, a source that is away, and /metrics served from an eventlet-patched process."""
from __future__ import annotations

import logging
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from kombu import Exchange, Queue
from prometheus_client import REGISTRY, generate_latest
from sqlalchemy import update
from sqlalchemy.orm import DeclarativeBase

from services.common import amqp, metrics, topology
from services.common.db import make_engine, session_factory, utcnow
from services.common.events import OutboxMixin, add_to_outbox, make_event, mark_published
from services.common.testing import fresh_database

ROOT = __file__.rsplit("/services/", 1)[0]


class Base(DeclarativeBase):
    pass


class OutboxEvent(OutboxMixin, Base):
    pass


@pytest.fixture(scope="module")
def engine():
    with fresh_database("haven_metrics_test") as url:
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        yield engine
        engine.dispose()


def sample(name: str, **labels) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the outbox ---------------------------------------------------------------------------------

def test_the_outbox_backlog_and_the_age_of_its_oldest_unpublished_event(engine):
    sessions = session_factory(engine)
    metrics.watch_outbox("metrics-test", sessions, OutboxEvent)
    assert (sample("haven_outbox_backlog", service="metrics-test"),
            sample("haven_outbox_oldest_age_seconds", service="metrics-test")) == (0, 0)

    with sessions.begin() as session:
        for n in range(4):
            add_to_outbox(session, OutboxEvent, make_event("incident_recorded", 1, incident_id=n))
    with sessions.begin() as session:
        mark_published(session, OutboxEvent, [1])  # the oldest went out: it no longer counts
        session.execute(update(OutboxEvent).where(OutboxEvent.id == 1)
                        .values(created_at=utcnow() - timedelta(hours=5)))
        session.execute(update(OutboxEvent).where(OutboxEvent.id == 2)
                        .values(created_at=utcnow() - timedelta(minutes=10)))
    assert sample("haven_outbox_backlog", service="metrics-test") == 3
    assert 600 <= sample("haven_outbox_oldest_age_seconds", service="metrics-test") < 5 * 3600


def test_watching_a_service_again_replaces_its_source(engine):
    """Tests start several containers of one service in one process: one series each, the newest source's."""
    with fresh_database("haven_metrics_test") as url:
        other = make_engine(url)
        try:
            Base.metadata.create_all(other)
            metrics.watch_outbox("metrics-replaced", session_factory(engine), OutboxEvent)
            metrics.watch_outbox("metrics-replaced", session_factory(other), OutboxEvent)
            with session_factory(other).begin() as session:
                add_to_outbox(session, OutboxEvent, make_event("pupil_added", 1, pupil_id=1))
            scrape = generate_latest(REGISTRY).decode()
            assert scrape.count('haven_outbox_backlog{service="metrics-replaced"}') == 1
            assert sample("haven_outbox_backlog", service="metrics-replaced") == 1
        finally:
            other.dispose()


def test_a_database_that_is_away_leaves_its_series_out_of_a_scrape_that_still_answers(engine, caplog):
    away = make_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/nothing_listens_here")
    metrics.watch_outbox("metrics-here", session_factory(engine), OutboxEvent)
    metrics.watch_outbox("metrics-away", session_factory(away), OutboxEvent)
    with caplog.at_level(logging.WARNING, logger=metrics.__name__):
        for _ in range(3):
            scrape = generate_latest(REGISTRY).decode()
            assert 'haven_outbox_backlog{service="metrics-here"}' in scrape
            assert 'service="metrics-away"' not in scrape
    assert len([r for r in caplog.records if "metrics-away" in r.getMessage()]) == 1  # once, not per scrape


# --- dead-letter queues --------------------------------------------------------------------------

def park(vhost: str, queue: str, count: int) -> None:
    with amqp.connection(vhost) as conn:
        dead = Queue(queue, exchange=Exchange(""), routing_key=queue, durable=True)
        producer = conn.Producer()
        for n in range(count):
            producer.publish({"n": n}, routing_key=queue, declare=[dead], serializer="json")


def test_dead_letter_queue_sizes_from_the_broker(vhost):
    parked = topology.dead_letter_queue("evt-incidents-incident_recorded--alerts.on_incident_recorded",
                                        topology.CLASSIC).name
    never = topology.dead_letter_queue("rpc-alerts", topology.CLASSIC).name  # nothing ever parked: no queue
    park(vhost, parked, 3)
    metrics.watch_dead_letters("metrics-dlq", vhost, [parked, never])
    assert sample("haven_dead_letter_messages", queue=parked) == 3
    assert sample("haven_dead_letter_messages", queue=never) == 0

    park(vhost, parked, 2)
    assert sample("haven_dead_letter_messages", queue=parked) == 3  # the answer of a moment ago, reused
    metrics.watch_dead_letters("metrics-dlq", vhost, [parked])  # a fresh source asks the broker again
    assert sample("haven_dead_letter_messages", queue=parked) == 5
    assert sample("haven_dead_letter_messages", queue=never) is None


def test_a_broker_that_is_away_leaves_its_series_out():
    queue = "rpc-metrics-away.dead-letter"
    metrics.watch_dead_letters("metrics-dlq-away", f"amqp://guest:guest@127.0.0.1:{free_port()}/", [queue])
    scrape = generate_latest(REGISTRY).decode()
    assert "haven_dead_letter_messages" in scrape and queue not in scrape


def test_each_services_dead_letter_queues_are_those_topology_names():
    names = metrics.dead_letter_queues("alerts")
    assert "rpc-alerts.dead-letter" in names
    assert "evt-incidents-incident_recorded--alerts.on_incident_recorded.dead-letter" in names
    assert all(name.endswith(topology.DEAD_LETTER) for name in names)
    assert not set(names) & set(metrics.dead_letter_queues("incidents"))


# --- serving -------------------------------------------------------------------------------------

GREEN_PROCESS = """
import services.common.green  # noqa: F401  (as a Nameko service starts)
import sys
import eventlet
from services.common import metrics
metrics.serve(sys.argv[1])
metrics.serve(sys.argv[1])  # again: nothing happens
metrics.EVENTS_PUBLISHED.labels("incidents", "incident_recorded").inc()
print("serving", flush=True)
while True:
    eventlet.sleep(0.05)  # the main green thread keeps the hub busy, as a service's workers do
"""


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_serve_answers_metrics_from_an_eventlet_process_and_nothing_else():
    address = f"127.0.0.1:{free_port()}"
    process = subprocess.Popen([sys.executable, "-c", GREEN_PROCESS, address], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "serving"
        status, body = get(f"http://{address}/metrics")
        assert status == 200
        assert 'haven_events_published_total{event_type="incident_recorded",service="incidents"} 1.0' in body
        assert "# TYPE haven_rpc_duration_seconds histogram" in body
        assert get(f"http://{address}/")[0] == 404
        assert get(f"http://{address}/healthz/ready")[0] == 404
        assert get(f"http://{address}/metrics")[0] == 200  # and again, for the next scrape
    finally:
        process.kill()
        process.wait(timeout=30)


def test_serve_in_a_threaded_process_and_refusing_what_is_not_an_address():
    address = f"127.0.0.1:{free_port()}"
    metrics.serve(address)
    metrics.serve(address)
    metrics.serve(None)
    metrics.serve("")
    assert get(f"http://{address}/metrics")[0] == 200
    for wrong in ("9464", "localhost", "host:port", "0.0.0.0:99999"):
        with pytest.raises(ValueError, match="HAVEN_METRICS_ADDRESS"):
            metrics.serve(wrong)


def test_a_metrics_port_already_taken_is_said_plainly():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(OSError, match=f"cannot serve metrics on {address}"):
            metrics.serve(address)


@pytest.mark.parametrize("address", ["9464", "localhost", "0.0.0.0:99999", "host:port"])
def test_a_metrics_address_that_cannot_be_served_stops_the_process_at_start_saying_what_to_write(address):
    from services.common.settings import CommonSettings
    from services.common.testing import key_settings
    with pytest.raises(ValueError, match="HAVEN_METRICS_ADDRESS must be host:port"):
        CommonSettings(**key_settings(), metrics_address=address)
    assert CommonSettings(**key_settings(), metrics_address="").metrics_address is None

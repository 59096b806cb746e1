"""The gateway's probes: live answers whatever else is down; ready only when its database and its broker
connection answer (a service that is down is listed, but does not take every gateway out); both say nothing but ok or not per part, to anyone, and stay out of
the API document."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from services.common.errors import ServiceTimeout, ServiceUnavailable
from services.gateway.database import GatewayDatabase

SERVICES = ("incidents", "alerts", "documents", "transfers")


@pytest.fixture
def answering(rpc, monkeypatch):
    """Every service answers health, over a connected broker."""
    monkeypatch.setattr(rpc, "connected", True, raising=False)
    rpc.answers.update({f"{s}.health": "ok" for s in SERVICES})
    return rpc


def test_live_asks_nothing_and_answers_even_with_everything_down(app, rpc, monkeypatch):
    monkeypatch.setattr(rpc, "connected", False, raising=False)
    r = TestClient(app).get("/healthz/live")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})
    assert rpc.calls == []


def test_ready_when_the_database_the_broker_and_every_service_answer(app, answering):
    r = TestClient(app).get("/healthz/ready")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "broker": "ok",
                        "services": dict.fromkeys(SERVICES, "ok")}
    assert sorted(answering.keys()) == sorted(f"{s}.health" for s in SERVICES)


def test_still_ready_while_a_service_does_not_answer_and_says_which(app, answering):
    answering.answers["transfers.health"] = ServiceUnavailable("not running", "transfers")
    answering.answers["alerts.health"] = ServiceTimeout(service="alerts")
    r = TestClient(app).get("/healthz/ready")
    assert r.status_code == 200
    assert r.json()["status"] == "degraded" and r.json()["database"] == r.json()["broker"] == "ok"
    assert r.json()["services"] == {"incidents": "ok", "alerts": "timeout", "documents": "ok",
                                    "transfers": "unavailable"}


def test_not_ready_without_the_broker_and_no_call_is_attempted(app, answering, monkeypatch):
    monkeypatch.setattr(answering, "connected", False)
    r = TestClient(app).get("/healthz/ready")
    assert r.status_code == 503
    assert r.json() == {"status": "fail", "database": "ok", "broker": "unavailable",
                        "services": dict.fromkeys(SERVICES, "unavailable")}
    assert answering.calls == []


def test_not_ready_when_its_database_does_not_answer(app, answering, engine, monkeypatch):
    url = engine.url.set(database=engine.url.database + "_gone").render_as_string(hide_password=False)
    gone = GatewayDatabase(url)
    monkeypatch.setattr(app.state, "db", gone)
    try:
        r = TestClient(app).get("/healthz/ready")
    finally:
        gone.engine.dispose()
    assert r.status_code == 503
    assert r.json()["database"] == "unavailable" and r.json()["broker"] == "ok"
    assert "_gone" not in r.text  # why is in the log, not in a public answer


def test_the_probes_are_not_in_the_api_document(app):
    paths = TestClient(app).get("/api/v1/openapi.json").json()["paths"]
    assert "/api/v1/health" in paths
    assert not [p for p in paths if p.startswith("/healthz")]

"""The JSON API and the pages over a fake RPC client: who may call what, what is refused at the door
(CSRF, ids beyond the database's range, text that cannot be stored), what goes on the wire, and what
the audit log says."""
from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from services.common.actor import Actor, ActorPass, Refused, verify
from services.common.errors import Forbidden, ValidationFailed
from services.common.keys import KeyRing
from services.common.testing import TEST_KEYS, TEST_PUBLIC_KEYS
from services.gateway.clients import Clients

from .conftest import FakeRpc, actor_of, staff

RING = KeyRing.parse(TEST_PUBLIC_KEYS)

HUGE = "36053394819455548506096271360"


def incident(**overrides) -> dict:
    base = {"id": 5, "pupil": {"id": 7, "name": "Ava Brown"}, "pupil_id": 7, "occurred_at": "2026-03-01T09:30:00Z",
            "recorded_by": {"id": 4, "name": "Tom Archer"}, "record_type": "observation",
            "record_type_label": "Observation", "account": "Seen", "urgent": False, "categories": [],
            "linked_pupils": [], "body_map": [], "amendments": [], "current": {}, "shows_original": False,
            "may": {"amend": True}}
    return {**base, **overrides}


def audit_outcomes(engine, action: str, object_id) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(text("SELECT outcome FROM audit_log WHERE action=:a AND object_id=:i"),
                                   {"a": action, "i": str(object_id)}).scalars())


# --- the typed client -------------------------------------------------------------------------------

CALLER = ActorPass(Actor(user_id=4, school_id=1, name="Ms Teacher", roles=("staff",)), TEST_KEYS["gateway"])


def test_the_typed_client_sends_the_routing_key_the_actor_and_the_command_as_kwargs():
    rpc = FakeRpc()
    clients = Clients(rpc)
    asyncio.run(clients.incidents.get_incident(CALLER, incident_id=5))
    asyncio.run(clients.incidents.import_roll(CALLER, content_b64="YQ==", file_format="csv"))
    asyncio.run(clients.documents.list_documents(CALLER, incident_id=5))
    asyncio.run(clients.alerts.health.send((), {}, 3))
    assert [{k: v for k, v in call.items() if k != "args"} for call in rpc.calls] == [
        {"key": "incidents.get_incident", "kwargs": {"incident_id": 5}, "timeout": None},
        {"key": "incidents.import_roll", "kwargs": {"content_b64": "YQ==", "file_format": "csv"}, "timeout": 120},
        {"key": "documents.list_documents", "kwargs": {"incident_id": 5}, "timeout": None},
        {"key": "alerts.health", "kwargs": {}, "timeout": 3}]
    assert rpc.calls[-1]["args"] == []
    # Each call carries a context of its own, signed for that method and those arguments
    contexts = [call["args"][0] for call in rpc.calls[:3]]
    assert len(set(contexts)) == 3 and all(actor_of(call) == CALLER.actor for call in rpc.calls[:3])
    assert verify(contexts[2], RING, "incidents.check_incident_access", {}).actor == CALLER.actor  # delegated
    with pytest.raises(Refused):
        verify(contexts[0], RING, "incidents.get_case", {"case_id": 5})


def test_a_bare_token_string_is_never_sent():
    rpc = FakeRpc()
    with pytest.raises(TypeError):
        asyncio.run(Clients(rpc).incidents.get_incident("token", incident_id=5))
    assert rpc.calls == []


def test_the_typed_client_checks_the_command_before_anything_is_sent():
    rpc = FakeRpc()
    clients = Clients(rpc)
    with pytest.raises(ValidationFailed) as refused:
        asyncio.run(clients.incidents.get_incident(CALLER, incident_id=int(HUGE)))
    assert refused.value.errors[0]["field"] == "incident_id"
    with pytest.raises(AttributeError):
        clients.incidents.get_incidnet  # noqa: B018 — a name not in the contract
    with pytest.raises(TypeError):
        asyncio.run(clients.incidents.get_incident(incident_id=5))  # no actor
    assert rpc.calls == []


# --- tiers -----------------------------------------------------------------------------------------------

def test_anonymous_callers_are_asked_to_sign_in(app, rpc):
    anonymous = TestClient(app)
    for path in ("/api/v1/incidents/5", "/api/v1/pupils", "/api/v1/cases", "/api/v1/tray", "/api/v1/alerts"):
        assert anonymous.get(path).status_code == 401, path
    page = anonymous.get("/cases", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/sign-in")
    assert rpc.calls == []


def test_each_tier_refuses_those_outside_it(app, rpc, teacher, slt, engine):
    assert teacher.get("/api/v1/cases").status_code == 403
    assert teacher.get("/api/v1/tray").status_code == 403
    assert teacher.get("/api/v1/integrations").status_code == 403
    assert slt.get("/api/v1/cases").status_code == 403
    assert teacher.get("/api/v1/pupils/7/chronology").status_code == 403
    assert teacher.get("/api/v1/pupils/7/front-sheet").status_code == 403
    # A page refuses the same people with the same dependency.
    assert teacher.get("/cases").status_code == 403
    assert "You cannot open this page" in teacher.get("/tray").text
    assert rpc.calls == []
    # Refusals of audited reads are in the audit log like the services' own refusals.
    assert "refused:403" in audit_outcomes(engine, "read_chronology", 7)


def test_a_dsl_reader_passes_the_tiers(app, rpc, dsl):
    rpc.answers["incidents.list_cases"] = []
    assert dsl.get("/api/v1/cases").json() == []
    assert rpc.calls[0]["kwargs"] == {"status": None, "pupil_id": None} and rpc.calls[0]["args"][0]


def test_unsafe_requests_need_the_csrf_token(app, rpc, teacher):
    token = teacher.headers.pop("X-CSRF-Token")
    try:
        r = teacher.post("/api/v1/incidents", json={"pupil_id": 7, "occurred_at": "2026-03-01T09:30"})
        assert r.status_code == 403 and "CSRF" in r.json()["detail"]
        assert teacher.post("/incidents/new", data={"pupil_id": "7"}).status_code == 403
        # A token in characters no token has is a wrong token, not a server error.
        r = teacher.post("/incidents/new", data={"pupil_id": "7", "csrf_token": "é" * 43})
        assert r.status_code == 403
    finally:
        teacher.headers["X-CSRF-Token"] = token
    assert rpc.calls == []


# --- refused at the door ----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [f"/api/v1/incidents/{HUGE}", f"/api/v1/pupils/{HUGE}",
                                  f"/api/v1/incidents/{HUGE}/actions", "/api/v1/incidents/0"])
def test_an_id_beyond_the_database_range_is_a_422(app, rpc, teacher, path):
    r = teacher.get(path)
    assert r.status_code == 422 and r.json()["errors"][0]["message"] in (
        "That is not a valid id.", "Give a number of at least 1.")
    assert rpc.calls == []


def test_ids_in_bodies_and_the_dsl_only_paths_are_bounded_too(app, rpc, dsl):
    r = dsl.post("/api/v1/cases", json={"pupil_id": 7, "owner_user_id": int(HUGE)})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["owner_user_id"]
    r = dsl.post("/api/v1/incidents", json={"pupil_id": 7, "occurred_at": "2026-03-01T09:30",
                                            "account": "Seen", "alert_user_ids": [int(HUGE)]})
    assert r.status_code == 422 and r.json()["errors"] == [
        {"field": "alert_user_ids", "message": "That is not a valid id."}]
    assert dsl.delete(f"/api/v1/integrations/{HUGE}").status_code == 422
    assert rpc.calls == []


def test_text_that_cannot_be_stored_is_a_422(app, rpc, teacher):
    body = '{"pupil_id": 7, "occurred_at": "2026-03-01T09:30", "account": "bad \\ud800 text"}'
    r = teacher.post("/api/v1/incidents", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert rpc.calls == []


def test_an_unknown_word_is_refused_with_the_contract_s_list(app, rpc, teacher):
    r = teacher.post("/api/v1/incidents", json={"pupil_id": 7, "occurred_at": "2026-03-01T09:30",
                                                "account": "Seen", "record_type": "rumour"})
    assert r.status_code == 422
    error = r.json()["errors"][0]
    assert error["field"] == "record_type" and "disclosure" in error["message"]


# --- use cases: what goes to the service, what is audited ----------------------------------------------------

def test_reading_an_incident_is_audited_when_allowed_and_when_refused(app, rpc, teacher, engine):
    rpc.answers["incidents.get_incident"] = incident(id=11)
    r = teacher.get("/api/v1/incidents/11")
    assert r.status_code == 200 and r.json()["may"] == {"amend": True}
    assert rpc.calls[-1]["key"] == "incidents.get_incident" and rpc.calls[-1]["kwargs"] == {"incident_id": 11}
    rpc.answers["incidents.get_incident"] = Forbidden("Not yours.")
    assert teacher.get("/api/v1/incidents/11").status_code == 403
    assert audit_outcomes(engine, "read_incident", 11) == ["ok", "refused:403"]


def test_recording_checks_staff_ids_and_names_the_dsl_told_from_the_staff_table(app, rpc, teacher, session):
    dsl_id = staff(session, "dsl@demo.haven.test").id
    r = teacher.post("/api/v1/incidents", json={"pupil_id": 7, "occurred_at": "2026-03-01T09:30",
                                                "account": "Seen", "alert_user_ids": [999_999]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "alert_user_ids"
    assert rpc.calls == []

    rpc.answers["incidents.record_incident"] = lambda kwargs: incident(id=12)
    r = teacher.post("/api/v1/incidents", json={"pupil_id": 7, "occurred_at": "2026-03-01T09:30",
                                                "account": "Seen", "dsl_informed_verbally": True,
                                                "dsl_informed_user_id": dsl_id, "dsl_informed_name": "Forged"},
                     headers={"Idempotency-Key": "abcdefgh12"})
    assert r.status_code == 201, r.text
    sent = rpc.calls[-1]
    assert sent["key"] == "incidents.record_incident"
    assert sent["kwargs"]["incident"]["dsl_informed_name"] == "Dana Shah"
    assert sent["kwargs"]["incident"]["client_token"] == "abcdefgh12"

    rpc.answers["incidents.record_incident"] = lambda kwargs: incident(id=12, replayed=True)
    r = teacher.post("/api/v1/incidents", json={"pupil_id": 7, "occurred_at": "2026-03-01T09:30",
                                                "account": "Seen"})
    assert r.status_code == 200 and "replayed" not in r.json()


def test_a_name_sent_for_the_dsl_told_is_dropped_never_believed(app, rpc, teacher):
    rpc.answers["incidents.record_incident"] = lambda kwargs: incident(id=14)
    r = teacher.post("/api/v1/incidents", json={"pupil_id": 7, "occurred_at": "2026-03-01T09:30",
                                                "account": "Seen", "dsl_informed_name": "Someone Else"})
    assert r.status_code == 201
    assert rpc.calls[-1]["kwargs"]["incident"].get("dsl_informed_name") is None


def test_the_incident_page_offers_only_what_the_service_says_the_reader_may_do(app, rpc, teacher):
    rpc.answers.update({"incidents.get_incident": incident(id=13, may={"amend": False, "attach": False,
                                                                       "add_action": False}),
                        "incidents.list_incident_actions": [], "documents.list_documents": [],
                        "incidents.list_category_tree": []})
    page = teacher.get("/incidents/13")
    assert page.status_code == 200, page.text
    assert "/incidents/13/amend" not in page.text and 'action="/incidents/13/documents"' not in page.text
    rpc.answers["incidents.get_incident"] = incident(id=13, may={"amend": True, "attach": True})
    page = teacher.get("/incidents/13")
    assert "/incidents/13/amend" in page.text


def test_the_chronology_filters_keep_their_query_names(app, rpc, dsl):
    rpc.answers["incidents.get_chronology_gzip"] = ValidationFailed([{"field": "date_from", "message": "A date."}])
    r = dsl.get("/api/v1/pupils/7/chronology", params={"from": "last tuesday", "type": "incident"})
    assert r.status_code == 422 and r.json()["errors"] == [{"field": "from", "message": "A date."}]
    assert rpc.calls[-1]["kwargs"] == {"pupil_id": 7, "date_from": "last tuesday", "entry_type": "incident"}
    assert rpc.calls[-1]["timeout"] == 30


def test_health_asks_every_service(app, rpc):
    rpc.answers.update({"incidents.health": "ok", "alerts.health": "ok", "documents.health": "ok",
                        "transfers.health": "ok"})
    r = TestClient(app).get("/api/v1/health")
    assert r.status_code == 200 and r.json() == {"status": "ok", "services": {
        "incidents": "ok", "alerts": "ok", "documents": "ok", "transfers": "ok"}}
    assert all(c["args"] == [] and c["timeout"] == 3 for c in rpc.calls)

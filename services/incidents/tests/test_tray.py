"""The incident tray and document chronology entries, against real PostgreSQL."""
from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from services.common.actor import Actor
from services.common.db import utcnow
from services.common.errors import Conflict
from services.common.events import make_event
from services.incidents import consumers
from services.incidents.record import incidents as domain
from services.incidents.tray import items as tray
from services.incidents.exceptions import Forbidden, NotFound, ValidationFailed
from services.incidents.models import ChronologyEntry, Incident, LinkedPupil, OutboxEvent, Pupil, TrayItem

from .conftest import new_record, DSL_USER, OTHER_SCHOOL, SCHOOL, SLT_USER, TEACHER, actor, category_id, pupil_id

MONITOR_ID = 7


@pytest.fixture(autouse=True)
def clean_tray(engine):
    """Tray items and linked pupils point at incidents (which conftest's `sessions` clears): clear them first."""
    def clear():
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM tray_items"))
            conn.execute(text("DELETE FROM linked_pupils"))
            conn.execute(text("DELETE FROM processed_events"))
            conn.execute(text("DELETE FROM chronology WHERE entry_type = 'document'"))
    clear()
    yield
    clear()


def monitor(integration_id=MONITOR_ID, school_id=SCHOOL, name="Smoothwall Monitor") -> Actor:
    return Actor(user_id=integration_id, school_id=school_id, name=name, roles=("integration",),
                 kind="integration", second_factor_at=None)


def dsl(**kw) -> Actor:
    return actor(DSL_USER, roles=("dsl",), second_factor=True, name="Dana Shah", **kw)


def iso(minutes_ago: int) -> str:
    return (utcnow() - timedelta(minutes=minutes_ago)).isoformat() + "Z"


def upn_of(session, surname) -> str:
    return session.get(Pupil, pupil_id(session, surname)).upn


def alert(session, **overrides) -> dict:
    return {"external_id": f"ext-{uuid.uuid4().hex[:12]}", "pupil_identifier": upn_of(session, "Quigley"),
            "severity": "high", "summary": "Searched for self-harm methods at 10:02 on a school laptop.",
            "occurred_at": iso(30), **overrides}


def receive(sessions, data, who=None):
    with sessions.begin() as s:
        return tray.receive_alert(s, who or monitor(), data)


def tray_items(sessions) -> list[TrayItem]:
    with sessions() as s:
        return list(s.scalars(select(TrayItem).order_by(TrayItem.id)))


def events(sessions, event_type) -> list[dict]:
    with sessions() as s:
        return [json.loads(b) for b in s.scalars(select(OutboxEvent.body).where(OutboxEvent.event_type == event_type))]


def errors_of(caught) -> dict:
    return {e["field"]: e["message"] for e in caught.value.errors}


# --- receiving alerts ---------------------------------------------------------------------------

def test_an_alert_lands_matched_to_the_pupil_by_upn_and_announces_itself(sessions, session):
    data = alert(session, pupil_identifier=upn_of(session, "Quigley").lower())  # case does not matter
    receipt, created = receive(sessions, data)
    assert created and receipt["status"] == "pending" and receipt["matched"] is True
    assert set(receipt) == {"id", "status", "matched"}  # the monitoring system is not told the pupil's name
    (row,) = tray_items(sessions)
    assert row.matched_pupil_id == pupil_id(session, "Quigley") and row.integration_id == MONITOR_ID
    assert row.integration_name == "Smoothwall Monitor" and row.severity == "high"
    (event,) = events(sessions, "tray_item_received")
    assert event["tray_item_id"] == row.id and event["severity"] == "high" and event["school_id"] == SCHOOL
    assert data["summary"] not in json.dumps(event)  # ids only


def test_the_same_external_id_twice_gives_the_same_item(sessions, session):
    data = alert(session)
    first, created = receive(sessions, data)
    again, created_again = receive(sessions, data)
    assert created and not created_again and again == first
    assert len(tray_items(sessions)) == 1 and len(events(sessions, "tray_item_received")) == 1
    # Another integration may use the same id for its own alert.
    other, created_other = receive(sessions, data, monitor(integration_id=MONITOR_ID + 1, name="Other"))
    assert created_other and other["id"] != first["id"]


def test_an_unknown_or_off_roll_pupil_still_lands_unmatched(sessions, session):
    unknown, _ = receive(sessions, alert(session, pupil_identifier="ADM-00417"))
    leaver, _ = receive(sessions, alert(session, pupil_identifier="L000000000001"))
    elsewhere, _ = receive(sessions, alert(session, pupil_identifier="Z000000000001"))  # another school's pupil
    assert not unknown["matched"] and not leaver["matched"] and not elsewhere["matched"]
    assert [t.matched_pupil_id for t in tray_items(sessions)] == [None, None, None]


@pytest.mark.parametrize("who", [dsl(), actor(TEACHER)], ids=["dsl", "teacher"])
def test_only_an_integration_may_post_alerts(sessions, session, who):
    with pytest.raises(Forbidden):
        receive(sessions, alert(session), who)


# --- the tray -----------------------------------------------------------------------------------

def listing(sessions, who, status="pending"):
    with sessions() as s:
        return tray.list_tray(s, who, status)


def test_the_dsl_sees_the_tray_with_pupil_match_and_integration(sessions, session):
    matched, _ = receive(sessions, alert(session))
    receive(sessions, alert(session, pupil_identifier="nobody"), monitor(school_id=OTHER_SCHOOL))
    (shown,) = listing(sessions, dsl())
    assert shown["id"] == matched["id"] and shown["pupil"]["id"] == pupil_id(session, "Quigley")
    assert shown["integration"] == {"id": MONITOR_ID, "name": "Smoothwall Monitor"}
    assert shown["summary"].startswith("Searched") and shown["received_at"] and shown["occurred_at"]
    assert listing(sessions, dsl(), "dismissed") == []


@pytest.mark.parametrize("who", [
    actor(TEACHER), actor(SLT_USER, roles=("slt",), second_factor=True), actor(DSL_USER, roles=("dsl",)),
    monitor()], ids=["teacher", "slt", "dsl-without-second-factor", "integration"])
def test_nobody_else_sees_the_tray(sessions, session, who):
    receive(sessions, alert(session))
    with pytest.raises(Forbidden):
        listing(sessions, who)


def attach(sessions, item_id, data, who=None):
    with sessions.begin() as s:
        return tray.attach(s, who or dsl(), item_id, data)


def dismiss(sessions, item_id, data, who=None):
    with sessions.begin() as s:
        return tray.dismiss(s, who or dsl(), item_id, data)


def test_attaching_records_an_incident_and_marks_the_item(sessions, session):
    received, _ = receive(sessions, alert(session, occurred_at="2026-01-05T09:30:00Z"))
    online = category_id(session, "Online safety")
    result = attach(sessions, received["id"], {"category_ids": [online], "note": "Spoke to Jo; parents called."})
    incident = result["incident"]
    with sessions() as s:
        row = s.get(Incident, incident["id"])
        assert row.pupil_id == pupil_id(session, "Quigley") and row.occurred_at.isoformat() == "2026-01-05T09:30:00"
        assert row.recorded_by == DSL_USER and row.recorded_by_name == "Dana Shah" and row.source == "tray"
        assert row.record_type == "online_monitoring" and row.urgent is True  # a high-severity alert
        assert row.account.startswith("Online-monitoring alert from Smoothwall Monitor: severity high. Summary: "
                                      "Searched for self-harm")
        assert "Note from Dana Shah: Spoke to Jo; parents called." in row.account
        item = s.get(TrayItem, received["id"])
        assert (item.status, item.incident_id, item.handled_by, item.handled_by_name) == (
            "attached", incident["id"], DSL_USER, "Dana Shah")
    assert result["tray_item"]["status"] == "attached" and result["tray_item"]["incident_id"] == incident["id"]
    (recorded,) = events(sessions, "incident_recorded")
    assert recorded["incident_id"] == incident["id"] and "dsl" in recorded["alert_groups"]


def test_an_unmatched_alert_needs_a_pupil_and_nothing_is_half_done(sessions, session):
    received, _ = receive(sessions, alert(session, pupil_identifier="ADM-00417"))
    with pytest.raises(ValidationFailed) as caught:
        attach(sessions, received["id"], {"category_ids": [category_id(session, "Online safety")]})
    assert set(errors_of(caught)) == {"pupil_id"}
    quigley = pupil_id(session, "Quigley")
    # The record's own checks, as for any record: nothing is written when one fails.
    with pytest.raises(ValidationFailed) as caught:
        attach(sessions, received["id"], {"pupil_id": quigley, "category_ids": []})
    assert set(errors_of(caught)) == {"category_ids"}
    with sessions() as s:
        assert s.scalar(select(Incident.id)) is None and s.get(TrayItem, received["id"]).status == "pending"
    assert events(sessions, "incident_recorded") == []
    result = attach(sessions, received["id"], {"pupil_id": quigley,
                                               "category_ids": [category_id(session, "Online safety")]})
    assert result["incident"]["pupil_id"] == quigley


def test_dismissing_needs_a_reason_and_keeps_who_and_when(sessions, session):
    received, _ = receive(sessions, alert(session))
    for bad in ({}, {"reason": "   no "}):
        with pytest.raises(ValidationFailed) as caught:
            dismiss(sessions, received["id"], bad)
        assert "reason" in errors_of(caught)
    assert tray_items(sessions)[0].status == "pending"
    shown = dismiss(sessions, received["id"], {"reason": "  False positive: song lyrics in a music lesson. "})
    assert shown["status"] == "dismissed" and shown["dismissed_reason"] == "False positive: song lyrics in a music lesson."
    assert shown["handled_by"] == {"id": DSL_USER, "name": "Dana Shah"} and shown["handled_at"]


def test_an_item_is_handled_once(sessions, session):
    online = category_id(session, "Online safety")
    first, _ = receive(sessions, alert(session))
    attach(sessions, first["id"], {"category_ids": [online]})
    with pytest.raises(Conflict):
        attach(sessions, first["id"], {"category_ids": [online]})
    with pytest.raises(Conflict):
        dismiss(sessions, first["id"], {"reason": "Not needed after all."})
    second, _ = receive(sessions, alert(session))
    dismiss(sessions, second["id"], {"reason": "Duplicate of an earlier alert."})
    with pytest.raises(Conflict):
        attach(sessions, second["id"], {"category_ids": [online]})
    with sessions() as s:
        assert len(s.scalars(select(Incident.id)).all()) == 1


@pytest.mark.parametrize("who", [actor(TEACHER), dsl(school_id=OTHER_SCHOOL)], ids=["teacher", "other-school"])
def test_only_this_schools_dsl_may_handle_an_item(sessions, session, who):
    received, _ = receive(sessions, alert(session))
    expected = Forbidden if who.user_id == TEACHER else NotFound
    with pytest.raises(expected):
        attach(sessions, received["id"], {"category_ids": [category_id(session, "Online safety")]}, who)
    with pytest.raises(expected):
        dismiss(sessions, received["id"], {"reason": "Not ours to handle."}, who)
    with pytest.raises(NotFound):
        dismiss(sessions, 2**31 - 1, {"reason": "There is no such item."})


# --- documents in the chronology ----------------------------------------------------------------

def test_a_stored_document_joins_the_chronology_once_for_each_pupil(sessions, session):
    quigley, witness = pupil_id(session, "Quigley"), pupil_id(session, "Abbott")
    with sessions.begin() as s:
        incident = domain.record_incident(s, actor(), new_record({
            "pupil_id": quigley, "occurred_at": "2026-01-05T09:30:00Z", "account": "Pushed in the corridor.",
            "category_ids": [category_id(s, "Behaviour"), category_id(s, "Safeguarding")]}))
        s.add(LinkedPupil(incident_id=incident["id"], pupil_id=witness, role="witness"))
    document_id = str(uuid.uuid4())
    event = make_event("document_stored", SCHOOL, document_id=document_id, incident_id=incident["id"],
                       uploaded_by=TEACHER)
    for _ in range(2):  # delivered twice
        with sessions.begin() as s:
            consumers.document_stored(s, event)
    with sessions() as s:
        entries = s.scalars(select(ChronologyEntry).where(ChronologyEntry.entry_type == "document")).all()
    assert sorted((e.pupil_id, e.role) for e in entries) == sorted([(quigley, None), (witness, "witness")])
    for e in entries:
        assert (e.ref_id, e.incident_id, e.title) == (document_id, incident["id"], "Document attached")
        assert sorted(e.sensitivities) == ["behaviour", "safeguarding"] and len(e.category_ids) == 2


def test_a_document_event_for_an_unknown_incident_fails_to_be_retried(sessions):
    event = make_event("document_stored", SCHOOL, document_id=str(uuid.uuid4()), incident_id=2**31 - 1,
                       uploaded_by=TEACHER)
    with pytest.raises(consumers.MalformedEvent):
        with sessions.begin() as s:
            consumers.document_stored(s, event)
    with pytest.raises(consumers.MalformedEvent):
        with sessions.begin() as s:
            consumers.document_stored(s, {"event_id": "x", "school_id": SCHOOL})


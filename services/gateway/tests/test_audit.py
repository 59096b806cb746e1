"""The audit trail: a hash chain that shows an altered, removed, inserted or reordered entry; a log the
application cannot change; every write audited (never its body); reads carrying the pupil; and the
DSL team's search and "who has looked at this pupil's records" (refused to everyone else, audited)."""
from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from services.common.db import make_engine, migrate, session_factory
from services.common.errors import ValidationFailed
from services.common.testing import fresh_database
from services.gateway import audit
from services.gateway.models import AuditEntry
from services.gateway.seed import DEMO_PASSWORD

from .conftest import MIGRATIONS, signed_in

SECRET = "Zebedee-told-me-about-the-bruise"  # text of a record that must never reach the log


def entries(engine, **where) -> list[dict]:
    query = "SELECT * FROM audit_log" + (" WHERE " + " AND ".join(f"{k} = :{k}" for k in where) if where else "")
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(query + " ORDER BY id"), where)]


def last_entry(engine, **where) -> dict:
    found = entries(engine, **where)
    assert found, where
    return found[-1]


def write_some(session, n: int, **fields) -> list[AuditEntry]:
    return [audit.write(session, action="read_incident", outcome="ok", user_id=1, school_id=1,
                        object_type="incident", object_id=i, ip="127.0.0.1", **fields) for i in range(n)]


@pytest.fixture
def tamper(session):
    """The session, able to change the log the way only a superuser can (the trigger switched off in
    this transaction, which the test rolls back)."""
    session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
    return session


# --- the chain ----------------------------------------------------------------------------------------

def test_each_entry_holds_the_hash_of_the_one_before(session):
    written = write_some(session, 5, detail="x", pupil_id=7, email="a@b.test")
    for before, after in zip(written, written[1:]):
        assert after.prev_hash == before.hash and after.id > before.id
    assert written[-1].hash == audit.entry_hash(written[-1].prev_hash, written[-1])
    found = audit.verify(session)
    assert found.intact and found.checked >= 5 and found.head_hash == written[-1].hash


def test_a_value_too_long_or_unstorable_is_cut_not_a_failed_write(session):
    entry = audit.write(session, action="sign_in", outcome="refused", email="\ud800" + "a" * 400 + "\x00")
    session.expire(entry)
    assert len(entry.email) == 254 and "\x00" not in entry.email
    assert audit.verify(session).intact


def test_the_chain_stays_linear_with_writers_in_many_threads(engine):
    factory = session_factory(engine)
    failures = []

    def writer(n):
        try:
            for i in range(10):
                with factory.begin() as session:
                    audit.write(session, action="add_action", outcome="ok", user_id=n, school_id=1,
                                object_type="incident", object_id=i)
        except Exception as exc:  # noqa: BLE001 — reported below
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(1, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    with factory() as session:
        found = audit.verify(session)
        assert found.intact, found.problems
        assert session.scalar(select(AuditEntry.id).where(AuditEntry.action == "add_action")
                              .order_by(AuditEntry.id.desc()).limit(1)) == found.head_id


def test_a_rolled_back_writer_leaves_a_gap_in_the_ids_but_no_break(engine):
    factory = session_factory(engine)
    with factory() as session:
        audit.write(session, action="read_pupil", outcome="ok")
        session.rollback()  # the id taken from the sequence is never used
    with factory.begin() as session:
        audit.write(session, action="read_pupil", outcome="ok")
    with factory() as session:
        assert audit.verify(session).intact


def test_an_altered_entry_is_named(tamper):
    written = write_some(tamper, 4)
    tamper.execute(text("UPDATE audit_log SET outcome = 'ok', user_id = 99 WHERE id = :i"), {"i": written[1].id})
    found = audit.verify(tamper)
    assert not found.intact and found.first_break == written[1].id
    assert "altered" in found.problems[0][1]


def test_a_removed_entry_is_found(tamper):
    written = write_some(tamper, 4)
    tamper.execute(text("DELETE FROM audit_log WHERE id = :i"), {"i": written[1].id})
    found = audit.verify(tamper)
    assert found.first_break == written[2].id and "removed" in found.problems[0][1]


def test_entries_swapped_are_found(tamper):
    written = write_some(tamper, 4)
    a, b = written[1].id, written[2].id
    columns = ["at", "school_id", "user_id", "action", "object_type", "object_id", "outcome", "ip", "email",
               "detail", "pupil_id", "prev_hash", "hash"]
    swap = ", ".join(f"{c} = other.{c}" for c in columns)
    tamper.execute(text(f"UPDATE audit_log SET {swap} FROM audit_log other "
                        "WHERE (audit_log.id, other.id) IN ((:a, :b), (:b, :a))"), {"a": a, "b": b})
    found = audit.verify(tamper)
    assert found.first_break == a and not found.intact


def test_an_entry_slipped_in_is_found(tamper):
    written = write_some(tamper, 2)
    forged = AuditEntry(id=written[-1].id + 1, at=written[-1].at, action="read_incident", outcome="ok",
                        prev_hash=audit.GENESIS)
    forged.hash = audit.entry_hash(audit.GENESIS, forged)
    tamper.add(forged)
    tamper.flush()
    found = audit.verify(tamper)
    assert found.first_break == forged.id and "inserted" in found.problems[0][1]


def test_a_cut_off_end_shows_only_against_a_head_kept_before(tamper):
    write_some(tamper, 4)
    head = audit.verify(tamper).head_hash
    tamper.execute(text("DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log ORDER BY id DESC LIMIT 2)"))
    assert audit.verify(tamper).intact  # the chain alone cannot tell (documented in audit.py)
    found = audit.verify(tamper, expected_head=head)
    assert not found.intact and "cut short" in found.problems[-1][1]


def test_the_application_cannot_change_or_remove_an_entry(engine):
    with session_factory(engine).begin() as session:
        entry_id = audit.write(session, action="read_pupil", outcome="ok").id
    for statement in ("UPDATE audit_log SET outcome = 'ok' WHERE id = :i", "DELETE FROM audit_log WHERE id = :i",
                      "TRUNCATE audit_log"):
        with engine.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text(statement), {"i": entry_id})
    assert entries(engine, id=entry_id)


def test_the_command_prints_the_count_and_fails_on_a_broken_chain(capsys):
    with fresh_database("haven_audit_verify") as url:
        migrate(url, MIGRATIONS)
        engine = make_engine(url)
        try:
            with session_factory(engine).begin() as session:
                write_some(session, 3)
            assert audit.main(["verify", "--database-url", url]) == 0
            out = capsys.readouterr().out
            assert "checked 3 entries" in out and "intact" in out
            head = out.split("head: entry 3 ")[1].split()[0]
            with engine.begin() as conn:
                conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
                conn.execute(text("UPDATE audit_log SET detail = 'changed' WHERE id = 2"))
                conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
            assert audit.main(["verify", "--database-url", url]) == 1
            assert "breaks at entry 2" in capsys.readouterr().out
            with engine.begin() as conn:
                conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
                conn.execute(text("DELETE FROM audit_log"))
            with session_factory(engine).begin() as session:
                write_some(session, 1)
            assert audit.main(["verify", "--database-url", url, "--head", head]) == 1
        finally:
            engine.dispose()


# --- every write is audited ------------------------------------------------------------------------

def test_a_write_is_audited_with_its_route_and_ids_and_never_its_body(app, rpc, engine, dsl):
    rpc.answers["incidents.link_siblings"] = []
    dsl_id = staff_id(engine, "dsl@demo.haven.test")
    assert dsl.post("/api/v1/pupils/7/siblings", json={"pupil_id": 8, "note": SECRET}).status_code == 422
    assert last_entry(engine, action="link_siblings")["outcome"] == "invalid:422"
    assert dsl.post("/api/v1/pupils/7/siblings", json={"pupil_id": 8}).status_code == 200
    entry = last_entry(engine, action="link_siblings")
    assert entry["object_type"] == "pupil" and entry["object_id"] == "7" and entry["pupil_id"] == 7
    assert entry["detail"] == "POST /api/v1/pupils/{pupil_id}/siblings" and entry["user_id"] == dsl_id
    assert entry["outcome"] == "ok" and entry["school_id"] == 1 and entry["ip"]
    rpc.answers["incidents.unlink_siblings"] = []
    assert dsl.delete("/api/v1/pupils/7/siblings/8").status_code == 200
    entry = last_entry(engine, action="unlink_siblings")
    assert (entry["object_type"], entry["object_id"], entry["outcome"]) == ("other_pupil", "8", "ok")
    assert "pupil_id=7" in entry["detail"] and entry["pupil_id"] == 7
    assert not [e for e in entries(engine) if SECRET in str(e.values())]


def test_a_refused_write_is_audited(app, rpc, engine, teacher):
    r = teacher.post("/api/v1/pupils/7/siblings", json={"pupil_id": 8})
    assert r.status_code == 403
    entry = last_entry(engine, action="link_siblings", outcome="refused:403")
    assert entry["user_id"] == staff_id(engine, "teacher@demo.haven.test") and entry["object_id"] == "7"
    token = teacher.headers.pop("X-CSRF-Token")
    try:
        assert teacher.post("/api/v1/pupils/7/agencies", json={"agency": SECRET}).status_code == 403
    finally:
        teacher.headers["X-CSRF-Token"] = token
    entry = last_entry(engine, action="add_agency")
    assert entry["outcome"] == "refused:403" and entry["user_id"] is not None
    anonymous = TestClient(app)
    assert anonymous.post("/api/v1/incidents", json={"account": SECRET}).status_code == 401
    entry = last_entry(engine, action="record_incident")
    assert entry["outcome"] == "refused:401" and entry["user_id"] is None
    assert not [e for e in entries(engine) if SECRET in str(e.values())]


def test_an_invalid_write_and_a_service_refusal_are_audited_once(app, rpc, engine, dsl):
    before = len(entries(engine))
    assert dsl.post("/api/v1/pupils/99999999999/siblings", json={"pupil_id": 8}).status_code == 422
    assert last_entry(engine, action="link_siblings")["outcome"] == "invalid:422"
    rpc.answers["incidents.add_household_member"] = ValidationFailed([{"field": "name", "message": "Enter a name."}])
    r = dsl.post("/api/v1/pupils/7/household", json={"name": SECRET, "relationship": "mother"})
    assert r.status_code == 422
    # The use case's entry is the write's entry: not written twice.
    assert len(entries(engine)) == before + 2
    assert last_entry(engine, action="add_household_member")["outcome"] == "invalid:422"


def test_signing_out_is_audited_once_for_the_member_of_staff(app, engine):
    client = signed_in(app, "teacher@demo.haven.test")
    count = len(entries(engine, action="sign_out"))
    assert client.delete("/api/v1/session").status_code == 204
    assert len(entries(engine, action="sign_out")) == count + 1
    entry = last_entry(engine, action="sign_out")
    assert entry["outcome"] == "ok" and entry["school_id"] == 1
    assert entry["user_id"] == staff_id(engine, "teacher@demo.haven.test")
    count += 1
    page = signed_in(app, "teacher@demo.haven.test")
    r = page.post("/sign-out", data={"csrf_token": page.headers["X-CSRF-Token"]}, follow_redirects=False)
    assert r.status_code == 303
    assert len(entries(engine, action="sign_out")) == count + 1


def test_a_failed_sign_in_is_not_logged_twice(app, engine):
    before = len(entries(engine))
    r = TestClient(app).post("/api/v1/session", json={"email": "teacher@demo.haven.test", "password": "wrong" + "x" * 8})
    assert r.status_code in (401, 429)
    assert len(entries(engine)) == before + 1
    assert DEMO_PASSWORD not in str(entries(engine)[-1].values())


# --- reads carry the pupil ------------------------------------------------------------------------------

def test_reading_an_incident_records_its_pupil(app, rpc, engine, dsl):
    rpc.answers["incidents.get_incident"] = lambda kw: {
        "id": kw["incident_id"], "pupil": {"id": 31, "name": "Ava Brown"}, "pupil_id": 31,
        "occurred_at": "2026-03-01T09:30:00Z", "recorded_by": {"id": 4, "name": "Tom Archer"},
        "record_type": "observation", "record_type_label": "Observation", "account": SECRET, "urgent": False,
        "categories": [], "linked_pupils": [], "body_map": [], "amendments": [], "current": {},
        "shows_original": False, "may": {}}
    dsl.get("/api/v1/incidents/12")
    entry = last_entry(engine, action="read_incident", object_id="12")
    assert entry["pupil_id"] == 31 and entry["outcome"] == "ok"
    rpc.answers["incidents.get_front_sheet"] = ValidationFailed([])
    dsl.get("/api/v1/pupils/31/front-sheet")
    assert last_entry(engine, action="read_front_sheet")["pupil_id"] == 31
    panel = dsl.get("/api/v1/pupils/31/audit").json()
    assert [e["action"] for e in panel[:2]] == ["read_front_sheet", "read_incident"]
    assert panel[0]["name"] == staff_name(engine, panel[0]["user_id"]) and panel[0]["at"].endswith("Z")


def staff_id(engine, email: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT id FROM staff WHERE email = :e"), {"e": email}).scalar()


def staff_name(engine, user_id) -> str:
    with engine.connect() as conn:
        return conn.execute(text("SELECT name FROM staff WHERE id = :i"), {"i": user_id}).scalar()


# --- the DSL's views -----------------------------------------------------------------------------------

def test_the_audit_views_are_for_the_dsl_team_alone_and_refusals_are_audited(app, rpc, engine, teacher, slt):
    for client in (teacher, slt):
        assert client.get("/api/v1/audit").status_code == 403
        assert client.get("/api/v1/pupils/7/audit").status_code == 403
        assert client.get("/audit").status_code == 403
    assert len(entries(engine, action="search_audit_log", outcome="refused:403")) >= 4
    assert entries(engine, action="read_pupil_audit", outcome="refused:403", object_id="7")
    assert TestClient(app).get("/api/v1/audit").status_code == 401


def test_the_search_filters_and_is_itself_audited(app, rpc, engine, dsl, session):
    other_school = audit.write(session, action="read_pupil", outcome="ok", school_id=2, pupil_id=7,
                               object_type="pupil", object_id=7)
    session.commit()
    found = dsl.get("/api/v1/audit", params={"pupil_id": 7, "limit": 200}).json()
    assert found["entries"] and other_school.id not in [e["id"] for e in found["entries"]]
    assert all(e["pupil_id"] == 7 for e in found["entries"])
    assert dsl.get("/api/v1/pupils/7/audit").json() and other_school.id not in [
        e["id"] for e in dsl.get("/api/v1/pupils/7/audit").json()]
    refused = dsl.get("/api/v1/audit", params={"outcome": "refused", "limit": 5}).json()
    assert refused["entries"] and all(e["outcome"].startswith("refused:") for e in refused["entries"])
    page = dsl.get("/api/v1/audit", params={"action": "link_siblings", "limit": 1, "offset": 1}).json()
    assert len(page["entries"]) == 1 and page["total"] >= 2 and page["offset"] == 1
    assert dsl.get("/api/v1/audit", params={"from": "0001-01-01", "to": "9999-12-31"}).json()["total"] > 0
    today = dsl.get("/api/v1/audit", params={"from": "2020-01-01", "to": "2020-01-01"}).json()
    assert today["total"] == 0
    searched = last_entry(engine, action="search_audit_log", outcome="ok")
    assert searched["detail"] == "from=2020-01-01T00:00:00 to=2020-01-02T00:00:00"


@pytest.mark.parametrize("params, field", [
    ({"limit": 0}, "limit"), ({"limit": 1000}, "limit"), ({"offset": -1}, "offset"), ({"user_id": "abc"}, "user_id"),
    ({"user_id": "99999999999999999999999"}, "user_id"), ({"pupil_id": 0}, "pupil_id"),
    ({"from": "2026-02-30"}, "from"), ({"to": "yesterday"}, "to"), ({"outcome": "ok' OR 1=1"}, "outcome"),
    ({"from": "0001-01-01T00:00:00+01:00"}, "from"), ({"action": "x" * 61}, "action"), ({"object_id": "\u0000"}, "object_id"), ({"pupill_id": 7}, "pupill_id"),
])
def test_a_bad_search_is_a_422_naming_the_field(app, rpc, dsl, params, field):
    r = dsl.get("/api/v1/audit", params=params)
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]]


def test_the_audit_page_searches_and_explains_a_bad_filter(app, rpc, engine, dsl):
    page = dsl.get("/audit", params={"action": "link_siblings"})
    assert page.status_code == 200 and "Audit log" in page.text and "Link siblings" in page.text
    assert "POST /api/v1/pupils/{pupil_id}/siblings" in page.text
    bad = dsl.get("/audit", params={"from": "2026-02-30", "user_id": "x"})
    assert bad.status_code == 422 and "There is a problem" in bad.text and 'id="audit-from-error"' in bad.text
    long_ago = dsl.get("/audit", params={"to": "2001-01-01"})
    assert long_ago.status_code == 200 and "0 entries match the search" in long_ago.text


def test_the_pupil_page_shows_who_has_looked_to_the_dsl_team_only(app, rpc, engine, dsl, slt):
    rpc.answers["incidents.get_front_sheet"] = {"pupil": {"id": 7, "name": "Ava Brown", "year_group": "Year 5"},
                                                "flags": {}, "counts": {"incidents": 0, "open_actions": 0}}
    rpc.answers["incidents.get_chronology"] = {"pupil_id": 7, "entries": []}
    rpc.answers["incidents.list_category_tree"] = []
    page = dsl.get("/pupils/7")
    assert page.status_code == 200, page.text
    assert "Who has looked at these records" in page.text and "/audit?pupil_id=7" in page.text
    assert "Read front sheet" in page.text
    assert entries(engine, action="read_pupil_audit", object_id="7", outcome="ok")
    slt_page = slt.get("/pupils/7")
    assert slt_page.status_code == 200 and "Who has looked at these records" not in slt_page.text


def test_a_new_record_s_id_is_audited_and_a_refusal_before_any_route_too(app, rpc, engine, teacher):
    rpc.answers["incidents.record_incident"] = {
        "id": 77, "pupil": {"id": 7, "name": "Ava Brown"}, "pupil_id": 7, "occurred_at": "2026-03-01T09:30:00Z",
        "recorded_by": {"id": 4, "name": "Tom Archer"}, "record_type": "observation",
        "record_type_label": "Observation", "account": SECRET, "urgent": False, "categories": [],
        "linked_pupils": [], "body_map": [], "amendments": [], "current": {}, "shows_original": False, "may": {}}
    r = teacher.post("/api/v1/incidents", json={"pupil_id": 7, "occurred_at": "2026-03-01T09:30", "account": SECRET})
    assert r.status_code == 201 and r.json()["id"] == 77  # the answer passes through whole
    entry = last_entry(engine, action="record_incident")
    assert (entry["object_type"], entry["object_id"], entry["outcome"]) == ("incident", "77", "ok")
    assert entry["pupil_id"] == 7  # from the saved record's answer: the pupil's panel shows who wrote
    big = teacher.post("/api/v1/incidents", content=b"x" * (2 * 1024 * 1024),
                       headers={"Content-Type": "application/json"})
    assert big.status_code == 413
    entry = last_entry(engine, action="request")
    assert entry["outcome"] == "refused:413" and entry["detail"] == "POST /api/v1/incidents"
    assert entry["user_id"] == staff_id(engine, "teacher@demo.haven.test")
    assert teacher.post("/api/v1/no-such-thing", json={}).status_code == 404
    assert last_entry(engine, action="no_such_route")["outcome"] == "refused:404"
    assert not [e for e in entries(engine) if SECRET in str(e.values())]


def test_a_web_form_post_is_audited(app, rpc, engine, teacher):
    r = teacher.post("/pupils/7/household", data={"csrf_token": teacher.headers["X-CSRF-Token"], "name": SECRET})
    assert r.status_code == 403
    entry = last_entry(engine, action="add_household")
    assert entry["outcome"] == "refused:403" and entry["detail"] == "POST /pupils/{pupil_id}/household"
    assert entry["pupil_id"] == 7 and entry["user_id"] == staff_id(engine, "teacher@demo.haven.test")


def test_a_monitoring_system_s_post_is_audited_under_its_integration(app, rpc, engine):
    from services.gateway import integrations
    with session_factory(engine).begin() as session:
        integration, key = integrations.create_integration(session, school_id=1, created_by=1, name="Monitor")
        integration_id = integration.id
    rpc.answers["incidents.receive_tray_alert"] = ValidationFailed([{"field": "alert.pupil_identifier",
                                                                     "message": "No such pupil."}])
    r = TestClient(app).post("/api/v1/tray/alerts", headers={"Authorization": f"Bearer {key}"},
                             json={"external_id": "a-1", "pupil_identifier": "X", "severity": "high",
                                   "summary": SECRET, "occurred_at": "2026-03-01T09:30:00Z"})
    assert r.status_code == 422
    entry = last_entry(engine, action="receive_alert")
    assert entry["outcome"] == "invalid:422" and entry["school_id"] == 1 and entry["user_id"] is None
    assert entry["detail"] == f"POST /api/v1/tray/alerts by integration {integration_id}"
    assert not [e for e in entries(engine) if SECRET in str(e.values())]


def test_a_refused_read_is_audited_once_and_a_read_let_through_by_its_use_case_alone(app, rpc, engine, teacher, dsl):
    assert TestClient(app).get("/api/v1/alerts").status_code == 401
    entry = last_entry(engine, action="list_alerts")
    assert entry["outcome"] == "refused:401" and entry["user_id"] is None and entry["detail"] == "GET /api/v1/alerts"
    before = len(entries(engine))
    assert teacher.get("/api/v1/audit").status_code == 403  # the tier writes it (@audits): not twice
    assert len(entries(engine)) == before + 1
    rpc.answers["incidents.list_alerts"] = []
    rpc.answers["alerts.list_alerts"] = []
    before = len(entries(engine))
    assert dsl.get("/api/v1/alerts").status_code == 200
    assert len(entries(engine)) == before  # not a refusal, and no use case wrote one: nothing from the door


def test_the_search_counts_only_so_far(session, monkeypatch):
    monkeypatch.setattr(audit, "COUNT_UP_TO", 3)
    write_some(session, 5)
    found, total = audit.search(session, 1, action="read_incident", limit=2)
    assert len(found) == 2 and total == 4  # COUNT_UP_TO + 1: "more than 3"


def test_a_chain_rewritten_with_its_hashes_recomputed_shows_only_against_a_head_kept_before(tamper):
    written = write_some(tamper, 3)
    head = audit.verify(tamper).head_hash
    prev = written[0].hash
    for entry in written[1:]:  # what someone who knows the algorithm could do: change, then re-chain
        tamper.execute(text("UPDATE audit_log SET outcome = 'refused:403' WHERE id = :i"), {"i": entry.id})
        tamper.refresh(entry)
        new_hash = audit.entry_hash(prev, entry)
        tamper.execute(text("UPDATE audit_log SET prev_hash = :p, hash = :h WHERE id = :i"),
                       {"p": prev, "h": new_hash, "i": entry.id})
        prev = new_hash
    assert audit.verify(tamper).intact
    assert not audit.verify(tamper, expected_head=head).intact


def test_a_door_refusal_of_a_marked_route_uses_the_use_case_s_words(app, rpc, engine):
    assert TestClient(app).get("/api/v1/incidents/4242").status_code == 401
    entry = last_entry(engine, object_id="4242")
    assert (entry["action"], entry["object_type"], entry["outcome"]) == ("read_incident", "incident", "refused:401")
    assert TestClient(app).get("/api/v1/pupils/4243/chronology").status_code == 401
    entry = last_entry(engine, object_id="4243")
    assert (entry["action"], entry["pupil_id"], entry["detail"]) == ("read_chronology", 4243,
                                                                     "GET /api/v1/pupils/{pupil_id}/chronology")


def test_a_form_sent_after_its_session_ended_is_audited_as_refused(app, rpc, engine):
    client = signed_in(app, "teacher@demo.haven.test")
    csrf, cookie = client.headers["X-CSRF-Token"], client.cookies.get("haven_session")
    assert client.delete("/api/v1/session").status_code == 204
    client.cookies.set("haven_session", cookie)  # the tab still holds the ended session's cookie
    r = client.post("/pupils/7/household", data={"csrf_token": csrf, "name": SECRET}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/sign-in")
    entry = last_entry(engine, action="add_household")
    assert entry["outcome"] == "refused:401" and entry["user_id"] == staff_id(engine, "teacher@demo.haven.test")
    assert not [e for e in entries(engine) if SECRET in str(e.values())]

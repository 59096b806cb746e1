"""Actions, decisions, outcomes, cases, the chronology and the front sheet over HTTP, through every
real part: a teacher records a concern; staff alerted about it add actions; the DSL decides (a
decision not to refer needs its reason), records the outcome, opens a case, marks a significant
event and reads the filtered chronology and the front sheet; SLT and teachers see only their share."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa

from services.common.clock import school_today

DSL, SLT, TEACHER, TEACHER2, TA = ("dsl@demo.haven.test", "slt@demo.haven.test", "teacher@demo.haven.test",
                                   "teacher2@demo.haven.test", "ta@demo.haven.test")


def ago(minutes: int) -> str:
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pupil(client, name: str) -> dict:
    found = [p for p in client.get("/api/v1/pupils", params={"q": name}).json() if p["name"] == name]
    assert found, name
    return found[0]


def category_id(client, name: str) -> int:
    return next(c["id"] for c in client.get("/api/v1/categories").json() if c["name"] == name)


def staff_id(client, name: str) -> int:
    return next(s["id"] for s in client.get("/api/v1/staff", params={"q": name}).json() if s["name"] == name)


def ok(response, status: int = 200) -> dict | list:
    assert response.status_code == status, response.text
    return response.json()


def audit_outcomes(stack, action: str, object_id) -> list[str]:
    engine = sa.create_engine(stack.databases["gateway"].replace("postgresql://", "postgresql+pg8000://"))
    try:
        with engine.connect() as conn:
            return sorted(conn.execute(sa.text("SELECT outcome FROM audit_log WHERE action=:a AND object_id=:i"),
                                       {"a": action, "i": str(object_id)}).scalars())
    finally:
        engine.dispose()


def test_the_dsl_follows_up_a_concern_and_reads_the_chronology_and_front_sheet(stack, api):
    teacher, dsl, slt = api(TEACHER), api(DSL), api(SLT)
    ezra, wren = pupil(teacher, "Ezra Lewis"), pupil(teacher, "Wren Brennan")
    tariq, sam, dana = staff_id(teacher, "Tariq Bell"), staff_id(teacher, "Sam Lee"), staff_id(teacher, "Dana Shah")

    # A teacher records a safeguarding concern, alerting the TA by name (the DSL team by default).
    incident = ok(teacher.post("/api/v1/incidents", json={
        "pupil_id": ezra["id"], "occurred_at": ago(60), "account": "Said he sleeps on the sofa; W.B. heard it.",
        "category_ids": [category_id(teacher, "Neglect")], "alert_user_ids": [tariq],
        "linked_pupils": [{"pupil_id": wren["id"], "role": "witness"}]}), 201)
    iid = incident["id"]
    behaviour = ok(teacher.post("/api/v1/incidents", json={
        "pupil_id": ezra["id"], "occurred_at": ago(90), "account": "Kicked a door.",
        "category_ids": [category_id(teacher, "Behaviour")], "alert_groups": ["slt"]}), 201)

    # Actions: the recorder and staff alerted about it may add them; another teacher may not.
    ok(teacher.post(f"/api/v1/incidents/{iid}/actions", json={"description": "Told the DSL in person."}), 201)
    ok(api(TA).post(f"/api/v1/incidents/{iid}/actions", json={"description": "Checked in with him at lunch."}), 201)
    assert api(TEACHER2).post(f"/api/v1/incidents/{iid}/actions", json={"description": "x"}).status_code == 403
    due = (date.today() + timedelta(days=3)).isoformat()
    assigned = ok(dsl.post(f"/api/v1/incidents/{iid}/actions", json={
        "description": "Phone mum about sleeping arrangements.", "assigned_to_user_id": sam, "due_on": due}), 201)
    assert assigned["assigned_to"] == {"id": sam, "name": "Sam Lee"}
    told = stack.mail.wait_for(lambda m: "slt@demo.haven.test" in m[0] and "assigned you an action" in m[1]
                               and f"/incidents/{iid}" in m[1])
    assert told and all("sleeping" not in body for _, body in told)  # says nothing of the action itself
    r = dsl.post(f"/api/v1/incidents/{iid}/actions", json={"description": "x", "assigned_to_user_id": 99999})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "assigned_to_user_id"

    # "My actions": Sam's open actions include this one until Sam completes it.
    assert assigned["id"] in [a["id"] for a in ok(slt.get("/api/v1/actions", params={"assigned": "me",
                                                                                    "open": "true"}))]
    done = ok(slt.post(f"/api/v1/actions/{assigned['id']}/complete", json={"note": "Mum is getting a bed."}))
    assert done["completed"] and done["completed_by"]["name"] == "Sam Lee"
    assert assigned["id"] not in [a["id"] for a in ok(slt.get("/api/v1/actions?assigned=me&open=true"))]
    assert slt.post(f"/api/v1/actions/{assigned['id']}/complete", json={}).status_code == 409
    assert teacher.get("/api/v1/actions").status_code == 403  # everyone's actions are for the DSL team

    # Decisions are the DSL's; a decision not to refer must give its reasons, and nothing is half-saved.
    no_reason = {"decision_type": "no_referral", "reason": ""}
    assert teacher.post(f"/api/v1/incidents/{iid}/decisions", json={**no_reason, "reason": "x"}).status_code == 403
    r = dsl.post(f"/api/v1/incidents/{iid}/decisions", json=no_reason)
    assert r.status_code == 422, r.text
    (error,) = r.json()["errors"]
    assert error["field"] == "reason" and "Record why you decided not to refer" in error["message"]
    assert ok(dsl.get(f"/api/v1/incidents/{iid}/decisions")) == []
    decision = ok(dsl.post(f"/api/v1/incidents/{iid}/decisions", json={
        "decision_type": "refer_childrens_social_care", "reason": "Meets threshold for assessment.",
        "reference": "CSC-2026-0042"}), 201)
    assert decision["decided_by"]["name"] == "Dana Shah"
    outcome = ok(dsl.post(f"/api/v1/incidents/{iid}/outcomes", json={"outcome_type": "no_further_action"}), 201)
    assert outcome["outcome_type_label"] == "No further action — record is sufficient"
    assert slt.get(f"/api/v1/incidents/{iid}/decisions").status_code == 403  # safeguarding

    # A case: the owner must be on the DSL team; every change is kept.
    r = dsl.post("/api/v1/cases", json={"pupil_id": ezra["id"], "title": "Home conditions",
                                        "owner_user_id": sam, "incident_ids": [iid]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "owner_user_id"
    case = ok(dsl.post("/api/v1/cases", json={"pupil_id": ezra["id"], "title": "Home conditions",
                                              "owner_user_id": dana, "incident_ids": [iid]}), 201)
    assert case["owner"]["name"] == "Dana Shah" and [i["id"] for i in case["incidents"]] == [iid]
    assert case["id"] in [c["id"] for c in ok(dsl.get("/api/v1/cases", params={"status": "open"}))]
    assert slt.get("/api/v1/cases").status_code == 403

    # The chronology: everything, in the order it happened, with each pupil's own role.
    path = f"/api/v1/pupils/{ezra['id']}/chronology"
    r = dsl.get(path)  # gzipped for a client that accepts it (as browsers and httpx do), plain otherwise
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip", r.text
    chronology = r.json()
    plain = dsl.get(path, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.json() == chronology
    assert chronology["pupil"]["id"] == ezra["id"]
    mine = [e for e in chronology["entries"] if e["incident_id"] in (iid, behaviour["id"])]
    when = [(e["occurred_at"], e["id"]) for e in chronology["entries"]]
    assert when == sorted(when)
    titles = [e["title"] for e in mine]
    assert "Action recorded by Tom Archer" in titles and "Action completed by Sam Lee" in titles
    for title in (f"Action assigned to Sam Lee (due {due})", "Decision: referral to children's social care",
                  "Outcome: no further action — record is sufficient", "Case opened: Home conditions"):
        assert title in [e["title"] for e in chronology["entries"]], title
    linked = ok(dsl.get(f"/api/v1/pupils/{wren['id']}/chronology", params={"type": "decision"}))["entries"]
    assert [(e["title"], e["role"]) for e in linked if e["incident_id"] == iid] == [
        ("Decision: referral to children's social care", "witness")]

    # Filters, and the significant-event flag (the DSL team's).
    decision_line = next(e for e in mine if e["entry_type"] == "decision")
    assert teacher.put(f"/api/v1/chronology/{decision_line['id']}/significant",
                       json={"significant": True}).status_code == 403
    flagged = ok(dsl.put(f"/api/v1/chronology/{decision_line['id']}/significant", json={"significant": True}))
    assert flagged["significant"] and flagged["significant_set_by"] == "Dana Shah"
    significant = ok(dsl.get(path, params={"significant": "true"}))["entries"]
    assert decision_line["id"] in [e["id"] for e in significant] and all(e["significant"] for e in significant)
    # From the school day the concern happened (an hour ago: yesterday, just after midnight).
    that_day = school_today(datetime.now(timezone.utc) - timedelta(minutes=60)).isoformat()
    neglect = ok(dsl.get(path, params={"category_id": category_id(dsl, "Safeguarding"), "type": "incident",
                                       "from": that_day}))["entries"]
    assert iid in [e["incident_id"] for e in neglect] and behaviour["id"] not in [e["incident_id"] for e in neglect]
    assert ok(dsl.get(path, params={"to": "2020-01-01"}))["entries"] == []
    r = dsl.get(path, params={"from": "last tuesday", "type": "gossip"})
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"from", "type"}
    assert dsl.get(path, params={"category_id": "abc"}).status_code == 422

    # SLT see the behaviour line and none of the safeguarding ones; a teacher sees no chronology.
    seen_by_slt = ok(slt.get(path))["entries"]
    assert behaviour["id"] in [e["incident_id"] for e in seen_by_slt]
    assert iid not in [e["incident_id"] for e in seen_by_slt]
    assert not any(e["entry_type"] == "case" for e in seen_by_slt)
    assert teacher.get(path).status_code == 403
    assert "refused:403" in audit_outcomes(stack, "read_chronology", ezra["id"])
    assert "ok" in audit_outcomes(stack, "read_chronology", ezra["id"])

    # The front sheet: the DSL sees everything; SLT without agencies and cases; a teacher nothing.
    ok(dsl.post(f"/api/v1/pupils/{ezra['id']}/household", json={"name": "Jo Lewis", "relationship": "Mother",
                                                                 "parental_responsibility": True}), 201)
    r = dsl.post(f"/api/v1/pupils/{ezra['id']}/household", json={"name": "", "relationship": ""})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["name", "relationship"]
    ok(dsl.post(f"/api/v1/pupils/{ezra['id']}/agencies", json={"agency": "Children's social care",
                                                                "started_on": date.today().isoformat()}), 201)
    assert teacher.post(f"/api/v1/pupils/{ezra['id']}/agencies", json={"agency": "Police"}).status_code == 403
    sheet = ok(dsl.get(f"/api/v1/pupils/{ezra['id']}/front-sheet"))
    assert sheet["pupil"]["upn"] and sheet["pupil"]["date_of_birth"] and "cp_plan" in sheet["flags"]
    assert "Jo Lewis" in [m["name"] for m in sheet["household"]]
    assert [a["agency"] for a in sheet["agencies"]] == ["Children's social care"]
    assert case["id"] in [c["id"] for c in sheet["open_cases"]]
    assert sheet["counts"]["incidents"] >= 2 and sheet["counts"]["open_actions"] >= 2
    slt_sheet = ok(slt.get(f"/api/v1/pupils/{ezra['id']}/front-sheet"))
    # SLT: no safeguarding flags, household, agencies or cases (they once had the flags and household).
    assert not {"agencies", "open_cases", "flags", "household"} & set(slt_sheet)
    assert slt_sheet["withheld"] == ["flags", "household", "agencies", "open_cases"]
    assert teacher.get(f"/api/v1/pupils/{ezra['id']}/front-sheet").status_code == 403

    # Closing the case takes a reason; then it is no longer on the front sheet.
    r = dsl.put(f"/api/v1/cases/{case['id']}/status", json={"status": "closed"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    closed = ok(dsl.put(f"/api/v1/cases/{case['id']}/status", json={"status": "closed", "reason": "Assessed."}))
    assert [h["what"] for h in closed["history"]][-1] == "Status changed from open to closed"
    assert case["id"] not in [c["id"] for c in ok(dsl.get(f"/api/v1/pupils/{ezra['id']}/front-sheet"))["open_cases"]]

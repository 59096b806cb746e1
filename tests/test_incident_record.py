"""The full incident record over HTTP through every real part: a teacher records a disclosure with
linked pupils and a body map, the DSL reads it, corrects it, and draws the body map."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

DSL, SLT, TEACHER, TEACHER2 = ("dsl@demo.haven.test", "slt@demo.haven.test", "teacher@demo.haven.test",
                               "teacher2@demo.haven.test")
SVG = "{http://www.w3.org/2000/svg}"


def ago(minutes: int) -> str:
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pupil(client, q: str) -> dict:
    found = client.get("/api/v1/pupils", params={"q": q}).json()
    assert found, q
    return found[0]


def category_id(client, name: str) -> int:
    return next(c["id"] for c in client.get("/api/v1/categories").json() if c["name"] == name)


def staff_id(client, name: str) -> int:
    return next(s["id"] for s in client.get("/api/v1/staff", params={"q": name}).json() if s["name"] == name)


def audit_outcomes(stack, action: str, incident_id: int) -> list[str]:
    engine = sa.create_engine(stack.databases["gateway"].replace("postgresql://", "postgresql+pg8000://"))
    try:
        with engine.connect() as conn:
            return sorted(conn.execute(sa.text("SELECT outcome FROM audit_log WHERE action=:a AND object_id=:i"),
                                       {"a": action, "i": str(incident_id)}).scalars())
    finally:
        engine.dispose()


def test_full_record_read_amended_and_drawn(stack, api):
    teacher, dsl = api(TEACHER), api(DSL)
    main, jack, sam = pupil(teacher, "Quinn"), pupil(teacher, "Jack Gill"), pupil(teacher, "Foster")
    dana = staff_id(teacher, "Dana Shah")
    outline = teacher.get("/api/v1/body-map/outline").json()
    assert set(outline["sides"]) == {"front", "back"} and len(outline["sides"]["front"]) > 20

    body = {"pupil_id": main["id"], "occurred_at": ago(30), "record_type": "disclosure",
            "location": "Year 4 cloakroom", "account": "Q. told me at the door that Jack Gill hit him. S.F. saw it.",
            "childs_words": "\"he hit me with his bag\"", "others_present": "Mrs Bell (TA)",
            "category_ids": [category_id(teacher, "Safeguarding"), category_id(teacher, "Bullying")],
            "dsl_informed_verbally": True, "dsl_informed_user_id": dana, "dsl_informed_name": "Somebody Else",
            "linked_pupils": [{"pupil_id": jack["id"], "role": "alleged_perpetrator"},
                              {"pupil_id": sam["id"], "role": "witness"}],
            "body_map": [{"side": "front", "x": 0.17, "y": 0.4, "mark_type": "bruise", "colour": "purple",
                          "size": "2 cm"},
                         {"side": "back", "x": 0.5, "y": 0.35, "mark_type": "mark", "description": "red <line>"}]}

    # Bad input first: each problem named, nothing saved.
    r = teacher.post("/api/v1/incidents", json={**body, "body_map": [body["body_map"][0], {
        **body["body_map"][1], "x": 0.02}], "linked_pupils": [*body["linked_pupils"],
                                                             {"pupil_id": jack["id"], "role": "victim"}]})
    assert r.status_code == 422, r.text
    assert {e["field"] for e in r.json()["errors"]} == {"linked_pupils.2", "body_map.1"}
    assert {"field": "body_map.1", "message": "This mark is outside the body outline. Place it on the body."} \
        in r.json()["errors"]
    r = teacher.post("/api/v1/incidents", json={**body, "dsl_informed_user_id": staff_id(teacher, "Tom Archer")})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "dsl_informed_user_id"
    r = teacher.post("/api/v1/incidents", json={**body, "body_map": [{"side": "front", "x": "left arm"}]})
    assert r.status_code == 422 and "body_map.0.x" in {e["field"] for e in r.json()["errors"]}

    check = teacher.post("/api/v1/incidents/check-text", json={"account": body["account"],
                                                               "linked_pupils": body["linked_pupils"]})
    assert check.status_code == 200
    assert check.json()["warnings"] == [{"field": "account", "pupil_id": jack["id"], "message":
                                         "This names a linked pupil in full; refer to linked pupils by their "
                                         "initials (e.g. J.G.)"}]

    r = teacher.post("/api/v1/incidents", json=body)
    assert r.status_code == 201, r.text
    saved = r.json()
    assert [w["pupil_id"] for w in saved["warnings"]] == [jack["id"]]
    assert saved["recorded_by"] == {"id": teacher.user["id"], "name": "Tom Archer", "role": "Class Teacher, Year 4"}
    # The DSL's name comes from the staff table, not from what was sent.
    assert saved["dsl_informed"] == {"verbally": True, "user_id": dana, "name": "Dana Shah"}

    # The DSL reads everything.
    r = dsl.get(f"/api/v1/incidents/{saved['id']}")
    assert r.status_code == 200
    seen = r.json()
    assert "warnings" not in seen
    assert seen["record_type_label"] == "Disclosure or conversation with the child"
    assert seen["childs_words"] == "\"he hit me with his bag\"" and seen["location"] == "Year 4 cloakroom"
    assert {(lp["pupil"]["id"], lp["role"]) for lp in seen["linked_pupils"]} == {
        (jack["id"], "alleged_perpetrator"), (sam["id"], "witness")}
    assert [(m["side"], m["mark_type"]) for m in seen["body_map"]] == [("front", "bruise"), ("back", "mark")]

    # Corrections: the recorder and the DSL may; another teacher may not; a reason is required.
    amendment = {"field": "account", "new_value": "Q. told me at the door that J.G. hit him. S.F. saw it.",
                 "reason": "Use initials for linked pupils"}
    assert teacher.post(f"/api/v1/incidents/{saved['id']}/amendments",
                        json={**amendment, "reason": ""}).status_code == 422
    assert api(TEACHER2).post(f"/api/v1/incidents/{saved['id']}/amendments", json=amendment).status_code == 403
    r = dsl.post(f"/api/v1/incidents/{saved['id']}/amendments", json=amendment)
    assert r.status_code == 201, r.text
    assert r.json()["amendment"]["author"]["name"] == "Dana Shah"
    r = teacher.post(f"/api/v1/incidents/{saved['id']}/amendments",
                     json={"field": "location", "new_value": "Year 4 corridor", "reason": "Checked with the TA"})
    assert r.status_code == 201, r.text

    as_dsl = dsl.get(f"/api/v1/incidents/{saved['id']}").json()
    assert as_dsl["account"] == body["account"]  # the original stays visible to the DSL
    assert as_dsl["current"]["account"] == amendment["new_value"]
    assert as_dsl["current"]["location"] == "Year 4 corridor"
    assert [(a["field"], a["reason"]) for a in as_dsl["amendments"]] == [
        ("account", "Use initials for linked pupils"), ("location", "Checked with the TA")]
    as_teacher = teacher.get(f"/api/v1/incidents/{saved['id']}").json()
    assert as_teacher["account"] == amendment["new_value"] and as_teacher["shows_original"] is False

    # The body map as a drawing: one symbol per mark, audited like the record.
    r = dsl.get(f"/api/v1/incidents/{saved['id']}/body-map.svg")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert r.headers["content-security-policy"] == "default-src 'none'"
    root = ET.fromstring(r.text)
    marks = [g for g in root.iter(f"{SVG}g") if "mark" in (g.get("class") or "").split()]
    assert [g.get("class") for g in marks] == ["mark mark-bruise", "mark mark-mark"]
    assert "red &lt;line&gt;" in r.text
    assert api(TEACHER2).get(f"/api/v1/incidents/{saved['id']}/body-map.svg").status_code == 403
    assert audit_outcomes(stack, "read_body_map", saved["id"]) == ["ok", "refused:403"]
    assert audit_outcomes(stack, "amend_incident", saved["id"]) == ["invalid:422", "ok", "ok", "refused:403"]

    # Each pupil's chronology has its own line, with its own role; so do the amendments.
    engine = sa.create_engine(stack.databases["incidents"].replace("postgresql://", "postgresql+pg8000://"))
    try:
        with engine.connect() as conn:
            lines = set(conn.execute(sa.text("SELECT pupil_id, entry_type, role FROM chronology "
                                             "WHERE incident_id=:i"), {"i": saved["id"]}).all())
    finally:
        engine.dispose()
    assert lines == {(main["id"], "incident", None), (jack["id"], "incident", "alleged_perpetrator"),
                     (sam["id"], "incident", "witness"), (main["id"], "amendment", None),
                     (jack["id"], "amendment", "alleged_perpetrator"), (sam["id"], "amendment", "witness")}


def test_old_style_record_still_works_and_slt_cannot_amend(api):
    teacher = api(TEACHER)
    r = teacher.post("/api/v1/incidents", json={
        "pupil_id": pupil(teacher, "Quinn")["id"], "occurred_at": ago(5), "account": "Threw a chair.",
        "category_ids": [category_id(teacher, "Behaviour")], "alert_user_ids": [], "alert_groups": ["slt"]})
    assert r.status_code == 201, r.text
    incident = r.json()
    assert incident["record_type"] == "observation" and incident["warnings"] == []
    slt = api(SLT)
    assert slt.get(f"/api/v1/incidents/{incident['id']}").status_code == 200
    r = slt.post(f"/api/v1/incidents/{incident['id']}/amendments",
                 json={"field": "account", "new_value": "Threw a chair at the wall.", "reason": "More exact"})
    assert r.status_code == 403
    future = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
    r = teacher.post(f"/api/v1/incidents/{incident['id']}/amendments",
                     json={"field": "occurred_at", "new_value": future, "reason": "Wrong day"})
    assert r.status_code == 422 and r.json()["errors"] == [
        {"field": "new_value", "message": "The date and time cannot be in the future."}]

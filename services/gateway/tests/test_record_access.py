"""The gateway's side of who sees a record, over a fake RPC client: the DSL team's controls (restricting a
record, the staff it is about, a pupil's staff relatives) refused at the door for everyone else and
checked before anything is sent; the incident page as the record's `may` says (the shared view, a
restricted record, a step-up); the pupil page's sections kept for the DSL team."""
from __future__ import annotations

from services.common.errors import Forbidden, NotFound, StepUpRequired

from .conftest import staff
from .test_routes import audit_outcomes, incident

SHARED_MAY = {"add_action": True, "see_actions": True, "shared": True}
DSL_MAY = {"amend": True, "attach": True, "add_action": True, "see_actions": True, "see_all_actions": True,
           "record_decision": True, "record_outcome": True, "see_follow_up": True, "add_to_case": True,
           "restrict": True, "exclude_staff": True, "see_documents": True, "see_body_map": True, "shared": False}


def page_answers(rpc, **record) -> None:
    rpc.answers.update({"incidents.get_incident": incident(**record), "incidents.list_incident_actions": [],
                        "documents.list_documents": [], "incidents.list_category_tree": [],
                        "incidents.list_decisions": [], "incidents.list_outcomes": [], "incidents.list_cases": []})


# --- the DSL team's controls over the JSON API ---------------------------------------------------------

def test_only_the_dsl_team_may_restrict_a_record_or_say_whom_it_is_about(app, rpc, teacher, slt, engine):
    for who in (teacher, slt):
        assert who.put("/api/v1/incidents/5/restriction",
                       json={"restricted": True, "reason": "Allegation about staff."}).status_code == 403
        assert who.put("/api/v1/incidents/5/excluded-staff", json={"user_ids": []}).status_code == 403
        assert who.put("/api/v1/pupils/7/staff-relatives", json={"user_ids": []}).status_code == 403
    assert rpc.calls == []
    assert "refused:403" in audit_outcomes(engine, "restrict_incident", 5)
    assert "refused:403" in audit_outcomes(engine, "set_staff_relatives", 7)


def test_the_dsl_restricts_a_record_and_the_service_is_asked(app, rpc, dsl):
    rpc.answers["incidents.restrict_incident"] = {"incident_id": 5, "restricted": True,
                                                  "restriction": {"reason": "Allegation.", "by": "Dana", "at": None}}
    r = dsl.put("/api/v1/incidents/5/restriction", json={"restricted": True, "reason": "Allegation."})
    assert r.status_code == 200, r.text
    assert r.json()["restricted"] is True
    assert rpc.calls[-1]["key"] == "incidents.restrict_incident"
    assert rpc.calls[-1]["kwargs"] == {"incident_id": 5, "restricted": True, "reason": "Allegation."}


def test_the_controls_refuse_what_cannot_be_right_before_asking_anyone(app, rpc, dsl):
    for path, body in (("/api/v1/incidents/5/restriction", {"reason": "No flag."}),
                       ("/api/v1/incidents/5/restriction", {"restricted": "yes"}),
                       ("/api/v1/incidents/5/restriction", {"restricted": True, "reason": "x" * 2_001}),
                       ("/api/v1/incidents/5/excluded-staff", {"user_ids": ["ten"]}),
                       ("/api/v1/incidents/5/excluded-staff", {}),
                       ("/api/v1/pupils/7/staff-relatives", {"user_ids": [0]}),
                       ("/api/v1/incidents/36053394819455548506096271360/restriction", {"restricted": False})):
        r = dsl.put(path, json=body)
        assert r.status_code == 422, (path, body, r.text)
    assert rpc.calls == []


def test_only_the_schools_own_staff_can_be_named(app, rpc, dsl, session):
    r = dsl.put("/api/v1/incidents/5/excluded-staff", json={"user_ids": [987_654]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "user_ids"
    r = dsl.put("/api/v1/pupils/7/staff-relatives", json={"user_ids": [987_654]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "user_ids"
    assert rpc.calls == []
    teacher_id = staff(session, "teacher@demo.haven.test").id
    rpc.answers["incidents.set_excluded_staff"] = {"incident_id": 5, "excluded_staff_ids": [teacher_id]}
    rpc.answers["incidents.set_staff_relatives"] = {"pupil_id": 7, "staff_relative_ids": [teacher_id]}
    assert dsl.put("/api/v1/incidents/5/excluded-staff", json={"user_ids": [teacher_id]}).status_code == 200
    assert rpc.calls[-1]["kwargs"] == {"incident_id": 5, "user_ids": [teacher_id]}
    assert dsl.put("/api/v1/pupils/7/staff-relatives", json={"user_ids": [teacher_id]}).status_code == 200
    assert rpc.calls[-1]["kwargs"] == {"pupil_id": 7, "user_ids": [teacher_id]}


def test_what_a_reader_may_not_see_is_absent_not_null(app, rpc, teacher):
    rpc.answers["incidents.get_incident"] = incident(id=5, shared=True, may=SHARED_MAY)
    answer = teacher.get("/api/v1/incidents/5").json()
    assert answer["shared"] is True and answer["may"] == SHARED_MAY
    assert not {"excluded_staff_ids", "restriction", "others_present", "warnings"} & set(answer)


def test_a_record_the_service_hides_answers_as_it_says(app, rpc, dsl):
    rpc.answers["incidents.restrict_incident"] = NotFound("No such incident.")
    assert dsl.put("/api/v1/incidents/5/restriction", json={"restricted": False}).status_code == 404
    rpc.answers["incidents.get_incident"] = StepUpRequired()
    r = dsl.get("/api/v1/incidents/5")
    assert r.status_code == 401 and "second factor" in r.json()["detail"]


# --- the incident page -------------------------------------------------------------------------------

def test_a_safeguarding_record_needing_a_step_up_sends_the_reader_to_give_it(app, rpc, dsl):
    rpc.answers["incidents.get_incident"] = StepUpRequired()
    page = dsl.get("/incidents/5", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/step-up?next=%2Fincidents%2F5"


def test_a_record_shared_with_alerted_staff_shows_only_what_is_shared(app, rpc, teacher):
    page_answers(rpc, id=5, shared=True, may=SHARED_MAY)
    page = teacher.get("/incidents/5")
    assert page.status_code == 200, page.text
    assert "shared with you because you were alerted" in page.text
    assert 'id="documents"' not in page.text and 'id="corrections"' not in page.text
    assert 'id="decisions"' not in page.text and "Restrict to the DSL team" not in page.text
    assert 'href="/pupils/7"' not in page.text and "<dt>Alerted</dt>" not in page.text
    # Nothing the shared view leaves out is even asked for.
    assert not {"documents.list_documents", "incidents.list_decisions", "incidents.list_outcomes",
                "incidents.list_cases"} & set(rpc.keys())


def test_a_restricted_record_says_so_and_the_dsl_may_lift_it(app, rpc, dsl):
    page_answers(rpc, id=5, restricted=True, may=DSL_MAY,
                 restriction={"reason": "Allegation about a member of staff.", "by": "Dana Shah",
                              "at": "2026-03-01T10:00:00Z"})
    page = dsl.get("/incidents/5")
    assert page.status_code == 200, page.text
    assert "Only the DSL team can see this record." in page.text
    assert "Allegation about a member of staff." in page.text and "Lift the restriction" in page.text
    page_answers(rpc, id=5, restricted=False, may=DSL_MAY)
    page = dsl.get("/incidents/5")
    assert "Only the DSL team can see this record." not in page.text and "Restrict to the DSL team" in page.text


def test_the_restriction_form_needs_its_reason_and_the_service_decides_who(app, rpc, dsl, teacher):
    from services.common.errors import ValidationFailed
    page_answers(rpc, id=5, may=DSL_MAY)
    rpc.answers["incidents.restrict_incident"] = ValidationFailed([{"field": "reason", "message": "Say why."}])
    page = dsl.post("/incidents/5/restriction", data={"restricted": "true", "reason": ""})
    assert page.status_code == 422 and "Say why." in page.text and 'href="#restrict-reason"' in page.text
    rpc.answers["incidents.restrict_incident"] = {"incident_id": 5, "restricted": True, "restriction": None}
    done = dsl.post("/incidents/5/restriction", data={"restricted": "true", "reason": "Allegation."},
                    follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/incidents/5?done=restricted#restriction"
    assert rpc.calls[-1]["kwargs"] == {"incident_id": 5, "restricted": True, "reason": "Allegation."}
    rpc.answers["incidents.restrict_incident"] = Forbidden("Only the DSL team can restrict a record.")
    assert teacher.post("/incidents/5/restriction", data={"restricted": "true", "reason": "x"}).status_code == 403


def test_the_dsl_says_whom_a_record_is_about_from_its_page(app, rpc, dsl, teacher, session):
    teacher_id = staff(session, "teacher@demo.haven.test").id
    page_answers(rpc, id=5, may=DSL_MAY, excluded_staff_ids=[teacher_id])
    page = dsl.get("/incidents/5")
    assert f'id="about-{teacher_id}" name="user_ids" value="{teacher_id}" checked' in page.text
    rpc.answers["incidents.set_excluded_staff"] = {"incident_id": 5, "excluded_staff_ids": [teacher_id]}
    done = dsl.post("/incidents/5/excluded-staff", data={"user_ids": [str(teacher_id)]}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/incidents/5?done=excluded#restriction"
    assert rpc.calls[-1]["kwargs"] == {"incident_id": 5, "user_ids": [teacher_id]}
    calls = len(rpc.calls)
    assert dsl.post("/incidents/5/excluded-staff", data={"user_ids": ["me"]}).status_code == 422
    assert dsl.post("/incidents/5/excluded-staff", data={"user_ids": ["987654"]}).status_code == 422
    assert len(rpc.calls) == calls  # nothing sent
    # Without the DSL team's `may`, no control; a teacher's post is the service's to refuse.
    page_answers(rpc, id=5, may={"amend": True})
    assert "Staff this record is about" not in teacher.get("/incidents/5").text
    rpc.answers["incidents.set_excluded_staff"] = Forbidden("Only the DSL team can say whom a record is about.")
    assert teacher.post("/incidents/5/excluded-staff", data={"user_ids": []}).status_code == 403


# --- the pupil page ------------------------------------------------------------------------------------

def test_the_pupil_page_keeps_flags_and_household_for_the_dsl_team_and_counts_what_waits(app, rpc, slt):
    rpc.answers.update({
        "incidents.get_front_sheet": {"pupil": {"id": 7, "name": "Ava Brown", "year_group": "Year 3"},
                                      "siblings": [], "withheld": ["flags", "household", "agencies", "open_cases"],
                                      "counts": {"incidents": 1, "open_actions": 0, "hidden_needing_step_up": 2}},
        "incidents.get_chronology": {"pupil": {"id": 7}, "entries": [], "hidden_needing_step_up": 2},
        "incidents.list_category_tree": []})
    page = slt.get("/pupils/7")
    assert page.status_code == 200, page.text
    assert "Plans and flags: for the DSL team only." in page.text
    assert "Some safeguarding entries are hidden until you confirm your second factor" in page.text
    assert "/step-up?next=%2Fpupils%2F7" in page.text


def test_the_dsl_says_which_staff_are_a_pupils_parents_from_the_pupil_page(app, rpc, dsl, slt, session):
    teacher_id = staff(session, "teacher@demo.haven.test").id
    sheet = {"pupil": {"id": 7, "name": "Ava Brown", "year_group": "Year 3", "staff_relative_ids": [teacher_id]},
             "flags": {}, "household": [], "siblings": [], "withheld": [], "agencies": [], "open_cases": [],
             "counts": {"incidents": 0, "open_actions": 0, "hidden_needing_step_up": 0}}
    rpc.answers.update({"incidents.get_front_sheet": sheet, "incidents.list_category_tree": [],
                        "incidents.get_chronology": {"pupil": {"id": 7}, "entries": []}})
    page = dsl.get("/pupils/7")
    assert f'id="relative-{teacher_id}" name="user_ids" value="{teacher_id}" checked' in page.text
    rpc.answers["incidents.set_staff_relatives"] = {"pupil_id": 7, "staff_relative_ids": []}
    done = dsl.post("/pupils/7/staff-relatives", data={}, follow_redirects=False)
    assert done.status_code == 303 and rpc.calls[-1]["kwargs"] == {"pupil_id": 7, "user_ids": []}
    calls = len(rpc.calls)
    assert slt.post("/pupils/7/staff-relatives", data={"user_ids": [str(teacher_id)]}).status_code == 403
    assert dsl.post("/pupils/7/staff-relatives", data={"user_ids": ["987654"]}).status_code == 422
    assert len(rpc.calls) == calls
    # Without the list from the service (anyone but the DSL team), no control.
    rpc.answers["incidents.get_front_sheet"] = {**sheet, "pupil": {"id": 7, "name": "Ava Brown"}}
    assert "Staff who are a parent or carer" not in slt.get("/pupils/7").text


def test_staff_who_read_no_records_are_refused_the_pupil_pages_at_the_door(app, rpc, teacher):
    assert teacher.get("/pupils/7").status_code == 403
    assert teacher.get("/pupils?q=ava").status_code == 403
    assert teacher.get("/api/v1/pupils/7/front-sheet").status_code == 403
    assert rpc.calls == []

"""The form's own rules, checked by the incidents contract (services/common/contracts/incidents.py)
before any use case runs: types, lengths, word lists, required texts, the date window, marks on the
body, each linked pupil once. The service's tests beside this one test what needs the database.

Each test calls the method's contract as the service's adapter does (`<method>.parse(kwargs)`) and
reads the field errors a form would show."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services.common.contracts import incidents as incidents_contract
from services.common.contracts.incidents import MAX_ACCOUNT_CHARS, MAX_LINKED_PUPILS, OUTSIDE_OUTLINE
from services.common.db import utcnow
from services.common.errors import ValidationFailed

PUPIL, OTHER_PUPIL = 101, 102


def refused(method, **kwargs) -> list[dict]:
    """The field errors for this call; a command's wrapper ("incident.", "action."...) left off."""
    with pytest.raises(ValidationFailed) as caught:
        method.parse(kwargs)
    return [{**e, "field": e["field"].split(".", 1)[1] if len(kwargs) == 1 and "." in e["field"] else e["field"]}
            for e in caught.value.errors]


def fields(errors) -> list[str]:
    return [e["field"] for e in errors]


def messages(errors) -> dict:
    return {e["field"]: e["message"] for e in errors}


# --- a new record -------------------------------------------------------------------------------------

VALID = {"pupil_id": PUPIL, "occurred_at": "2026-01-05T09:30:00Z", "account": "Seen crying at break.",
         "category_ids": [1], "alert_user_ids": [], "alert_groups": [], "urgent": False}
MARK = {"side": "front", "x": 0.5, "y": 0.35, "mark_type": "bruise", "colour": "purple-yellow",
        "shape": "oval", "size": "3 cm", "description": "Finger-tip pattern"}


def record_refused(**changes) -> list[dict]:
    data = {k: v for k, v in {**VALID, **changes}.items() if v is not MISSING}
    return refused(incidents_contract.record_incident, incident=data)


MISSING = object()


def test_a_valid_record_passes():
    incidents_contract.record_incident.parse({"incident": {**VALID, "body_map": [MARK],
                                                           "linked_pupils": [{"pupil_id": OTHER_PUPIL,
                                                                              "role": "victim"}]}})


@pytest.mark.parametrize("bad", [MISSING, "12", 1.5, True, [1], 2**31, 0],
                         ids=["missing", "string", "fraction", "bool", "list", "beyond-the-ids", "zero"])
def test_the_pupil_is_an_id(bad):
    assert fields(record_refused(pupil_id=bad)) == ["pupil_id"]


@pytest.mark.parametrize("bad", [MISSING, "", "   ", "yesterday", "2026-13-01T09:00", "05/01/2026", 20260105],
                         ids=["missing", "empty", "blank", "words", "month-13", "uk-format", "number"])
def test_occurred_at_must_be_an_iso_date_time(bad):
    errors = record_refused(occurred_at=bad)
    assert fields(errors) == ["occurred_at"]
    if isinstance(bad, str):
        assert "date and time it happened" in errors[0]["message"]


def test_occurred_at_in_the_future_is_refused():
    tomorrow = (utcnow() + timedelta(days=1)).isoformat() + "Z"
    assert record_refused(occurred_at=tomorrow) == [
        {"field": "occurred_at", "message": "The date and time cannot be in the future."}]


def test_occurred_at_before_1990_is_refused():
    assert record_refused(occurred_at="1989-12-31T23:59:00Z") == [
        {"field": "occurred_at", "message": "That date is too far in the past; check the year."}]


@pytest.mark.parametrize("extreme", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:00-01:00"])
def test_occurred_at_at_the_edge_of_the_calendar_is_a_validation_error(extreme):
    assert fields(record_refused(occurred_at=extreme)) == ["occurred_at"]


def test_a_time_just_past_now_in_a_western_offset_is_in_the_future():
    # 10 minutes from now, written as local time five hours behind UTC: still the future.
    local = (datetime.now(timezone.utc) + timedelta(minutes=10)).astimezone(timezone(timedelta(hours=-5)))
    assert fields(record_refused(occurred_at=local.isoformat())) == ["occurred_at"]


@pytest.mark.parametrize("bad", ["", "  \n\t "], ids=["empty", "blank"])
def test_the_account_must_be_written(bad):
    assert record_refused(account=bad) == [{"field": "account", "message": "Write what you saw, heard or were told."}]


@pytest.mark.parametrize("bad", [MISSING, 42, ["words"]], ids=["missing", "number", "list"])
def test_the_account_is_text(bad):
    assert fields(record_refused(account=bad)) == ["account"]


def test_the_account_has_a_limit():
    errors = record_refused(account="x" * (MAX_ACCOUNT_CHARS + 1))
    assert errors == [{"field": "account", "message": "Keep this to 50,000 characters or fewer."}]


def test_at_most_three_categories():
    assert record_refused(category_ids=[1, 2, 3, 4]) == [{"field": "category_ids", "message": "Choose at most 3."}]


@pytest.mark.parametrize("bad", ["1", [1.5], [True], ["1"], {"id": 1}],
                         ids=["string", "fraction", "bool", "string-id", "dict"])
def test_categories_are_a_list_of_ids(bad):
    assert fields(record_refused(category_ids=bad)) == ["category_ids"]


@pytest.mark.parametrize("bad", [["governors"], ["dsl", "everyone"], "dsl", [None]],
                         ids=["unknown", "one-unknown", "string", "none"])
def test_alert_groups_are_dsl_or_slt(bad):
    errors = record_refused(alert_groups=bad)
    assert fields(errors) == ["alert_groups"]
    if isinstance(bad, list):
        assert errors[0]["message"] == "Choose one of: 'dsl' or 'slt'."


@pytest.mark.parametrize("bad", ["10", [10, "11"], [True]], ids=["string", "mixed", "bool"])
def test_alert_user_ids_are_a_list_of_ids(bad):
    assert fields(record_refused(alert_user_ids=bad)) == ["alert_user_ids"]


@pytest.mark.parametrize("bad", ["true", 1, 0, None], ids=["string", "one", "zero", "none"])
def test_urgent_is_true_or_false(bad):
    assert record_refused(urgent=bad) == [{"field": "urgent", "message": "Give true or false."}]


def test_every_error_of_the_form_is_reported_together():
    errors = refused(incidents_contract.record_incident, incident={
        "pupil_id": "Quinn", "occurred_at": "not a date", "account": " ", "category_ids": [1, 2, 3, 4],
        "alert_user_ids": "all", "alert_groups": ["governors"], "urgent": None})
    assert fields(errors) == ["pupil_id", "occurred_at", "account", "category_ids", "alert_user_ids",
                              "alert_groups", "urgent"]


@pytest.mark.parametrize("bad", ["incident", "Observation", 3, ["observation"]])
def test_record_type_is_one_of_the_list(bad):
    errors = record_refused(record_type=bad)
    assert fields(errors) == ["record_type"] and "'disclosure'" in errors[0]["message"]


@pytest.mark.parametrize("field,limit", [("location", 200), ("childs_words", 20_000), ("others_present", 2_000)])
def test_text_fields_have_limits(field, limit):
    incidents_contract.record_incident.parse({"incident": {**VALID, field: "w" * limit}})
    assert record_refused(**{field: "w" * (limit + 1)}) == [
        {"field": field, "message": f"Keep this to {limit:,} characters or fewer."}]
    assert fields(record_refused(**{field: 12})) == [field]


def test_whether_the_dsl_was_told_is_true_or_false():
    assert fields(record_refused(dsl_informed_verbally="yes")) == ["dsl_informed_verbally"]


def test_linked_pupil_errors_name_the_row():
    errors = record_refused(linked_pupils=[
        {"pupil_id": OTHER_PUPIL, "role": "victim"},
        {"pupil_id": OTHER_PUPIL, "role": "witness"},                              # twice
        {"pupil_id": PUPIL, "role": "witness"},                                    # the main pupil
        {"pupil_id": 103, "role": "bystander"},                                    # unknown role
        {"pupil_id": "12", "role": "victim"},                                      # not an id
        "Jack",                                                                    # not a link at all
    ])
    assert errors == [
        {"field": "linked_pupils.3.role",
         "message": "Choose one of: 'victim', 'alleged_perpetrator', 'witness', 'sibling' or 'other'."},
        {"field": "linked_pupils.4.pupil_id", "message": "Give a whole number."},
        {"field": "linked_pupils", "message": "Give an object with the expected fields."},
    ]
    # Once each link is well formed, the links are checked against each other.
    errors = record_refused(linked_pupils=[{"pupil_id": OTHER_PUPIL, "role": "victim"},
                                           {"pupil_id": OTHER_PUPIL, "role": "witness"},
                                           {"pupil_id": PUPIL, "role": "witness"}])
    assert errors == [
        {"field": "linked_pupils.1", "message": "This pupil is linked twice. Link each pupil once, with one role."},
        {"field": "linked_pupils.2",
         "message": "This is the pupil the record is about; they cannot also be a linked pupil."}]


def test_linked_pupils_are_a_list_and_not_too_many():
    assert fields(record_refused(linked_pupils={"pupil_id": 1})) == ["linked_pupils"]
    many = [{"pupil_id": i, "role": "other"} for i in range(1000, 1000 + MAX_LINKED_PUPILS + 1)]
    assert record_refused(linked_pupils=many) == [{"field": "linked_pupils", "message": "Choose at most 30."}]


@pytest.mark.parametrize("where", [(0.02, 0.5), (0.5, 0.99), (0.2, 0.02), (0.24, 0.5)],
                         ids=["beside-the-arm", "below-the-feet", "beside-the-head", "between-arm-and-body"])
def test_a_mark_outside_the_outline_is_refused_naming_the_mark(where):
    x, y = where
    errors = record_refused(body_map=[MARK, MARK, {**MARK, "side": "back", "x": x, "y": y}])
    assert errors == [{"field": "body_map.2", "message": OUTSIDE_OUTLINE}]


@pytest.mark.parametrize("where", [(1.5, 0.3), (-0.1, 0.3)], ids=["off-the-box", "negative"])
def test_a_mark_off_the_outlines_box_is_refused(where):
    x, _ = where
    assert fields(record_refused(body_map=[MARK, MARK, {**MARK, "side": "back", "x": x}])) == ["body_map.2.x"]


def test_each_mark_field_is_checked():
    errors = record_refused(body_map=[
        {**MARK, "side": "top"},
        {**MARK, "y": None},
        {**MARK, "x": float("nan")},
        {**MARK, "mark_type": "graze"},
        {**MARK, "colour": "c" * 61, "description": "d" * 2001},
        [0.5, 0.5],
    ])
    # An item that is not a mark at all is named by the list (the contract's field naming).
    assert fields(errors) == ["body_map.0.side", "body_map.1.y", "body_map.2.x", "body_map.3.mark_type",
                              "body_map.4.colour", "body_map.4.description", "body_map"]


@pytest.mark.parametrize("bad", ["0.5", True], ids=["string", "bool"])
def test_a_marks_position_is_a_number(bad):
    assert fields(record_refused(body_map=[{**MARK, "x": bad}])) == ["body_map.0.x"]


def test_at_most_sixty_marks():
    incidents_contract.record_incident.parse({"incident": {**VALID, "body_map": [MARK] * 60}})
    assert record_refused(body_map=[MARK] * 61) == [{"field": "body_map", "message": "Choose at most 60."}]


@pytest.mark.parametrize("token", ["short", "has spaces in it", "x" * 65, 12345678])
def test_a_malformed_submission_token_is_refused(token):
    assert fields(record_refused(client_token=token)) == ["client_token"]


# --- an amendment -------------------------------------------------------------------------------------

@pytest.mark.parametrize("field", ["urgent", "pupil_id", "category_ids", "recorded_by", None])
def test_only_the_listed_fields_can_be_amended(field):
    errors = refused(incidents_contract.amend_incident, incident_id=1,
                     amendment={"field": field, "new_value": "x", "reason": "Because I can"})
    assert fields(errors) == ["amendment.field"]


def test_an_amendments_reason_is_text():
    errors = refused(incidents_contract.amend_incident, incident_id=1,
                     amendment={"field": "account", "new_value": "x", "reason": 42})
    assert fields(errors) == ["amendment.reason"]


# --- cases, actions, decisions and outcomes ----------------------------------------------------------

def test_cases_are_listed_by_a_known_status():
    assert fields(refused(incidents_contract.list_cases, status="pending")) == ["status"]
    assert fields(refused(incidents_contract.list_cases, pupil_id="12")) == ["pupil_id"]


def test_a_case_names_ids_and_keeps_its_title_short():
    errors = refused(incidents_contract.open_case, case={"pupil_id": 2**40, "title": "t" * 201,
                                                         "owner_user_id": "Dana", "incident_ids": [1, 2**40]})
    assert fields(errors) == ["pupil_id", "title", "owner_user_id", "incident_ids"]


# --- categories -------------------------------------------------------------------------------------

def test_every_problem_with_a_categorys_form_is_reported_together():
    errors = messages(refused(incidents_contract.create_category, category={
        "name": "n" * 101, "colour": "red", "sensitivity": "Very Secret!", "default_alert_groups": ["everyone"],
        "default_alert_user_ids": ["7"], "active": None, "owner": 1}))
    assert set(errors) == {"name", "colour", "sensitivity", "default_alert_groups", "default_alert_user_ids",
                           "active", "owner"}
    assert errors["colour"] == "This is not in the expected form."
    assert set(messages(refused(incidents_contract.create_category, category={}))) == {"name", "sensitivity"}


def test_a_category_may_alert_at_most_fifty_staff():
    errors = refused(incidents_contract.update_category, category_id=1,
                     changes={"default_alert_user_ids": list(range(1, 52))})
    assert errors == [{"field": "changes.default_alert_user_ids", "message": "Choose at most 50."}]


def test_a_categorys_active_flag_is_true_or_false():
    assert fields(refused(incidents_contract.create_category, category={
        "name": "X", "sensitivity": "pastoral", "active": "yes"})) == ["active"]


# --- reading: ids, purposes, filters ------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["1", None, 2**40, 0], ids=["string", "none", "beyond-the-ids", "zero"])
def test_an_incident_is_named_by_an_id(bad):
    assert fields(refused(incidents_contract.check_incident_access, incident_id=bad)) == ["incident_id"]
    assert fields(refused(incidents_contract.get_chronology, pupil_id=bad)) == ["pupil_id"]
    assert fields(refused(incidents_contract.add_action, incident_id=bad, action={"description": "x"})) == [
        "incident_id"]


def test_access_is_asked_for_a_known_purpose():
    errors = refused(incidents_contract.check_incident_access, incident_id=1, purpose="destroy")
    assert errors == [{"field": "purpose", "message": "Choose one of: 'read' or 'attach'."}]


def test_a_chronology_category_is_an_id():
    assert fields(refused(incidents_contract.get_chronology, pupil_id=1, category_id=2**40)) == ["category_id"]


def test_significant_is_true_or_false():
    assert fields(refused(incidents_contract.set_significant, entry_id=1, significant="yes")) == ["significant"]


def test_a_household_members_form():
    errors = refused(incidents_contract.add_household_member, pupil_id=1,
                     member={"name": "n" * 201, "parental_responsibility": [], "contact": "x" * 201})
    assert fields(errors) == ["member.name", "member.parental_responsibility", "member.contact"]


def test_a_decision_is_one_of_the_list_and_its_texts_are_bounded():
    errors = refused(incidents_contract.record_decision, incident_id=1,
                     decision={"decision_type": "refer_somewhere", "reference": "x" * 121})
    assert fields(errors) == ["decision.decision_type", "decision.reference"]


def test_an_outcome_is_one_of_the_list():
    assert fields(refused(incidents_contract.record_outcome, incident_id=1,
                          outcome={"outcome_type": "sorted"})) == ["outcome.outcome_type"]


# --- the roll -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [0, -1, "3", 2**40, True, None])
def test_a_pupil_and_a_sibling_are_named_by_ids(bad):
    assert fields(refused(incidents_contract.get_pupil, pupil_id=bad)) == ["pupil_id"]
    assert fields(refused(incidents_contract.link_siblings, pupil_id=1, other_pupil_id=bad)) == ["other_pupil_id"]


@pytest.mark.parametrize("limit", [0, -3, 101, 1000, "5", True])
def test_a_search_asks_for_1_to_100_pupils(limit):
    assert fields(refused(incidents_contract.search_pupils, q="", limit=limit)) == ["limit"]


def test_a_roll_imports_format_mode_and_dry_run_are_checked_together():
    errors = refused(incidents_contract.import_roll, content_b64="eA==", file_format="xlsx", mode="everything",
                     dry_run=[])
    assert fields(errors) == ["file_format", "mode", "dry_run"]


# --- the tray -----------------------------------------------------------------------------------------

def tray_alert(**changes) -> dict:
    return {"external_id": "ext-1", "pupil_identifier": "A123456789012", "severity": "high",
            "summary": "Searched for self-harm methods.", "occurred_at": (utcnow() - timedelta(minutes=30)).isoformat(),
            **changes}


def test_bad_alerts_are_refused_with_every_field_named():
    errors = messages(refused(incidents_contract.receive_tray_alert, alert={
        "external_id": "", "severity": "urgent", "summary": "x" * 5_001, "occurred_at": "yesterday"}))
    assert set(errors) == {"external_id", "pupil_identifier", "severity", "summary", "occurred_at"}
    assert errors["external_id"] == "Give the monitoring system's own id for this alert."
    assert "5,000" in errors["summary"]


def test_an_alert_from_the_future_is_refused():
    future = (utcnow() + timedelta(hours=2)).isoformat() + "Z"
    assert messages(refused(incidents_contract.receive_tray_alert, alert=tray_alert(occurred_at=future))) == {
        "occurred_at": "The date and time cannot be in the future."}


def test_attaching_and_dismissing_take_text():
    assert fields(refused(incidents_contract.attach_tray_item, item_id=1, data={"note": 5})) == ["data.note"]
    assert fields(refused(incidents_contract.dismiss_tray_item, item_id=1, data={"reason": 42})) == ["data.reason"]


def test_the_tray_is_listed_by_a_known_status():
    assert fields(refused(incidents_contract.list_tray, status="handled")) == ["status"]

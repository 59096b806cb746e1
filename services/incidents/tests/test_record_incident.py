"""record_incident against real PostgreSQL: each field's validation, the outbox event, time zones."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from services.common.db import utcnow
from services.incidents import domain
from services.incidents.exceptions import ValidationFailed
from services.incidents.models import Incident, IncidentAlert, IncidentCategory, OutboxEvent

from .conftest import OTHER_SCHOOL, SCHOOL, actor, category_id, count, pupil_id

ACCOUNT = "Jo said her uncle hit her with a belt on Saturday; bruise on left forearm."
TABLES = (Incident, IncidentCategory, IncidentAlert, OutboxEvent)


@pytest.fixture
def valid(session) -> dict:
    return {"pupil_id": pupil_id(session, "Quigley"), "occurred_at": "2026-01-05T09:30:00Z",
            "account": ACCOUNT, "category_ids": [category_id(session, "Behaviour")],
            "alert_user_ids": [], "alert_groups": [], "urgent": False}


def record(sessions, data, who=None) -> dict:
    with sessions.begin() as session:
        return domain.record_incident(session, who or actor(), data)


def rows(sessions) -> dict:
    return {model.__name__: count(sessions, model) for model in TABLES}


def refused(sessions, data, who=None) -> list[dict]:
    """The errors record_incident reports; also checks nothing at all was written."""
    before = rows(sessions)
    with pytest.raises(ValidationFailed) as caught:
        record(sessions, data, who)
    assert rows(sessions) == before
    return caught.value.errors


def fields(errors) -> list[str]:
    return [e["field"] for e in errors]


# --- the pupil --------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [None, "12", 1.0, True, [1]], ids=["missing", "string", "float", "bool", "list"])
def test_pupil_must_be_an_integer_id(sessions, valid, bad):
    data = dict(valid)
    if bad is None:
        del data["pupil_id"]
    else:
        data["pupil_id"] = bad
    assert fields(refused(sessions, data)) == ["pupil_id"]


def test_pupil_from_another_school_is_refused(sessions, session, valid):
    errors = refused(sessions, {**valid, "pupil_id": pupil_id(session, school_id=OTHER_SCHOOL)})
    assert errors == [{"field": "pupil_id",
                       "message": "That pupil is not on this school's roll. Choose the pupil from the list."}]


def test_unknown_pupil_is_refused(sessions, valid):
    assert fields(refused(sessions, {**valid, "pupil_id": 999_999})) == ["pupil_id"]


def test_pupil_who_has_left_the_roll_is_refused(sessions, session, valid):
    errors = refused(sessions, {**valid, "pupil_id": pupil_id(session, on_roll=False)})
    assert fields(errors) == ["pupil_id"]
    assert "left the roll" in errors[0]["message"]


def test_pupil_id_out_of_integer_range_is_a_validation_error(sessions, valid):
    assert fields(refused(sessions, {**valid, "pupil_id": 2**31})) == ["pupil_id"]


# --- when it happened -------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [None, "", "   ", "yesterday", "2026-13-01T09:00", "05/01/2026", 20260105],
                         ids=["missing", "empty", "blank", "words", "month-13", "uk-format", "number"])
def test_occurred_at_must_be_an_iso_date_time(sessions, valid, bad):
    errors = refused(sessions, {**valid, "occurred_at": bad})
    assert fields(errors) == ["occurred_at"]
    assert "date and time it happened" in errors[0]["message"]


def test_occurred_at_in_the_future_is_refused(sessions, valid):
    tomorrow = (utcnow() + timedelta(days=1)).isoformat() + "Z"
    errors = refused(sessions, {**valid, "occurred_at": tomorrow})
    assert errors == [{"field": "occurred_at", "message": "The date and time cannot be in the future."}]


def test_occurred_at_a_minute_ahead_is_allowed_for_clock_skew(sessions, valid):
    soon = (utcnow() + timedelta(minutes=1)).isoformat() + "Z"
    assert record(sessions, {**valid, "occurred_at": soon})["id"]


def test_occurred_at_before_1990_is_refused(sessions, valid):
    errors = refused(sessions, {**valid, "occurred_at": "1989-12-31T23:59:00Z"})
    assert errors == [{"field": "occurred_at", "message": "That date is too far in the past; check the year."}]


@pytest.mark.parametrize("extreme", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:00-01:00"])
def test_occurred_at_at_the_edge_of_the_calendar_is_a_validation_error(sessions, valid, extreme):
    assert fields(refused(sessions, {**valid, "occurred_at": extreme})) == ["occurred_at"]


def test_occurred_at_with_an_offset_is_stored_in_utc(sessions, valid):
    result = record(sessions, {**valid, "occurred_at": "2025-06-10T09:30:00+01:00"})
    assert result["occurred_at"] == "2025-06-10T08:30:00Z"
    with sessions() as session:
        assert session.get(Incident, result["id"]).occurred_at == datetime(2025, 6, 10, 8, 30)


def test_occurred_at_with_z_and_without_offset_are_taken_as_utc(sessions, valid):
    assert record(sessions, {**valid, "occurred_at": "2025-01-10T09:30:00Z"})["occurred_at"] == \
        "2025-01-10T09:30:00Z"
    assert record(sessions, {**valid, "occurred_at": "2025-01-10T09:30"})["occurred_at"] == \
        "2025-01-10T09:30:00Z"


def test_a_time_just_past_now_in_a_western_offset_is_in_the_future(sessions, valid):
    # 10 minutes from now, written as local time five hours behind UTC: still the future.
    local = (datetime.now(timezone.utc) + timedelta(minutes=10)).astimezone(timezone(timedelta(hours=-5)))
    assert fields(refused(sessions, {**valid, "occurred_at": local.isoformat()})) == ["occurred_at"]


# --- the account ------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [None, "", "  \n\t ", 42, ["words"]],
                         ids=["missing", "empty", "blank", "number", "list"])
def test_account_must_be_written(sessions, valid, bad):
    errors = refused(sessions, {**valid, "account": bad})
    assert errors == [{"field": "account", "message": "Write what you saw, heard or were told."}]


def test_account_longer_than_the_limit_is_refused(sessions, valid):
    errors = refused(sessions, {**valid, "account": "x" * (domain.MAX_ACCOUNT_CHARS + 1)})
    assert fields(errors) == ["account"]
    assert "50,000" in errors[0]["message"]


def test_account_at_the_limit_is_kept_and_trimmed(sessions, valid):
    text_ = "y" * domain.MAX_ACCOUNT_CHARS
    assert record(sessions, {**valid, "account": text_})["account"] == text_
    assert record(sessions, {**valid, "account": "  seen at gate  \n"})["account"] == "seen at gate"


# --- categories -------------------------------------------------------------------------------

def test_no_category_is_refused(sessions, valid):
    errors = refused(sessions, {**valid, "category_ids": []})
    assert errors == [{"field": "category_ids", "message": "Choose at least one category."}]
    data = dict(valid)
    del data["category_ids"]
    assert fields(refused(sessions, data)) == ["category_ids"]


def test_four_categories_are_refused_three_are_accepted(sessions, session, valid):
    ids = [category_id(session, n) for n in ("Behaviour", "Bullying", "Attendance", "Medical")]
    errors = refused(sessions, {**valid, "category_ids": ids})
    assert errors == [{"field": "category_ids", "message": "Choose at most 3 categories."}]
    result = record(sessions, {**valid, "category_ids": ids[:3]})
    assert sorted(c["name"] for c in result["categories"]) == ["Attendance", "Behaviour", "Bullying"]


def test_repeated_category_counts_once(sessions, session, valid):
    behaviour = category_id(session, "Behaviour")
    result = record(sessions, {**valid, "category_ids": [behaviour, behaviour]})
    assert [c["id"] for c in result["categories"]] == [behaviour]


@pytest.mark.parametrize("bad", ["1", [1.0], [True], ["1"], {"id": 1}],
                         ids=["string", "float", "bool", "string-id", "dict"])
def test_categories_must_be_a_list_of_ids(sessions, valid, bad):
    errors = refused(sessions, {**valid, "category_ids": bad})
    assert errors == [{"field": "category_ids", "message": "Categories must be a list of category ids."}]


@pytest.mark.parametrize("which", ["inactive", "unknown", "other-school"])
def test_unusable_category_is_refused(sessions, session, valid, which):
    bad = {"inactive": category_id(session, "Retired category"), "unknown": 999_999,
           "other-school": category_id(session, "Safeguarding", school_id=OTHER_SCHOOL)}[which]
    errors = refused(sessions, {**valid, "category_ids": [category_id(session, "Behaviour"), bad]})
    assert errors == [{"field": "category_ids",
                       "message": "One of the chosen categories does not exist or is no longer in use."}]


# --- who is alerted, urgency ------------------------------------------------------------------

@pytest.mark.parametrize("bad", [["governors"], ["dsl", "everyone"], "dsl", [None]],
                         ids=["unknown", "one-unknown", "string", "none"])
def test_alert_groups_must_be_dsl_or_slt(sessions, valid, bad):
    errors = refused(sessions, {**valid, "alert_groups": bad})
    assert errors == [{"field": "alert_groups", "message": "Alert groups must be chosen from: dsl, slt."}]


@pytest.mark.parametrize("bad", ["10", [10, "11"], [True]], ids=["string", "mixed", "bool"])
def test_alert_user_ids_must_be_a_list_of_ids(sessions, valid, bad):
    assert fields(refused(sessions, {**valid, "alert_user_ids": bad})) == ["alert_user_ids"]


@pytest.mark.parametrize("bad", ["true", 1, 0, None], ids=["string", "one", "zero", "none"])
def test_urgent_must_be_a_boolean(sessions, valid, bad):
    errors = refused(sessions, {**valid, "urgent": bad})
    assert errors == [{"field": "urgent", "message": "Urgent must be true or false."}]


def test_urgent_defaults_to_false(sessions, valid):
    data = dict(valid)
    del data["urgent"]
    assert record(sessions, data)["urgent"] is False


def test_every_error_is_reported_together_and_nothing_is_saved(sessions, session, valid):
    record(sessions, valid)  # something already in every table, to show it is left alone
    errors = refused(sessions, {"pupil_id": pupil_id(session, school_id=OTHER_SCHOOL),
                                "occurred_at": "not a date", "account": " ", "category_ids": [],
                                "alert_user_ids": "all", "alert_groups": ["governors"], "urgent": "yes"})
    assert fields(errors) == ["pupil_id", "occurred_at", "account", "category_ids", "alert_user_ids",
                              "alert_groups", "urgent"]
    assert rows(sessions) == {"Incident": 1, "IncidentCategory": 1, "IncidentAlert": 1, "OutboxEvent": 1}


# --- what a saved incident writes -------------------------------------------------------------

def test_saved_incident_writes_its_rows_and_exactly_one_event_without_the_account(sessions, session, valid):
    bullying = category_id(session, "Bullying")
    recorder = actor(name="Tess Teacher")
    result = record(sessions, {**valid, "category_ids": [valid["category_ids"][0], bullying],
                               "alert_user_ids": [31, 32, 31], "urgent": True}, recorder)

    assert result["pupil_id"] == valid["pupil_id"]
    assert result["pupil"]["name"] == "Quinn Quigley"
    assert result["recorded_by"] == {"id": recorder.user_id, "name": "Tess Teacher"}
    assert result["account"] == ACCOUNT
    assert result["urgent"] is True
    assert result["alert_user_ids"] == [31, 32]
    assert result["alert_groups"] == ["slt"]  # Behaviour and Bullying's default group, once
    assert rows(sessions) == {"Incident": 1, "IncidentCategory": 2, "IncidentAlert": 3, "OutboxEvent": 1}

    with sessions() as s:
        outbox = s.scalars(select(OutboxEvent)).one()
    assert outbox.event_type == "incident_recorded"
    assert outbox.published_at is None
    event = json.loads(outbox.body)
    assert event["event_id"] == outbox.event_id
    assert datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00")).tzinfo is not None
    assert event["school_id"] == SCHOOL
    assert event["incident_id"] == result["id"]
    assert event["pupil_id"] == valid["pupil_id"]
    assert event["category_ids"] == [valid["category_ids"][0], bullying]
    assert event["urgent"] is True
    assert "account" not in event
    assert "belt" not in outbox.body and "bruise" not in outbox.body
    assert "Quigley" not in outbox.body


def test_each_incident_gets_its_own_event_id(sessions, valid):
    record(sessions, valid)
    record(sessions, valid)
    with sessions() as s:
        ids = s.scalars(select(OutboxEvent.event_id)).all()
    assert len(ids) == 2 and len(set(ids)) == 2


def test_safeguarding_category_always_alerts_the_dsl(sessions, session, valid):
    result = record(sessions, {**valid, "category_ids": [category_id(session, "Safeguarding")],
                               "alert_groups": []})
    assert result["alert_groups"] == ["dsl"]
    with sessions() as s:
        event = json.loads(s.scalars(select(OutboxEvent.body)).one())
    assert event["alert_groups"] == ["dsl"]
    assert event["category_names"] == ["Safeguarding"]


def test_chosen_groups_are_kept_alongside_the_category_default(sessions, session, valid):
    result = record(sessions, {**valid, "category_ids": [category_id(session, "Online safety")],
                               "alert_groups": ["slt", "dsl", "slt"]})
    assert result["alert_groups"] == ["slt", "dsl"]


def test_a_category_without_defaults_alerts_only_whom_the_recorder_chose(sessions, session, valid):
    result = record(sessions, {**valid, "category_ids": [category_id(session, "Medical")],
                               "alert_groups": None, "alert_user_ids": None})
    assert result["alert_groups"] == [] and result["alert_user_ids"] == []


def test_incident_belongs_to_the_actors_school(sessions, valid):
    result = record(sessions, valid)
    with sessions() as s:
        assert s.get(Incident, result["id"]).school_id == SCHOOL

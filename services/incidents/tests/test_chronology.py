"""Reading a pupil's chronology against real PostgreSQL: the order, every filter, who sees which
lines, and the DSL's significant-event flag."""
from __future__ import annotations

import dataclasses
import json
from datetime import datetime

import pytest
from sqlalchemy import select, text

from services.incidents.chronology import details, entries as chronology
from services.incidents.follow_up import decisions, summaries
from services.incidents.record import amendments, incidents as record
from services.incidents.exceptions import Forbidden, NotFound, ValidationFailed
from services.incidents.models import ChronologyEntry

from .conftest import OTHER_SCHOOL, SCHOOL, actor, category_id, new_record, pupil_id
from .test_records import DSL, RECORDER, SLT, call, clean_follow_up, record_incident  # noqa: F401

ENTRY_KEYS = {"id", "entry_type", "occurred_at", "title", "incident_id", "ref_id", "category_ids", "role",
              "significant", "excerpt", "recorded_by", "outcome"}


@pytest.fixture
def pupil(session) -> int:
    return pupil_id(session, "Quigley")


@pytest.fixture
def entries(sessions, session, pupil) -> dict[str, int]:
    """Lines written out of order, in several categories and sensitivities; returns their ids by name."""
    safeguarding, neglect = category_id(session, "Safeguarding"), category_id(session, "Neglect")
    behaviour, bullying = category_id(session, "Behaviour"), category_id(session, "Bullying")
    rows = [  # name, type, when, categories, sensitivities
        ("neglect", "incident", "2026-03-10T09:00", [neglect], ["safeguarding"]),
        ("chair", "incident", "2026-01-05T10:00", [behaviour], ["behaviour"]),
        ("decision", "decision", "2026-03-10T09:00", [neglect], ["safeguarding"]),  # same time: after by id
        ("bully", "incident", "2026-02-01T23:30", [bullying, safeguarding], ["behaviour", "safeguarding"]),
        ("action", "action", "2026-02-02T00:00", [behaviour], ["behaviour"]),
        ("document", "document", "2026-04-01T08:00", [], []),
    ]
    ids = {}
    with sessions.begin() as s:
        for name, kind, when, categories, sensitivities in rows:
            entry = chronology.add_entry(s, school_id=SCHOOL, pupil_id=pupil, entry_type=kind, ref_id=name,
                                         occurred_at=datetime.fromisoformat(when), title=f"{name} title",
                                         category_ids=categories, sensitivities=sensitivities)
            s.flush()
            ids[name] = entry.id
        # Another pupil's line never shows.
        chronology.add_entry(s, school_id=SCHOOL, pupil_id=pupil_id(session, "Gill"), entry_type="incident",
                             ref_id="other", occurred_at=datetime(2026, 1, 1), title="other pupil")
    return ids


def read(sessions, pupil, who=DSL, **filters) -> list[str]:
    with sessions() as s:
        result = chronology.read_chronology(s, who, pupil, **filters)
    return [e["ref_id"] for e in result["entries"]]


def refused(sessions, pupil, **filters) -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        read(sessions, pupil, **filters)
    return [e["field"] for e in caught.value.errors]


def test_the_dsl_reads_every_line_in_the_order_things_happened(sessions, pupil, entries):
    with sessions() as s:
        result = chronology.read_chronology(s, DSL, pupil)
    assert result["pupil"]["id"] == pupil and result["pupil"]["name"] == "Quinn Quigley"
    assert [e["ref_id"] for e in result["entries"]] == ["chair", "bully", "action", "neglect", "decision", "document"]
    first = result["entries"][0]
    assert set(first) == ENTRY_KEYS
    assert first["occurred_at"] == "2026-01-05T10:00:00Z" and first["entry_type"] == "incident"
    assert first["significant"] is False and first["role"] is None


def test_slt_see_only_lines_whose_every_sensitivity_they_may_read(sessions, pupil, entries):
    # The document's line has no category: closed to everyone but the DSL team (it was all([]) once).
    assert read(sessions, pupil, SLT) == ["chair", "action"]


@pytest.mark.parametrize("who", [RECORDER, actor(30, roles=("slt",)), actor(20, roles=("dsl",))],
                         ids=["teacher", "slt-without-second-factor", "dsl-without-second-factor"])
def test_staff_do_not_read_chronologies(sessions, pupil, entries, who):
    with pytest.raises(Forbidden):
        read(sessions, pupil, who)


def test_another_schools_pupil_is_not_found(sessions, session, entries):
    with pytest.raises(NotFound):
        read(sessions, pupil_id(session, school_id=OTHER_SCHOOL))
    with pytest.raises(NotFound):
        read(sessions, 999_999)


def test_filter_by_type(sessions, pupil, entries):
    assert read(sessions, pupil, entry_type="incident") == ["chair", "bully", "neglect"]
    assert read(sessions, pupil, entry_type="decision,action") == ["action", "decision"]
    assert refused(sessions, pupil, entry_type="rumour") == ["type"]


def test_filter_by_category_includes_its_sub_categories(sessions, session, pupil, entries):
    assert read(sessions, pupil, category_id=category_id(session, "Safeguarding")) == ["bully", "neglect", "decision"]
    assert read(sessions, pupil, category_id=category_id(session, "Neglect")) == ["neglect", "decision"]
    assert read(sessions, pupil, category_id=category_id(session, "Bullying")) == ["bully"]
    assert read(sessions, pupil, SLT, category_id=category_id(session, "Behaviour")) == ["chair", "action"]
    assert refused(sessions, pupil, category_id=999_999) == ["category_id"]
    other_school = category_id(session, "Safeguarding", school_id=OTHER_SCHOOL)
    assert refused(sessions, pupil, category_id=other_school) == ["category_id"]


def test_filter_by_dates_whole_days_inclusive(sessions, pupil, entries):
    assert read(sessions, pupil, date_from="2026-02-01", date_to="2026-02-01") == ["bully"]
    assert read(sessions, pupil, date_from="2026-02-02") == ["action", "neglect", "decision", "document"]
    assert read(sessions, pupil, date_to="2026-01-31") == ["chair"]
    assert read(sessions, pupil, date_from="2026-03-10T09:00:00Z", date_to="2026-03-10T09:00:00Z") == [
        "neglect", "decision"]
    assert read(sessions, pupil, date_from="2026-02-02T01:45:00+02:00", date_to="2026-02-02") == ["action"]
    assert refused(sessions, pupil, date_from="01/02/2026") == ["from"]
    assert refused(sessions, pupil, date_from="2026-02-31", date_to="yesterday") == ["from", "to"]
    assert refused(sessions, pupil, date_from="2026-03-01", date_to="2026-02-01") == ["to"]


def test_the_dsl_marks_significant_events_and_filters_on_them(sessions, pupil, entries):
    flagged = call(sessions, chronology.set_significant, DSL, entries["neglect"], True)
    assert flagged["significant"] is True and flagged["significant_set_by"] == "Dana Shah"
    assert flagged["significant_set_at"]
    call(sessions, chronology.set_significant, DSL, entries["chair"], True)
    assert read(sessions, pupil, significant=True) == ["chair", "neglect"]
    assert read(sessions, pupil, significant=False) == ["bully", "action", "decision", "document"]
    assert read(sessions, pupil, SLT, significant=True) == ["chair"]
    assert read(sessions, pupil, significant=True, entry_type="incident", date_from="2026-02-01") == ["neglect"]
    unflagged = call(sessions, chronology.set_significant, DSL, entries["chair"], False)
    assert unflagged["significant"] is False
    assert read(sessions, pupil, significant=True) == ["neglect"]
    # The flag is about the chronology line only: the line's title and time are untouched.
    with sessions() as s:
        entry = s.get(ChronologyEntry, entries["neglect"])
        assert (entry.title, entry.occurred_at) == ("neglect title", datetime(2026, 3, 10, 9))


def test_only_the_dsl_team_marks_significant_events(sessions, entries):
    for who in (SLT, RECORDER):
        with pytest.raises(Forbidden):
            call(sessions, chronology.set_significant, who, entries["chair"], True)
    elsewhere = dataclasses.replace(DSL, school_id=OTHER_SCHOOL)
    with pytest.raises(NotFound):
        call(sessions, chronology.set_significant, elsewhere, entries["chair"], True)
    assert read(sessions, pupil_id_of(sessions, entries["chair"]), significant=True) == []


def pupil_id_of(sessions, entry_id) -> int:
    with sessions() as s:
        return s.get(ChronologyEntry, entry_id).pupil_id


# --- the JSON the HTTP API passes on as it is --------------------------------------------------------------

@pytest.mark.parametrize("who, filters", [
    (DSL, {}), (SLT, {}), (DSL, {"entry_type": "incident,decision", "date_from": "2026-02-01"}),
    (DSL, {"significant": False}), (SLT, {"category_id": "Behaviour"}), (DSL, {"category_id": "Safeguarding"}),
    (DSL, {"date_from": "2030-01-01"})], ids=["dsl", "slt", "types-and-dates", "unflagged", "slt-category",
                                              "category", "nothing"])
def test_the_json_written_by_the_database_is_the_chronology_built_in_python(sessions, session, pupil, entries, who, filters):
    if "category_id" in filters:
        filters = {**filters, "category_id": category_id(session, filters["category_id"])}
    with sessions.begin() as s:  # awkward text, and times within one second, must survive too
        chronology.add_entry(s, school_id=SCHOOL, pupil_id=pupil, entry_type="action", ref_id='a"b\\c',
                             occurred_at=datetime(2026, 3, 10, 9, 0, 0, 500), role="witness",
                             title='Action assigned to Siân "Sam" O\'Neill\\\n(due 2026-12-01) — 😀\t',
                             category_ids=[category_id(session, "Behaviour")], sensitivities=["behaviour"])
    with sessions() as s:
        encoded = chronology.read_chronology_json(s, who, pupil, **filters)
        about, where, hidden = chronology._plan(s, who, pupil, **filters)
        assert json.loads(encoded) == {"pupil": about, "entries": chronology._entries(s, where, dsl=who is DSL),
                                       "hidden_needing_step_up": hidden}  # built in Python
        assert json.loads(encoded) == chronology.read_chronology(s, who, pupil, **filters)


def test_the_json_path_checks_the_reader_and_the_filters_the_same_way(sessions, pupil, entries):
    with sessions() as s:
        with pytest.raises(Forbidden):
            chronology.read_chronology_json(s, RECORDER, pupil)
        with pytest.raises(ValidationFailed):
            chronology.read_chronology_json(s, DSL, pupil, entry_type="gossip")


def test_each_stored_line_follows_its_row_through_the_orm_and_plain_sql_rows_still_read(sessions, session, pupil,
                                                                                          entries):
    def same() -> dict:
        with sessions() as s:
            encoded = json.loads(chronology.read_chronology_json(s, DSL, pupil))
            about, where, hidden = chronology._plan(s, DSL, pupil)
            assert encoded == {"pupil": about, "entries": chronology._entries(s, where, dsl=True),
                               "hidden_needing_step_up": hidden}
            return {e["id"]: e for e in encoded["entries"]}

    with sessions() as s:  # written with the row
        assert s.get(ChronologyEntry, entries["chair"]).line.startswith('"entry_type":"incident"')
    call(sessions, chronology.set_significant, DSL, entries["chair"], True)
    assert same()[entries["chair"]]["significant"] is True
    # An amendment moving an incident's time refiles its lines through the ORM: the stored line follows.
    recorded = record_incident(sessions, session, linked=())
    call(sessions, amendments.amend_incident, DSL, recorded["id"],
         {"field": "occurred_at", "new_value": "2025-12-01T08:15:00Z", "reason": "Wrong date written."})
    with sessions() as s:
        moved = s.scalar(select(ChronologyEntry.id).where(ChronologyEntry.incident_id == recorded["id"],
                                                         ChronologyEntry.entry_type == "incident"))
    assert same()[moved]["occurred_at"] == "2025-12-01T08:15:00Z"
    # A row written with plain SQL has no stored line: it is built when read.
    with sessions.begin() as s:
        s.execute(text("UPDATE chronology SET line = NULL WHERE id = :i"), {"i": entries["bully"]})
    assert same()[entries["bully"]]["title"] == "bully title"


# --- what a line tells the DSL team: an excerpt, who recorded it, its outcome ------------------------------

TESS = actor(11, name="Tess Morgan")


def record_about(sessions, session, account, *, who=RECORDER, category="Behaviour", occurred="2026-05-06T10:00:00Z",
                 surname="Quigley", linked=()) -> int:
    data = {"pupil_id": pupil_id(session, surname), "occurred_at": occurred, "account": account,
            "category_ids": [category_id(session, category)],
            "linked_pupils": [{"pupil_id": pupil_id(session, s), "role": role} for s, role in linked]}
    with sessions.begin() as s:
        return record.record_incident(s, who, new_record(data))["id"]


def incident_lines(sessions, pupil, who=DSL) -> list[dict]:
    with sessions() as s:
        return [e for e in chronology.read_chronology(s, who, pupil)["entries"] if e["entry_type"] == "incident"]


def test_three_incidents_of_one_category_on_one_day_are_three_lines_the_dsl_can_tell_apart(sessions, session, pupil):
    record_about(sessions, session, "Pushed a child off the climbing frame.", occurred="2026-05-06T09:00:00Z")
    record_about(sessions, session, "Threw a chair in maths.", occurred="2026-05-06T11:00:00Z")
    record_about(sessions, session, "Pushed a child off the climbing frame.", who=TESS, occurred="2026-05-06T11:00:00Z")
    lines = incident_lines(sessions, pupil)
    assert len({line["title"] for line in lines}) == 1  # "Observation — Behaviour" three times
    assert [(line["excerpt"], line["recorded_by"]) for line in lines] == [
        ("Pushed a child off the climbing frame.", "Tom Archer"), ("Threw a chair in maths.", "Tom Archer"),
        ("Pushed a child off the climbing frame.", "Tess Morgan")]
    # SLT read these lines (behaviour) but never the account's words, nor who wrote it, on a line.
    slt_lines = incident_lines(sessions, pupil, SLT)
    assert len(slt_lines) == 3
    assert all(line[key] is None for line in slt_lines for key in ("excerpt", "recorded_by", "outcome"))


def test_the_excerpt_is_the_dsls_summary_or_the_corrected_accounts_first_160_characters(sessions, session, pupil):
    account = "Said   she\nhad no breakfast\t\tagain. " + "She was hungry and tired all morning, " * 6
    incident = record_about(sessions, session, account, category="Neglect", linked=(("Gill", "witness"),))
    [line] = incident_lines(sessions, pupil)
    assert line["excerpt"].startswith("Said she had no breakfast again. She was hungry")
    assert len(line["excerpt"]) == 161 and line["excerpt"].endswith("…") and "  " not in line["excerpt"]
    assert line["excerpt"][:-1] == details.one_line(account)[:160].rstrip(" ")

    call(sessions, amendments.amend_incident, DSL, incident,
         {"field": "account", "new_value": "Said she had no tea.", "reason": "Misheard what she said."})
    assert incident_lines(sessions, pupil)[0]["excerpt"] == "Said she had no tea."
    call(sessions, summaries.set_incident_summary, DSL, incident, "Missed meals, third time this month")
    assert incident_lines(sessions, pupil)[0]["excerpt"] == "Missed meals, third time this month"
    # The linked pupil's chronology shows the same line, as it does the record.
    gill = incident_lines(sessions, pupil_id(session, "Gill"))
    assert gill[0]["excerpt"] == "Missed meals, third time this month" and gill[0]["role"] == "witness"
    call(sessions, summaries.set_incident_summary, DSL, incident, "")
    assert incident_lines(sessions, pupil)[0]["excerpt"] == "Said she had no tea."


def test_the_line_shows_the_latest_outcome_and_only_the_incidents_own_line_has_details(sessions, session, pupil):
    incident = record_about(sessions, session, "Bruise on her arm.", category="Physical abuse")
    assert incident_lines(sessions, pupil)[0]["outcome"] is None
    call(sessions, decisions.record_outcome, DSL, incident, {"outcome_type": "monitoring"})
    call(sessions, decisions.record_outcome, DSL, incident, {"outcome_type": "referral_made"})
    with sessions() as s:
        entries = chronology.read_chronology(s, DSL, pupil)["entries"]
    assert [(e["entry_type"], e["outcome"]) for e in entries] == [
        ("incident", "Referral made"), ("outcome", None), ("outcome", None)]
    assert all(e["excerpt"] is None and e["recorded_by"] is None for e in entries[1:])


TRICKY = ["\u00a0Non-breaking\u00a0spaces stay, tabs\tand\r\nnew lines go. ",
          "x" * 160, "x" * 161, "y " * 80 + "z", "Émoji 😀 " * 30, "  \t\n  only this  ",
          "a" + "\n" * 450 + "b " * 100]


def test_each_line_keeps_its_excerpt_and_the_json_path_reads_it_as_the_python_path_does(sessions, session, pupil):
    ids = [record_about(sessions, session, account, occurred=f"2026-05-0{n + 1}T10:00:00Z")
           for n, account in enumerate(TRICKY)]
    with sessions() as s:
        about, where, hidden = chronology._plan(s, DSL, pupil)
        built_here = chronology._entries(s, where, dsl=True)
        from_database = chronology.read_chronology(s, DSL, pupil)["entries"]
    assert from_database == built_here
    assert [e["incident_id"] for e in from_database] == ids
    # (recording strips the account's ends, the non-breaking space too)
    assert [e["excerpt"] for e in from_database] == [details.excerpt(account.strip()) for account in TRICKY]
    assert from_database[0]["excerpt"] == "Non-breaking\u00a0spaces stay, tabs and new lines go."


def test_excerpt_rules():
    assert details.excerpt("  a \n\n b\t c ") == "a b c"
    assert details.excerpt("a" * 160) == "a" * 160
    assert details.excerpt("a" * 161) == "a" * 160 + "…"
    assert details.excerpt("a" * 159 + " b") == "a" * 159 + "…"  # no space before the ellipsis
    assert details.excerpt("the account", "the summary") == "the summary"
    assert details.excerpt("the account", "") == "the account" and details.excerpt(None) is None


def test_a_flagged_line_answers_with_its_details(sessions, session, pupil):
    incident = record_about(sessions, session, "Threw a chair in maths.")
    with sessions() as s:
        line_id = s.scalar(select(ChronologyEntry.id).where(ChronologyEntry.incident_id == incident,
                                                            ChronologyEntry.entry_type == "incident"))
    flagged = call(sessions, chronology.set_significant, DSL, line_id, True)
    assert (flagged["excerpt"], flagged["recorded_by"], flagged["outcome"]) == (
        "Threw a chair in maths.", "Tom Archer", None)

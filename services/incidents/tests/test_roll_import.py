"""Importing the roll from a MIS CSV or a DfE Common Transfer File, against real PostgreSQL."""
from __future__ import annotations

import itertools
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.incidents.roll import csv as roll_csv
from services.incidents.roll import importer, values
from services.incidents.exceptions import Forbidden, ValidationFailed
from services.incidents.models import OutboxEvent, Pupil, School

from .conftest import DSL_USER, SCHOOL, SLT_USER, actor

DATA = Path(__file__).resolve().parents[3] / "tests" / "data"
MIS_CSV = (DATA / "roll_mis.csv").read_bytes()
CTF = (DATA / "roll_ctf.xml").read_bytes()
HEADER = "UPN,Legal Surname,Legal Forename,Preferred Forename,DOB,Sex,Year,Reg"
TODAY = date.today()
_schools = itertools.count(100)


def dsl(school_id=SCHOOL):
    return actor(DSL_USER, roles=("dsl",), second_factor=True, school_id=school_id)


def upn(n: int) -> str:
    """An invented UPN with a correct check letter (LA 999, which does not exist)."""
    rest = f"999{n:09d}"
    return values.upn_check_letter("?" + rest) + rest


def csv_file(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def pupil_row(n: int, surname="Testpupil", forename=None, **overrides) -> str:
    cells = {"upn": upn(n), "surname": surname, "forename": forename or f"Child{n}", "preferred": "",
             "dob": "01/02/2018", "sex": "F", "year": "Year 3", "reg": "3A"}
    cells.update(overrides)
    return ",".join(cells.values())


def run(session, content, file_format="csv", who=None, **kwargs):
    return importer.import_roll(session, who or dsl(), content, file_format=file_format, **kwargs)


def refused(session, content, file_format="csv", **kwargs) -> list[str]:
    """The problems an import reports; also checks it wrote nothing."""
    before = session.scalar(select(func.count()).select_from(Pupil))
    with pytest.raises(ValidationFailed) as caught:
        run(session, content, file_format, **kwargs)
    assert session.scalar(select(func.count()).select_from(Pupil)) == before
    assert all(e["field"] == "file" for e in caught.value.errors)
    return [e["message"] for e in caught.value.errors]


def pupil(session, upn_, school_id=SCHOOL) -> Pupil | None:
    return session.scalar(select(Pupil).where(Pupil.school_id == school_id, Pupil.upn == upn_))


@pytest.fixture
def school(sessions) -> int:
    """A school of its own (committed), for tests that import in several transactions."""
    school_id = next(_schools)
    with sessions.begin() as s:
        s.add(School(id=school_id, name=f"Import test school {school_id}"))
    return school_id


# --- UPNs -------------------------------------------------------------------------------------

def test_upn_check_letter_follows_the_dfe_rule():
    assert values.upn_problem("B801200005001") is None  # a published example
    assert "first letter does not match" in values.upn_problem("A801200005001")
    temporary = "80120000500" + "F"  # a temporary UPN ends with a letter, which counts in the check
    assert values.upn_problem(values.upn_check_letter("?" + temporary) + temporary) is None
    for bad in ("B80120000500", "B8012000050012", "880120000500A", "B80120000500I", "B80120O005001"):
        assert "is not a UPN" in values.upn_problem(bad), bad


# --- CSV --------------------------------------------------------------------------------------

def test_a_mis_csv_adds_every_pupil_with_their_details_and_flags(session):
    report = run(session, MIS_CSV)
    assert [a["name"] for a in report["added"]] == [
        "Jonathan Ashby-Clarke", "Daisy Okonkwo", "Zoë Brontë", "Paddy O'Neill", "Esperanza Vasquez-Whitfield",
        "Barnaby Threlkeld"]
    assert (report["changed"], report["left"], report["unchanged"], report["dry_run"]) == ([], [], 0, False)

    daisy = pupil(session, "J999200117102")
    assert (daisy.legal_forename, daisy.preferred_forename, daisy.legal_surname) == ("Marguerite", "Daisy", "Okonkwo")
    assert (daisy.date_of_birth, daisy.sex, daisy.year_group, daisy.form) == (date(2018, 11, 2), "F", "Year 3", "3A")
    assert (daisy.admission_date, daisy.cp_plan, daisy.sen_status) == (date(2022, 9, 4), True, "sen_support")
    assert daisy.on_roll and not daisy.child_in_need and not daisy.free_school_meals
    zoe = pupil(session, "J999200118103")
    assert (zoe.year_group, zoe.child_in_need, zoe.eal) == ("Year 4", True, True)  # "4" → Year 4
    paddy = pupil(session, "J999200119104")
    assert (paddy.year_group, paddy.looked_after, paddy.sen_status, paddy.free_school_meals) == (
        "Year 5", True, "ehcp", True)  # "Y5" → Year 5, SEN "E" → EHC plan
    assert pupil(session, "K999200121106").year_group == "Reception"  # "R"


def test_headings_are_matched_by_name_whatever_their_case_punctuation_or_order(session):
    content = ("\ufeffNC Year;Date of Birth;SURNAME;First Name;Known As;unique pupil number;Tutor Group;"
               "Child Protection;Looked-After;Free School Meals;Gender;Notes\r\n"
               f"Yr 6;2015-10-01;Ng;Anh;Annie;{upn(1)};6T;yes;0;True;female;ignored\r\n").encode()
    report = run(session, content)
    assert report["added"] == [{"upn": upn(1), "name": "Annie Ng", "on_roll": True}]
    added = pupil(session, upn(1))
    assert (added.year_group, added.date_of_birth, added.form, added.sex) == ("Year 6", date(2015, 10, 1), "6T", "F")
    assert (added.cp_plan, added.looked_after, added.free_school_meals) == (True, False, True)


def test_an_early_help_column_sets_the_early_help_flag(session):
    content = csv_file(pupil_row(2) + ",Y", pupil_row(3, surname="Other") + ",N", header=HEADER + ",Early Help")
    run(session, content)
    assert (pupil(session, upn(2)).early_help, pupil(session, upn(3)).early_help) == (True, False)


def test_importing_the_same_file_again_changes_nothing_and_never_duplicates(session):
    run(session, MIS_CSV)
    again = run(session, MIS_CSV)
    assert (again["added"], again["changed"], again["left"], again["unchanged"]) == ([], [], [], 6)
    count = session.scalar(select(func.count()).select_from(Pupil).where(
        Pupil.school_id == SCHOOL, Pupil.upn.in_(["J999200116101", "K999200121106"])))
    assert count == 2


def test_a_full_resync_reports_added_changed_and_left(sessions, school):
    with sessions.begin() as s:
        run(s, csv_file(*(pupil_row(n) for n in range(1, 5))), who=dsl(school))
    resync = csv_file(pupil_row(1), pupil_row(2, reg="3B", preferred="Bee"), pupil_row(3), pupil_row(5))
    with sessions.begin() as s:
        report = run(s, resync, who=dsl(school), mode="full")
    assert report["added"] == [{"upn": upn(5), "name": "Child5 Testpupil", "on_roll": True}]
    assert report["changed"] == [{"upn": upn(2), "name": "Bee Testpupil", "fields": ["preferred_forename", "form"]}]
    assert report["left"] == [{"upn": upn(4), "name": "Child4 Testpupil"}]
    assert report["unchanged"] == 2
    with sessions() as s:
        gone = pupil(s, upn(4), school)
        assert (gone.on_roll, gone.leaving_date) == (False, TODAY)
        assert pupil(s, upn(2), school).form == "3B"
        assert s.scalar(select(func.count()).select_from(Pupil).where(Pupil.school_id == school)) == 5

    # "update" never takes anyone off the roll; a pupil back in the file is back on the roll.
    with sessions.begin() as s:
        report = run(s, csv_file(pupil_row(4)), who=dsl(school))
    assert report["left"] == [] and report["changed"] == [
        {"upn": upn(4), "name": "Child4 Testpupil", "fields": ["on_roll", "leaving_date"]}]
    with sessions() as s:
        back = pupil(s, upn(4), school)
        assert (back.on_roll, back.leaving_date) == (True, None)


def test_a_leaving_date_in_the_file_takes_the_pupil_off_the_roll_once_it_has_passed(session):
    header = HEADER + ",Leaving Date"
    run(session, csv_file(pupil_row(1) + ",", pupil_row(2) + ",", header=header))
    past, future = (TODAY - timedelta(days=3)).strftime("%d/%m/%Y"), (TODAY + timedelta(days=30)).strftime("%d/%m/%Y")
    report = run(session, csv_file(pupil_row(1) + f",{past}", pupil_row(2) + f",{future}", header=header))
    assert report["left"] == [{"upn": upn(1), "name": "Child1 Testpupil"}]
    assert report["changed"] == [{"upn": upn(2), "name": "Child2 Testpupil", "fields": ["leaving_date"]}]
    assert not pupil(session, upn(1)).on_roll
    assert pupil(session, upn(2)).on_roll


def test_a_dry_run_reports_the_same_and_writes_nothing(sessions, school):
    with sessions.begin() as s:
        run(s, csv_file(pupil_row(1), pupil_row(2)), who=dsl(school))
    changes = csv_file(pupil_row(1, surname="Renamed"), pupil_row(3))
    with sessions.begin() as s:
        events_before = s.scalar(select(func.count()).select_from(OutboxEvent))
        dry = run(s, changes, who=dsl(school), mode="full", dry_run=True)
    assert dry["dry_run"] is True
    assert [a["upn"] for a in dry["added"]] == [upn(3)]
    assert dry["changed"] == [{"upn": upn(1), "name": "Child1 Renamed", "fields": ["legal_surname"]}]
    assert dry["left"] == [{"upn": upn(2), "name": "Child2 Testpupil"}]
    with sessions() as s:
        assert pupil(s, upn(3), school) is None
        assert pupil(s, upn(1), school).legal_surname == "Testpupil"
        assert pupil(s, upn(2), school).on_roll
        assert s.scalar(select(func.count()).select_from(OutboxEvent)) == events_before
    with sessions.begin() as s:
        real = run(s, changes, who=dsl(school), mode="full")
    assert {k: v for k, v in real.items() if k != "dry_run"} == {k: v for k, v in dry.items() if k != "dry_run"}


def test_each_malformed_row_is_reported_with_its_line_and_nothing_is_imported(session):
    content = csv_file(
        pupil_row(1),                                   # line 2: fine
        pupil_row(2, upn=""),                           # 3
        pupil_row(3, upn="X12"),                        # 4
        pupil_row(4, upn="A999000000004"),              # 5: wrong check letter
        pupil_row(5, surname=""),                       # 6
        pupil_row(6, dob="31/02/2015"),                 # 7
        pupil_row(7, dob=(TODAY + timedelta(days=2)).strftime("%d/%m/%Y")),  # 8
        pupil_row(8, sex="Q"),                          # 9
        pupil_row(9, year=""),                          # 10
        pupil_row(1),                                   # 11: the UPN of line 2 again
    )
    messages = refused(session, content)
    assert messages[0] == "Line 3: the UPN is missing."
    assert messages[1].startswith("Line 4: 'X12' is not a UPN")
    assert messages[2].startswith("Line 5: 'A999000000004' is not a valid UPN")
    assert messages[3] == "Line 6: the legal surname is missing."
    assert messages[4] == "Line 7: the date of birth '31/02/2015' is not a date (use dd/mm/yyyy)."
    assert messages[5].startswith("Line 8: the date of birth") and messages[5].endswith("is in the future.")
    assert messages[6] == "Line 9: the sex 'Q' is not one of M, F or X."
    assert messages[7] == "Line 10: the year group is missing."
    assert messages[8] == f"Line 11: the UPN '{upn(1)}' is also at line 2; each pupil can be in the file only once."
    assert len(messages) == 9
    assert pupil(session, upn(1)) is None


def test_flag_and_sen_values_must_be_recognised(session):
    header = HEADER + ",CP Plan,SEN Status"
    messages = refused(session, csv_file(pupil_row(1) + ",maybe,N", pupil_row(2) + ",Y,Z", header=header))
    assert messages == ["Line 2: 'CP Plan' should be Y or N, not 'maybe'.",
                        "Line 3: the SEN status 'Z' is not one of N (no SEN), K (SEN support) or E (EHC plan)."]


def test_missing_and_doubled_columns_are_named(session):
    messages = refused(session, csv_file(header="Surname,Forename,Legal Surname,Reg"))
    assert messages == [
        "Line 1: the columns 'Surname' and 'Legal Surname' both give the legal surname; remove one of them.",
        "Line 1: there is no column for the UPN (a heading such as 'UPN').",
        "Line 1: there is no column for the year group (a heading such as 'Year').",
    ]


def test_problems_are_listed_up_to_twenty_then_counted(session):
    messages = refused(session, csv_file(*(pupil_row(n, dob="yesterday") for n in range(30))))
    assert len(messages) == 21
    assert messages[19].startswith("Line 21:")
    assert messages[20].startswith("…and 10 more problems.")


def test_nothing_is_half_imported(sessions, school):
    with sessions.begin() as s:
        run(s, csv_file(pupil_row(1)), who=dsl(school))
    bad = csv_file(pupil_row(1, surname="Changed"), pupil_row(2), pupil_row(3, dob="32/01/2017"))
    with pytest.raises(ValidationFailed):
        with sessions.begin() as s:
            run(s, bad, who=dsl(school), mode="full")
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Pupil).where(Pupil.school_id == school)) == 1
        assert pupil(s, upn(1), school).legal_surname == "Testpupil"


def test_an_oversized_file_is_refused(session, monkeypatch):
    with pytest.raises(ValidationFailed) as caught:
        run(session, b"x" * (importer.MAX_FILE_BYTES + 1))
    assert caught.value.errors[0]["field"] == "file"
    assert caught.value.errors[0]["message"].startswith("The file is too large")
    monkeypatch.setattr(roll_csv, "MAX_ROWS", 3)  # a CSV file's row limit
    assert refused(session, csv_file(*(pupil_row(n) for n in range(4))))[0].startswith("The file is too large")


def test_empty_files_and_workbooks_are_refused(session):
    assert refused(session, csv_file(header=HEADER)) == ["The file holds no pupils; nothing to import."]
    assert refused(session, b"PK\x03\x04rest-of-a-zip")[0].startswith("This is a spreadsheet workbook")
    with pytest.raises(ValidationFailed):
        run(session, b"   ")


@pytest.mark.parametrize("who", [actor(), actor(SLT_USER, roles=("slt",), second_factor=True),
                                 actor(DSL_USER, roles=("dsl",), second_factor=False)],
                         ids=["teacher", "slt", "dsl-without-second-factor"])
def test_only_the_dsl_team_may_import(session, who):
    with pytest.raises(Forbidden):
        run(session, MIS_CSV, who=who)


def test_an_import_writes_one_event_with_ids_and_counts_only(session):
    run(session, csv_file(pupil_row(1), pupil_row(2)))
    on_roll = session.scalar(select(func.count()).select_from(Pupil).where(Pupil.school_id == SCHOOL,
                                                                           Pupil.on_roll.is_(True)))
    run(session, csv_file(pupil_row(1)), mode="full")
    events = [json.loads(e.body) for e in session.scalars(select(OutboxEvent).where(
        OutboxEvent.event_type == "roll_imported").order_by(OutboxEvent.id))][-2:]
    assert [e["added_count"] for e in events] == [2, 0]
    assert len(events[1]["left_pupil_ids"]) == on_roll - 1  # everyone on the roll but Child1, who is in the file
    assert "Testpupil" not in json.dumps(events) and upn(1) not in json.dumps(events)


# --- CTF --------------------------------------------------------------------------------------

def test_a_common_transfer_file_adds_its_pupils(session):
    report = run(session, CTF, "ctf")
    assert [a["name"] for a in report["added"]] == ["Ottilie Fanshawe", "Sandy Quartermaine", "Wilhelmina Abernethy"]
    ottilie = pupil(session, "H999200115107")
    assert (ottilie.legal_surname, ottilie.preferred_surname, ottilie.date_of_birth, ottilie.sex) == (
        "Featherstonehaugh", "Fanshawe", date(2019, 5, 4), "F")
    assert (ottilie.year_group, ottilie.looked_after, ottilie.sen_status) == ("Year 2", True, "sen_support")
    assert (ottilie.free_school_meals, ottilie.eal) == (True, True)  # FSM with no end date; first language POL
    sandy = pupil(session, "H999200116108")
    assert (sandy.preferred_forename, sandy.sex, sandy.year_group, sandy.eal) == ("Sandy", "M", "Reception", False)
    wilhelmina = pupil(session, "H999200117109")
    assert (wilhelmina.free_school_meals, wilhelmina.year_group) == (False, "Year 3")  # FSM ended in 2023
    assert run(session, CTF, "ctf")["unchanged"] == 3


def ctf(*pupils: str, header: str = "<Header><DocumentName>Common Transfer File</DocumentName></Header>") -> bytes:
    return (f"<?xml version='1.0' encoding='UTF-8'?><CTfile>{header}<CTFpupilData>{''.join(pupils)}"
            "</CTFpupilData></CTfile>").encode()


def ctf_pupil(n: int, *, upn_=None, dob="2017-04-01", extra="") -> str:
    upn_element = "" if upn_ == "" else f"<UPN>{upn_ or upn(n)}</UPN>"
    return (f"<Pupil>{upn_element}<Surname>Ctfpupil</Surname><Forename>Child{n}</Forename><DOB>{dob}</DOB>"
            f"<Sex>F</Sex><BasicDetails><NCyearActual>4</NCyearActual></BasicDetails>{extra}</Pupil>")


def test_a_malformed_ctf_names_the_element_at_fault(session):
    messages = refused(session, ctf(ctf_pupil(1), ctf_pupil(2, upn_=""), ctf_pupil(3, dob="2015-02-31"),
                                    ctf_pupil(4, extra="<SENhistory><SEN><SENprovision>Q</SENprovision></SEN>"
                                                       "</SENhistory>"), ctf_pupil(5, upn_=upn(1))), "ctf")
    assert messages == ["CTFpupilData/Pupil[2]/UPN: missing.",
                        "CTFpupilData/Pupil[3]/DOB: '2015-02-31' is not a date (expected YYYY-MM-DD).",
                        "CTFpupilData/Pupil[4]/SENhistory/SEN/SENprovision: 'Q' is not N, K or E.",
                        f"CTFpupilData/Pupil[5]: the UPN '{upn(1)}' is also at CTFpupilData/Pupil[1]; each pupil "
                        "can be in the file only once."]


def test_a_ctf_without_its_header_or_pupils_is_refused(session):
    assert refused(session, ctf(ctf_pupil(1), header=""), "ctf") == [
        "CTfile/Header: missing. Export the CTF from the MIS again."]
    assert refused(session, b"<CTfile><Header/></CTfile>", "ctf") == [
        "CTfile/CTFpupilData: missing; the file holds no pupils."]
    assert refused(session, b"<Pupils><Pupil/></Pupils>", "ctf")[0].startswith(
        "The file is not a Common Transfer File: it starts with <Pupils>")
    assert refused(session, b"<CTfile><Header></CTfile>", "ctf")[0].startswith(
        "The file is not a valid XML file (line 1: mismatched tag)")


@pytest.mark.parametrize("declaration", [
    '<!DOCTYPE CTfile [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>',
    '<!DOCTYPE CTfile [<!ENTITY secret SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE CTfile SYSTEM "http://example.invalid/ctf.dtd">',
], ids=["entity-expansion", "external-entity", "external-dtd"])
def test_xml_declaring_entities_or_a_doctype_is_refused(session, declaration):
    content = ctf(ctf_pupil(1)).replace(b"<CTfile>", declaration.encode() + b"<CTfile>").replace(
        b"<Surname>Ctfpupil", b"<Surname>&lol2;" if b"lol2" in declaration.encode() else b"<Surname>Ctfpupil")
    messages = refused(session, content, "ctf")
    assert messages == ["The file declares a DOCTYPE or entities, which a Common Transfer File never needs; "
                        "Haven does not read such files. Export the CTF from the MIS again."]

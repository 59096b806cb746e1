"""The roll: importing and re-syncing it from a school MIS's CSV export or a DfE Common Transfer File
(CTF XML), a pupil's details, and family links between pupils.

An import reads and checks the whole file first; if any row is wrong nothing is written, and the
DSL gets every problem (up to MAX_PROBLEMS) with its line or element. Pupils are matched by UPN
within the school, so a re-import of the same file changes nothing and a pupil is never duplicated.
"""
from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from xml.parsers import expat

from sqlalchemy import select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from services.common.actor import Actor
from services.common.events import add_to_outbox, make_event

from .fields import is_id
from .exceptions import Forbidden, NotFound, ValidationFailed
from .models import FLAGS, OutboxEvent, Pupil, PupilLink
from .search import fold, roll_changed

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ROWS = 60_000
MAX_PROBLEMS = 20
FORMATS = ("csv", "ctf")
MODES = ("update", "full")
TOO_LARGE = (f"The file is too large: Haven imports up to {MAX_FILE_BYTES // (1024 * 1024)} MB and "
             f"{MAX_ROWS:,} pupils at a time. Export one part of the roll at a time.")
EARLIEST_BIRTH = date(1990, 1, 1)

LABELS = {"upn": "UPN", "legal_surname": "legal surname", "legal_forename": "legal forename",
          "preferred_forename": "preferred forename", "preferred_surname": "preferred surname",
          "date_of_birth": "date of birth", "sex": "sex", "year_group": "year group", "form": "registration group",
          "admission_date": "admission date", "leaving_date": "leaving date", "cp_plan": "child protection plan",
          "child_in_need": "child in need", "looked_after": "looked after", "previously_looked_after":
          "previously looked after", "sen_status": "SEN status", "eal": "EAL", "free_school_meals": "free school meals"}
MAX_LENGTHS = {"legal_surname": 100, "legal_forename": 100, "preferred_forename": 100, "preferred_surname": 100,
               "year_group": 20, "form": 20}
REQUIRED = ("upn", "legal_surname", "legal_forename", "year_group")


# --- UPNs -------------------------------------------------------------------------------------

# DfE: a check letter, the LA number (3 digits), the establishment number (4), the year of
# allocation (2), then a 3-character serial whose last character is a letter in a temporary UPN.
UPN_SHAPE = re.compile(r"[A-Z][0-9]{11}[0-9A-Z]")
CHECK_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"  # A–Z without I, O and S; value = position


def upn_check_letter(upn: str) -> str:
    """Characters 2–13 weighted by their position (a letter counts as its CHECK_LETTERS value), mod 23."""
    total = sum(weight * (int(c) if c.isdigit() else CHECK_LETTERS.index(c))
                for weight, c in zip(range(2, 14), upn[1:13]))
    return CHECK_LETTERS[total % 23]


def upn_problem(upn: str) -> str | None:
    if not UPN_SHAPE.fullmatch(upn) or (upn[12].isalpha() and upn[12] not in CHECK_LETTERS):
        return "is not a UPN: a UPN has 13 characters, a letter, 11 digits, then a digit or a letter"
    if upn[0] != upn_check_letter(upn):
        return "is not a valid UPN: its first letter does not match the rest; check it against the MIS"
    return None


# --- reading values ---------------------------------------------------------------------------

TRUE_WORDS, FALSE_WORDS = {"y", "yes", "true", "1"}, {"n", "no", "false", "0", ""}
SEX_WORDS = {"m": "M", "male": "M", "f": "F", "female": "F", "x": "X"}
SEN_WORDS = {"n": "none", "none": "none", "": "none", "nosen": "none",
             "k": "sen_support", "sensupport": "sen_support", "a": "sen_support", "p": "sen_support",
             "e": "ehcp", "ehcp": "ehcp", "ehcplan": "ehcp", "s": "ehcp", "statement": "ehcp"}


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", fold(text))


def parse_date(text: str, *, iso_only: bool = False) -> date:
    """dd/mm/yyyy (what a UK MIS writes) or yyyy-mm-dd; ValueError otherwise."""
    text = text.strip()
    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?", text)
    if m:
        return date(int(m[1]), int(m[2]), int(m[3]))
    m = None if iso_only else re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", text)
    if m:
        return date(int(m[3]), int(m[2]), int(m[1]))
    raise ValueError(text)


def year_group(text: str) -> str:
    """"5", "Y5", "Yr 5", "Year 05" → "Year 5"; "R", "Rec" → "Reception"; "N1" → "Nursery 1";
    anything else is kept as the school wrote it."""
    key = _key(text)
    m = re.fullmatch(r"(?:y|yr|year|ncyear)?0*(\d{1,2})", key)
    if m:
        return f"Year {int(m[1])}"
    if key in ("r", "rec", "reception", "yr", "yearr"):
        return "Reception"
    m = re.fullmatch(r"(?:n|nursery)([12])?", key)
    if m:
        return f"Nursery {m[1]}" if m[1] else "Nursery"
    return text.strip()


@dataclass
class Row:
    """One pupil as the file gives them: `values` holds only what the file says."""
    where: str  # "Line 7" or "CTFpupilData/Pupil[3]"
    values: dict[str, Any]


@dataclass
class Problems:
    items: list[str] = field(default_factory=list)
    more: int = 0

    def add(self, message: str) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(message)
        else:
            self.more += 1

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        messages = list(self.items)
        if self.more:
            messages.append(f"…and {self.more:,} more problem{'s' if self.more > 1 else ''}. "
                            "Correct these and import the file again.")
        raise ValidationFailed([{"field": "file", "message": m} for m in messages],
                               message="The file was not imported: nothing has changed. Correct these problems "
                                       "and import it again.")


def file_problem(message: str) -> ValidationFailed:
    return ValidationFailed.one("file", message)


def _check_required(values: dict, where: str, problems: Problems) -> None:
    for f in ("legal_surname", "legal_forename", "year_group"):
        if f in values and not values[f]:
            problems.add(f"{where}: the {LABELS[f]} is missing.")
    for f, most in MAX_LENGTHS.items():
        if values.get(f) and len(values[f]) > most:
            problems.add(f"{where}: the {LABELS[f]} is longer than {most} characters.")


def _check_duplicates(rows: list[Row], problems: Problems) -> None:
    first: dict[str, str] = {}
    for row in rows:
        upn = row.values["upn"]
        if upn and upn in first:
            earlier = first[upn].replace("Line", "line")
            problems.add(f"{row.where}: the UPN '{upn}' is also at {earlier}; each pupil can be in the file only once.")
        first.setdefault(upn, row.where)


# --- CSV --------------------------------------------------------------------------------------

HEADINGS = {
    "upn": ["upn", "uniquepupilnumber", "pupilupn"],
    "legal_surname": ["legalsurname", "surname", "lastname", "familyname"],
    "legal_forename": ["legalforename", "forename", "firstname", "legalfirstname", "givenname"],
    "preferred_forename": ["preferredforename", "preferredname", "knownas", "preferredfirstname"],
    "preferred_surname": ["preferredsurname", "preferredlastname"],
    "date_of_birth": ["dob", "dateofbirth", "birthdate"],
    "sex": ["sex", "gender"],
    "year_group": ["year", "yeargroup", "ncyear", "curriculumyear", "ncyearactual"],
    "form": ["reg", "reggroup", "form", "registrationgroup", "tutorgroup", "formgroup", "class"],
    "admission_date": ["admissiondate", "entrydate", "dateofadmission", "dateofentry"],
    "leaving_date": ["leavingdate", "dateofleaving", "leavedate"],
    "cp_plan": ["cpplan", "childprotection", "childprotectionplan", "cp"],
    "child_in_need": ["cin", "childinneed"],
    "looked_after": ["lac", "lookedafter", "cla", "childlookedafter", "lookedafterchild"],
    "previously_looked_after": ["plac", "previouslylookedafter", "pla"],
    "sen_status": ["sen", "senstatus", "senprovision"],
    "eal": ["eal", "englishasanadditionallanguage"],
    "free_school_meals": ["fsm", "freeschoolmeals", "fsmeligible"],
}
COLUMN_FOR = {key: f for f, keys in HEADINGS.items() for key in keys}
SUGGESTED = {"upn": "UPN", "legal_surname": "Legal Surname", "legal_forename": "Legal Forename",
             "year_group": "Year"}


def _text(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")  # an older MIS's "ANSI" export


def read_csv(data: bytes, today: date) -> list[Row]:
    if data.startswith(b"PK\x03\x04"):
        raise file_problem("This is a spreadsheet workbook, not a CSV file. Save it as 'CSV (comma delimited)' "
                           "and import that.")
    text = _text(data)
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t|", key=first.count) if any(d in first for d in ",;\t|") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    problems = Problems()
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise file_problem(f"Line 1: the column headings cannot be read ({exc}).") from None
    if not header or not any(h.strip() for h in header):
        raise file_problem("The file is empty. Export the roll from the MIS with a heading row and import that.")

    columns: dict[str, int] = {}
    for col, heading in enumerate(header):
        f = COLUMN_FOR.get(_key(heading))
        if f is None:
            continue
        if f in columns:
            problems.add(f"Line 1: the columns '{header[columns[f]].strip()}' and '{heading.strip()}' both give "
                         f"the {LABELS[f]}; remove one of them.")
        columns[f] = col
    for f in REQUIRED:
        if f not in columns:
            problems.add(f"Line 1: there is no column for the {LABELS[f]} (a heading such as '{SUGGESTED[f]}').")
    problems.raise_if_any()

    rows: list[Row] = []
    try:
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) >= MAX_ROWS:
                raise file_problem(TOO_LARGE)
            where = f"Line {reader.line_num}"
            values = {}
            for f, col in columns.items():
                raw = record[col].strip() if col < len(record) else ""
                values[f] = _csv_value(f, raw, header[col].strip(), where, problems, today)
            _check_required(values, where, problems)
            rows.append(Row(where, values))
    except csv.Error as exc:
        problems.add(f"Line {reader.line_num}: the line cannot be read ({exc}); check its quotation marks.")
    _check_duplicates(rows, problems)
    problems.raise_if_any()
    return rows


def _csv_value(f: str, raw: str, heading: str, where: str, problems: Problems, today: date):
    if f == "upn":
        upn = raw.replace(" ", "").upper()
        if not upn:
            problems.add(f"{where}: the UPN is missing.")
        elif (why := upn_problem(upn)) is not None:
            problems.add(f"{where}: '{raw}' {why}.")
        return upn
    if f in ("date_of_birth", "admission_date", "leaving_date"):
        if not raw:
            return None
        try:
            when = parse_date(raw)
        except ValueError:
            problems.add(f"{where}: the {LABELS[f]} '{raw}' is not a date (use dd/mm/yyyy).")
            return None
        if f == "date_of_birth" and when > today:
            problems.add(f"{where}: the date of birth '{raw}' is in the future.")
        elif when.year < EARLIEST_BIRTH.year:
            problems.add(f"{where}: the {LABELS[f]} '{raw}' is too far in the past; check the year.")
        return when
    if f == "sex":
        if not raw:
            return None
        if _key(raw) not in SEX_WORDS:
            problems.add(f"{where}: the sex '{raw}' is not one of M, F or X.")
        return SEX_WORDS.get(_key(raw))
    if f == "sen_status":
        if _key(raw) not in SEN_WORDS:
            problems.add(f"{where}: the SEN status '{raw}' is not one of N (no SEN), K (SEN support) "
                         "or E (EHC plan).")
        return SEN_WORDS.get(_key(raw), "none")
    if f in FLAGS:
        word = raw.lower()
        if word not in TRUE_WORDS | FALSE_WORDS:
            problems.add(f"{where}: '{heading}' should be Y or N, not '{raw}'.")
        return word in TRUE_WORDS
    if f == "year_group":
        return year_group(raw) if raw else ""
    return raw or (None if f in ("preferred_forename", "preferred_surname", "form") else "")


# --- CTF --------------------------------------------------------------------------------------

class _Refused(Exception):
    pass


def _refuse(*_args):
    raise _Refused()


def parse_xml(data: bytes) -> ET.Element:
    """Parse with expat directly, refusing any DOCTYPE or entity declaration before it can be used:
    no entity expansion (billion laughs), no external entities or DTDs (file or network reads).
    Namespaces are dropped: element names are matched by their local name."""
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.StartElementHandler = lambda tag, _attrs: builder.start(tag.rsplit("}", 1)[-1], {})
    parser.EndElementHandler = lambda tag: builder.end(tag.rsplit("}", 1)[-1])
    parser.CharacterDataHandler = builder.data
    parser.buffer_text = True
    try:
        parser.Parse(data, True)
    except _Refused:
        raise file_problem("The file declares a DOCTYPE or entities, which a Common Transfer File never needs; "
                           "Haven does not read such files. Export the CTF from the MIS again.") from None
    except expat.ExpatError as exc:
        raise file_problem(f"The file is not a valid XML file (line {exc.lineno}: "
                           f"{expat.ErrorString(exc.code)}). Export the CTF from the MIS again.") from None
    return builder.close()


def _child(element: ET.Element | None, *path: str) -> ET.Element | None:
    for name in path:
        if element is None:
            return None
        element = element.find(name)
    return element


def _first(pupil: ET.Element, *paths: tuple[str, ...]) -> tuple[str, ET.Element] | None:
    """The first of these paths present under the pupil, as ("BasicDetails/NCyearActual", element)."""
    for path in paths:
        found = _child(pupil, *path)
        if found is not None:
            return "/".join(path), found
    return None


def _content(element: ET.Element | None, path: str | None = None) -> str:
    if element is not None and path is not None:
        element = element.find(path)
    return (element.text or "").strip() if element is not None else ""


CTF_FIELDS = {
    "legal_surname": [("Surname",)],
    "legal_forename": [("Forename",)],
    "preferred_surname": [("BasicDetails", "PreferredSurname"), ("PreferredSurname",)],
    "preferred_forename": [("BasicDetails", "PreferredForename"), ("PreferredForename",)],
    "year_group": [("BasicDetails", "NCyearActual"), ("NCyearActual",)],
    # Not in the DfE schema, but some MIS add the registration group; take it when present.
    "form": [("BasicDetails", "RegGroup"), ("RegGroup",), ("BasicDetails", "RegistrationGroup"),
             ("RegistrationGroup",)],
}
CTF_YEARS = {"R": "Reception", "N1": "Nursery 1", "N2": "Nursery 2", "X": "Not following the NC"}
ENGLISH = {"ENG", "ENB"}  # DfE language codes for English and "believed to be English"
UNKNOWN_LANGUAGE = {"NOT", "REF", ""}


def read_ctf(data: bytes, today: date) -> list[Row]:
    root = parse_xml(data)
    if root.tag != "CTfile":
        raise file_problem(f"The file is not a Common Transfer File: it starts with <{root.tag}>, not <CTfile>.")
    problems = Problems()
    if root.find("Header") is None:
        problems.add("CTfile/Header: missing. Export the CTF from the MIS again.")
    pupil_data = root.find("CTFpupilData")
    if pupil_data is None:
        problems.add("CTfile/CTFpupilData: missing; the file holds no pupils.")
    problems.raise_if_any()
    pupils = pupil_data.findall("Pupil")
    if len(pupils) > MAX_ROWS:
        raise file_problem(TOO_LARGE)
    rows = []
    for n, pupil in enumerate(pupils, 1):
        where = f"CTFpupilData/Pupil[{n}]"
        rows.append(Row(where, _ctf_pupil(pupil, where, problems, today)))
    _check_duplicates(rows, problems)
    problems.raise_if_any()
    return rows


def _ctf_pupil(pupil: ET.Element, where: str, problems: Problems, today: date) -> dict:
    values: dict[str, Any] = {}
    upn_element = pupil.find("UPN")
    upn = _content(upn_element).replace(" ", "").upper() if upn_element is not None else ""
    if not upn:
        problems.add(f"{where}/UPN: missing.")
    elif (why := upn_problem(upn)) is not None:
        problems.add(f"{where}/UPN: '{upn}' {why}.")
    values["upn"] = upn

    for f, paths in CTF_FIELDS.items():
        found = _first(pupil, *paths)
        if found is None:
            if f in REQUIRED:
                problems.add(f"{where}/{'/'.join(paths[0])}: missing.")
            continue
        text = _content(found[1])
        if f == "year_group":
            text = CTF_YEARS.get(text.upper(), year_group(text) if text else "")
        values[f] = text or (None if f not in REQUIRED else "")
        if f in REQUIRED and not text:
            problems.add(f"{where}/{found[0]}: empty.")
        elif f in MAX_LENGTHS and len(text) > MAX_LENGTHS[f]:
            problems.add(f"{where}/{found[0]}: longer than {MAX_LENGTHS[f]} characters.")

    found = _first(pupil, ("DOB",))
    if found is not None:
        text = _content(found[1])
        try:
            values["date_of_birth"] = parse_date(text, iso_only=True)
        except ValueError:
            problems.add(f"{where}/DOB: '{text}' is not a date (expected YYYY-MM-DD).")
        else:
            if values["date_of_birth"] > today:
                problems.add(f"{where}/DOB: '{text}' is in the future.")
            elif values["date_of_birth"] < EARLIEST_BIRTH:
                problems.add(f"{where}/DOB: '{text}' is too far in the past.")

    found = _first(pupil, ("Sex",), ("Gender",))  # "Gender" before CTF 20
    if found is not None:
        text = _content(found[1]).upper()
        if text not in ("M", "F", "X"):
            problems.add(f"{where}/{found[0]}: '{text}' is not M or F.")
        else:
            values["sex"] = text

    found = _first(pupil, ("LookedAfter", "InCare"))
    if found is not None:
        text = _content(found[1]).lower()
        if text not in ("true", "false", "1", "0"):
            problems.add(f"{where}/LookedAfter/InCare: '{text}' is not true or false.")
        else:
            values["looked_after"] = text in ("true", "1")

    found = _first(pupil, ("SENhistory", "SEN", "SENprovision"))
    if found is not None:
        text = _content(found[1])
        if _key(text) not in SEN_WORDS:
            problems.add(f"{where}/SENhistory/SEN/SENprovision: '{text}' is not N, K or E.")
        else:
            values["sen_status"] = SEN_WORDS[_key(text)]

    history = pupil.find("FSMhistory")
    if history is not None:
        values["free_school_meals"] = False
        for m, instance in enumerate(history.findall("FSMinstance"), 1):
            try:
                start = parse_date(_content(instance, "FSMstartDate"), iso_only=True)
                end = parse_date(_content(instance, "FSMendDate"), iso_only=True) \
                    if _content(instance, "FSMendDate") else None
            except ValueError:
                problems.add(f"{where}/FSMhistory/FSMinstance[{m}]: the start or end date is not a date "
                             "(expected YYYY-MM-DD).")
                continue
            if start <= today and (end is None or end >= today):
                values["free_school_meals"] = True

    for language in pupil.findall("BasicDetails/Languages/Type"):
        if _content(language, "LanguageType").upper() == "F":
            code = _content(language, "Language").upper()
            if code not in UNKNOWN_LANGUAGE:
                values["eal"] = code not in ENGLISH
    return values


# --- the import -------------------------------------------------------------------------------

def decode_upload(content_b64) -> bytes:
    """The file as it crossed the bus (base64)."""
    if not isinstance(content_b64, str):
        raise file_problem("Choose the file to import.")
    if len(content_b64) > (MAX_FILE_BYTES * 4) // 3 + 8:
        raise file_problem(TOO_LARGE)
    try:
        return base64.b64decode(content_b64, validate=True)
    except (binascii.Error, ValueError):
        raise file_problem("The file did not arrive intact; try the import again.") from None


def import_roll(session: Session, actor: Actor, content: bytes, *, file_format: str, mode: str = "update",
                dry_run: bool = False, today: date | None = None) -> dict:
    """Add, change and (mode "full") take off the roll, from a MIS CSV or a CTF. Returns what was (or,
    with dry_run, would be) added, changed and left."""
    if not actor.is_dsl:
        raise Forbidden("Only the DSL team can import the roll.")
    errors = []
    if file_format not in FORMATS:
        errors.append({"field": "format", "message": "Choose the file's format: csv (a MIS export) or ctf "
                                                     "(a Common Transfer File)."})
    if mode not in MODES:
        errors.append({"field": "mode", "message": "Choose update (add and change pupils only) or full (the file "
                                                   "is the whole roll: pupils not in it have left)."})
    if not isinstance(dry_run, bool):
        errors.append({"field": "dry_run", "message": "dry_run must be true or false."})
    if not isinstance(content, bytes) or not content.strip():
        errors.append({"field": "file", "message": "The file is empty. Choose the file exported from the MIS."})
    elif len(content) > MAX_FILE_BYTES:
        errors.append({"field": "file", "message": TOO_LARGE})
    if errors:
        raise ValidationFailed(errors)

    today = today or date.today()
    rows = (read_csv if file_format == "csv" else read_ctf)(content, today)
    if not rows:
        raise file_problem("The file holds no pupils; nothing to import.")
    return _apply(session, actor, rows, mode=mode, dry_run=dry_run, today=today)


def _display_name(values: dict, pupil: Pupil | None = None) -> str:
    def get(f):
        return values[f] if f in values else getattr(pupil, f, None)
    return f"{get('preferred_forename') or get('legal_forename')} {get('preferred_surname') or get('legal_surname')}"


def _let_others_run() -> None:
    # In the service, eventlet makes time.sleep(0) hand over to other green threads: a long import
    # must not stall every other request. Elsewhere it costs nothing.
    time.sleep(0)


INSERT_CHUNK = 5_000


def insert_pupils(session: Session, pupils: list[dict]) -> None:
    """Add new pupils. On PostgreSQL as JSON documents of INSERT_CHUNK pupils (seconds, not minutes,
    for a whole roll: the driver's per-parameter work dominates row-by-row inserts)."""
    if session.get_bind().dialect.name != "postgresql":
        session.add_all(Pupil(**values) for values in pupils)
        session.flush()
        return
    table = Pupil.__table__
    columns = sorted({c for values in pupils for c in values})
    statement = sql_text(f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {', '.join(columns)} "
                     f"FROM json_populate_recordset(NULL::{table.name}, CAST(:pupils AS json))")
    for start in range(0, len(pupils), INSERT_CHUNK):
        chunk = pupils[start:start + INSERT_CHUNK]
        session.execute(statement, {"pupils": json.dumps(chunk, default=date.isoformat)})
        _let_others_run()


def _apply(session: Session, actor: Actor, rows: list[Row], *, mode: str, dry_run: bool, today: date) -> dict:
    existing = {p.upn: p for p in session.scalars(select(Pupil).where(Pupil.school_id == actor.school_id))}
    added, changed, left, new_pupils, leavers = [], [], [], [], []
    unchanged = 0
    for n, row in enumerate(rows):
        values = row.values
        leaving = values.get("leaving_date")
        on_roll = leaving is None or leaving > today  # a leaving date still to come: not gone yet
        if n % 2000 == 1999:
            _let_others_run()
        pupil = existing.get(values["upn"])
        if pupil is None:
            new_pupils.append({"school_id": actor.school_id, "on_roll": on_roll, "sen_status": "none",
                               **{f: False for f in FLAGS}, "preferred_forename": None, "preferred_surname": None,
                               "form": None, **values})
            added.append({"upn": values["upn"], "name": _display_name(new_pupils[-1]), "on_roll": on_roll})
            continue
        updates = {f: v for f, v in values.items() if getattr(pupil, f) != v}
        if on_roll and not pupil.on_roll:  # back on the roll (in the MIS's current roll again)
            updates["on_roll"] = True
            if "leaving_date" not in values and pupil.leaving_date is not None:
                updates["leaving_date"] = None
        name = _display_name(values, pupil)
        if not on_roll and pupil.on_roll:
            updates["on_roll"] = False
            left.append({"upn": pupil.upn, "name": name})
            leavers.append(pupil)
        shown = [f for f in updates if not (f in ("on_roll", "leaving_date") and updates.get("on_roll") is False)]
        if shown:
            changed.append({"upn": pupil.upn, "name": name, "fields": shown})
        elif not updates:
            unchanged += 1
        if not dry_run:
            for f, v in updates.items():
                setattr(pupil, f, v)

    if mode == "full":
        in_file = {row.values["upn"] for row in rows}
        going = sorted((p for upn, p in existing.items() if p.on_roll and upn not in in_file),
                       key=lambda p: (fold(p.legal_surname), fold(p.legal_forename), p.id))
        for pupil in going:
            left.append({"upn": pupil.upn, "name": pupil.name})
            leavers.append(pupil)
            if not dry_run:
                pupil.on_roll = False
                if pupil.leaving_date is None or pupil.leaving_date > today:
                    pupil.leaving_date = today

    if not dry_run:
        session.flush()
        insert_pupils(session, new_pupils)
        roll_changed(session, [actor.school_id])
        # Ids only (DESIGN rule 4); the leavers are what the transfers service will care about.
        add_to_outbox(session, OutboxEvent, make_event(
            "roll_imported", actor.school_id, imported_by=actor.user_id, mode=mode, added_count=len(added),
            changed_count=len(changed), left_pupil_ids=[p.id for p in leavers]))
    return {"added": added, "changed": changed, "left": left, "unchanged": unchanged, "dry_run": dry_run}


# --- a pupil's details and family -------------------------------------------------------------




def _load_pupil(session: Session, actor: Actor, pupil_id, *, on_roll_only: bool = False) -> Pupil:
    pupil = session.get(Pupil, pupil_id) if is_id(pupil_id) else None
    if pupil is None or pupil.school_id != actor.school_id or (on_roll_only and not pupil.on_roll):
        raise NotFound("No such pupil on this school's roll.")
    return pupil


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _summary(pupil: Pupil) -> dict:
    return {"id": pupil.id, "name": pupil.name, "year_group": pupil.year_group, "form": pupil.form}


def sees_details(actor: Actor) -> bool:
    """The DSL team and SLT (with their second factor) see a pupil's full details and flags."""
    return actor.is_dsl or actor.is_slt


def get_pupil(session: Session, actor: Actor, pupil_id) -> dict:
    """Full details for the DSL team and SLT; other staff get what the incident form needs."""
    if not sees_details(actor):
        return _summary(_load_pupil(session, actor, pupil_id, on_roll_only=True))
    pupil = _load_pupil(session, actor, pupil_id)
    return {
        **_summary(pupil), "upn": pupil.upn, "legal_name": pupil.legal_name,
        "legal_forename": pupil.legal_forename, "legal_surname": pupil.legal_surname,
        "preferred_forename": pupil.preferred_forename, "preferred_surname": pupil.preferred_surname,
        "initials": pupil.initials, "date_of_birth": _iso(pupil.date_of_birth), "sex": pupil.sex,
        "on_roll": pupil.on_roll, "admission_date": _iso(pupil.admission_date),
        "leaving_date": _iso(pupil.leaving_date),
        "flags": {f: bool(getattr(pupil, f)) for f in FLAGS}, "sen_status": pupil.sen_status or "none",
        "siblings": list_siblings(session, actor, pupil.id),
    }


def list_siblings(session: Session, actor: Actor, pupil_id) -> list[dict]:
    """For "add siblings" on the incident form: any member of staff sees on-roll siblings; the DSL
    team also sees those who have left (with on_roll)."""
    pupil = _load_pupil(session, actor, pupil_id, on_roll_only=not actor.is_dsl)
    query = (select(Pupil).join(PupilLink, PupilLink.related_pupil_id == Pupil.id)
             .where(PupilLink.pupil_id == pupil.id, PupilLink.relationship == "sibling",
                    Pupil.school_id == actor.school_id))
    if not actor.is_dsl:
        query = query.where(Pupil.on_roll.is_(True))
    siblings = sorted(session.scalars(query), key=lambda p: (fold(p.name), p.id))
    return [{**_summary(p), "on_roll": p.on_roll} if actor.is_dsl else _summary(p) for p in siblings]


def _sibling_pair(session: Session, actor: Actor, pupil_id, other_id) -> tuple[Pupil, Pupil]:
    if not actor.is_dsl:
        raise Forbidden("Only the DSL team can change family links.")
    pupil = _load_pupil(session, actor, pupil_id)
    if not is_id(other_id):
        raise ValidationFailed.one("pupil_id", "Choose the sibling from the roll.")
    if other_id == pupil.id:
        raise ValidationFailed.one("pupil_id", "A pupil cannot be their own sibling; choose another pupil.")
    other = session.get(Pupil, other_id)
    if other is None or other.school_id != actor.school_id:
        raise ValidationFailed.one("pupil_id", "That pupil is not on this school's roll; choose the sibling "
                                               "from the list.")
    return pupil, other


def link_siblings(session: Session, actor: Actor, pupil_id, other_id) -> list[dict]:
    """Record that two pupils are siblings (both ways; linking twice changes nothing)."""
    pupil, other = _sibling_pair(session, actor, pupil_id, other_id)
    for a, b in ((pupil.id, other.id), (other.id, pupil.id)):
        link = session.get(PupilLink, (a, b))
        if link is None:
            session.add(PupilLink(pupil_id=a, related_pupil_id=b, relationship="sibling"))
        elif link.relationship != "sibling":
            link.relationship = "sibling"
    session.flush()
    return list_siblings(session, actor, pupil.id)


def unlink_siblings(session: Session, actor: Actor, pupil_id, other_id) -> list[dict]:
    pupil, other = _sibling_pair(session, actor, pupil_id, other_id)
    for a, b in ((pupil.id, other.id), (other.id, pupil.id)):
        link = session.get(PupilLink, (a, b))
        if link is not None:
            session.delete(link)
    session.flush()
    return list_siblings(session, actor, pupil.id)


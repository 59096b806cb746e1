"""A school MIS's CSV export of the roll: headings matched loosely, one row per pupil."""
from __future__ import annotations

import csv
import io
from datetime import date

from ..models import FLAGS
from .values import (EARLIEST_BIRTH, FALSE_WORDS, LABELS, MAX_ROWS, Problems, REQUIRED, Row, SEN_WORDS,
                    SEX_WORDS, TOO_LARGE, TRUE_WORDS, check_duplicates, check_required, file_problem,
                    parse_date, upn_problem, word_key, year_group)

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
    "early_help": ["earlyhelp", "earlyhelpplan"],
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
        f = COLUMN_FOR.get(word_key(heading))
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
            check_required(values, where, problems)
            rows.append(Row(where, values))
    except csv.Error as exc:
        problems.add(f"Line {reader.line_num}: the line cannot be read ({exc}); check its quotation marks.")
    check_duplicates(rows, problems)
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
        if word_key(raw) not in SEX_WORDS:
            problems.add(f"{where}: the sex '{raw}' is not one of M, F or X.")
        return SEX_WORDS.get(word_key(raw))
    if f == "sen_status":
        if word_key(raw) not in SEN_WORDS:
            problems.add(f"{where}: the SEN status '{raw}' is not one of N (no SEN), K (SEN support) "
                         "or E (EHC plan).")
        return SEN_WORDS.get(word_key(raw), "none")
    if f in FLAGS:
        word = raw.lower()
        if word not in TRUE_WORDS | FALSE_WORDS:
            problems.add(f"{where}: '{heading}' should be Y or N, not '{raw}'.")
        return word in TRUE_WORDS
    if f == "year_group":
        return year_group(raw) if raw else ""
    return raw or (None if f in ("preferred_forename", "preferred_surname", "form") else "")

"""Reading a roll file's values: UPNs and their check letter, dates, year groups, and the problems
found on the way (every one, with its line or element, up to MAX_PROBLEMS)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..exceptions import ValidationFailed
from .search import fold

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ROWS = 60_000
MAX_PROBLEMS = 20
TOO_LARGE = (f"The file is too large: Haven imports up to {MAX_FILE_BYTES // (1024 * 1024)} MB and "
             f"{MAX_ROWS:,} pupils at a time. Export one part of the roll at a time.")
EARLIEST_BIRTH = date(1990, 1, 1)

LABELS = {"upn": "UPN", "legal_surname": "legal surname", "legal_forename": "legal forename",
          "preferred_forename": "preferred forename", "preferred_surname": "preferred surname",
          "date_of_birth": "date of birth", "sex": "sex", "year_group": "year group", "form": "registration group",
          "admission_date": "admission date", "leaving_date": "leaving date", "cp_plan": "child protection plan",
          "child_in_need": "child in need", "looked_after": "looked after", "previously_looked_after":
          "previously looked after", "early_help": "early help", "sen_status": "SEN status", "eal": "EAL", "free_school_meals": "free school meals"}
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


def word_key(text: str) -> str:
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
    key = word_key(text)
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


def check_required(values: dict, where: str, problems: Problems) -> None:
    for f in ("legal_surname", "legal_forename", "year_group"):
        if f in values and not values[f]:
            problems.add(f"{where}: the {LABELS[f]} is missing.")
    for f, most in MAX_LENGTHS.items():
        if values.get(f) and len(values[f]) > most:
            problems.add(f"{where}: the {LABELS[f]} is longer than {most} characters.")


def check_duplicates(rows: list[Row], problems: Problems) -> None:
    first: dict[str, str] = {}
    for row in rows:
        upn = row.values["upn"]
        if upn and upn in first:
            earlier = first[upn].replace("Line", "line")
            problems.add(f"{row.where}: the UPN '{upn}' is also at {earlier}; each pupil can be in the file only once.")
        first.setdefault(upn, row.where)

"""Importing staff from the MIS's staff export (SIMS, Arbor, Bromcom…): a CSV with a header row.

Columns are matched by their headings, whatever their case and spacing ("Forename", "First name",
"Legal forename"; "Email", "E-mail address", "Work email"…). A preview says who is new, whose name or
job title would change and which lines cannot be used (by line number); the import itself is refused
whole while any line has a problem. People are matched by e-mail address, so importing again never
makes a second account. New staff get the "staff" role and a set-password link; roles and groups of
existing staff are left as they are.
"""
from __future__ import annotations

import csv
import io
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.contracts.base import name_problem
from services.common.errors import ValidationFailed

from .. import accounts
from ..models import StaffMember
from .staff import EMAIL

MAX_FILE_BYTES = 512 * 1024
MAX_ROWS = 3000
HEADINGS = {
    "title": {"title", "salutation"},
    "forename": {"forename", "first name", "firstname", "given name", "legal forename", "preferred forename",
                 "first names", "forenames"},
    "surname": {"surname", "last name", "lastname", "family name", "legal surname", "preferred surname"},
    "name": {"name", "full name", "staff name", "display name"},
    "email": {"email", "e-mail", "email address", "e-mail address", "work email", "school email",
              "work e-mail", "email (work)", "primary email"},
    "job_title": {"job title", "jobtitle", "role", "position", "post", "job", "staff role", "job role"},
}


def _heading(text: str) -> str:
    return re.sub(r"[\s_]+", " ", text.strip().lower())


def columns(header: list[str]) -> dict[str, int]:
    """Which column holds what (the first that matches wins)."""
    found: dict[str, int] = {}
    for index, text in enumerate(header):
        heading = _heading(text)
        for key, names in HEADINGS.items():
            if heading in names and key not in found:
                found[key] = index
    return found


def read_rows(content: bytes) -> tuple[dict[str, int], list[tuple[int, list[str]]]]:
    """(the columns, [(line number, cells)]) or ValidationFailed on `file` saying what is wrong with it."""
    if len(content) > MAX_FILE_BYTES:
        raise ValidationFailed.one("file", f"The file is too large: a staff list can be at most "
                                           f"{MAX_FILE_BYTES // 1024} KB. Export the staff only, as CSV.")
    if not content.strip():
        raise ValidationFailed.one("file", "The file is empty. Choose the staff list exported from the MIS as CSV.")
    if b"\x00" in content or content[:4] in (b"PK\x03\x04", b"\xd0\xcf\x11\xe0") or content[:5] == b"%PDF-":
        raise ValidationFailed.one("file", "This is not a CSV file (it looks like a spreadsheet or a document). "
                                           "In the MIS or in Excel, save the staff list as 'CSV UTF-8'.")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed.one("file", "The file is not in UTF-8. Save it again as 'CSV UTF-8 (comma delimited)' "
                                           "and choose that file.") from None
    try:
        lines = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        raise ValidationFailed.one("file", "The file could not be read as CSV (a quote is not closed). Export it "
                                           "from the MIS again.") from None
    if len(lines) - 1 > MAX_ROWS:
        raise ValidationFailed.one("file", f"The file has more than {MAX_ROWS} rows; import it in parts.")
    cols = columns(lines[0])
    missing = []
    if "email" not in cols:
        missing.append("Email")
    if "name" not in cols and not {"forename", "surname"} <= set(cols):
        missing.append("Forename and Surname (or Name)")
    if missing:
        raise ValidationFailed.one("file", "The file has no column for " + " or ".join(missing) + ". The first line "
                                           "must hold the headings, e.g. Title,Forename,Surname,Email,Job Title.")
    rows = [(number, cells) for number, cells in enumerate(lines[1:], start=2) if any(c.strip() for c in cells)]
    return cols, rows


def _cell(cells: list[str], cols: dict[str, int], key: str) -> str:
    index = cols.get(key)
    return cells[index].strip() if index is not None and index < len(cells) else ""


def person(cells: list[str], cols: dict[str, int]) -> tuple[dict, str | None]:
    """({name, email, job_title}, the line's problem or None)."""
    name = " ".join(p for p in (_cell(cells, cols, "forename"), _cell(cells, cols, "surname")) if p) \
        or _cell(cells, cols, "name")
    email = _cell(cells, cols, "email").lower()
    job_title = _cell(cells, cols, "job_title") or None
    found = {"name": name, "email": email, "job_title": job_title}
    if not name:
        return found, "no name"
    if not email:
        return found, "no e-mail address"
    if len(email) > 254 or not EMAIL.fullmatch(email):
        return found, "the e-mail address is not valid"
    if len(name) > 200 or (job_title and len(job_title) > 100):
        return found, "the name or job title is too long"
    if not all(accounts.storable(v) for v in (name, email, job_title or "")):
        return found, "it holds a character that cannot be stored"
    if name_problem(name):  # the name reaches e-mails
        return found, "the name holds a web or e-mail address, or a control character"
    return found, None


def plan(session: Session, school_id: int, content: bytes) -> dict:
    """What an import would do: {new, changed, unchanged, inactive, errors}; changes nothing."""
    cols, rows = read_rows(content)
    report = {"new": [], "changed": [], "unchanged": 0, "inactive": [], "errors": []}
    seen: dict[str, int] = {}
    emails = [person(cells, cols)[0]["email"] for _, cells in rows]
    existing = {u.email: u for u in session.scalars(select(StaffMember).where(StaffMember.email.in_(
        [e for e in emails if e and accounts.storable(e)])))}
    for number, cells in rows:
        found, problem = person(cells, cols)
        email = found["email"]
        if problem is None and email in seen:
            problem = f"the e-mail address is also on line {seen[email]}"
        if problem is None and email in existing and existing[email].school_id != school_id:
            problem = "the e-mail address cannot be used (it belongs to an account elsewhere)"
        if problem:
            report["errors"].append({"line": number, "message": f"Line {number}: {problem}."})
            continue
        seen[email] = number
        user = existing.get(email)
        if user is None:
            report["new"].append({"line": number, **found})
        elif not user.active:
            report["inactive"].append({"line": number, "id": user.id, **found})
        else:
            fields = [k for k in ("name", "job_title") if found[k] != getattr(user, k) and found[k] is not None]
            if fields:
                report["changed"].append({"line": number, "id": user.id, **found, "fields": fields})
            else:
                report["unchanged"] += 1
    return report


def apply(session: Session, school_id: int, report: dict) -> list[StaffMember]:
    """Carry out a plan with no errors; the new accounts (each to be sent a set-password link)."""
    if report["errors"]:
        raise ValidationFailed([{"field": "file", "message": e["message"]} for e in report["errors"]])
    for change in report["changed"]:
        user = session.get(StaffMember, change["id"])
        accounts.save_staff_member(session, school_id=school_id, name=change["name"], email=user.email,
                                   roles=list(user.roles or []), job_title=change["job_title"] or user.job_title,
                                   active=user.active)
    return [accounts.save_staff_member(session, school_id=school_id, name=p["name"], email=p["email"],
                                       roles=["staff"], job_title=p["job_title"]) for p in report["new"]]

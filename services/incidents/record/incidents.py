"""The incidents service's rules, in plain Python over a SQLAlchemy session (DESIGN rule 1)."""
from __future__ import annotations

import math
import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.actor import Actor
from services.common.contracts import incidents as incidents_contract
from services.common.contracts.incidents import ALERT_GROUPS
from services.common.db import utcnow
from services.common.events import add_to_outbox, make_event

from .. import schemas
from ..chronology.entries import add_entry
from . import bodymap
from ..exceptions import Forbidden, NotFound, ValidationFailed
from ..fields import CLOCK_SKEW, EARLIEST, is_id, parse_iso_utc
from ..models import (LINK_ROLES, MARK_TYPES, RECORD_TYPES, BodyMapMark, Category, Incident, IncidentAlert,
                     IncidentCategory, LinkedPupil, OutboxEvent, Pupil)
from ..policy import can_attach_to_incident, can_read_incident, may, sees_original
from ..schemas import RECORD_TYPE_LABELS

CLIENT_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,64}")
MAX_CATEGORIES = 3
MAX_ACCOUNT_CHARS = 50_000
MAX_LOCATION_CHARS = 200
MAX_CHILDS_WORDS_CHARS = 20_000
MAX_OTHERS_PRESENT_CHARS = 2_000
MAX_LINKED_PUPILS = 30
MAX_MARKS = 60
MAX_MARK_DETAIL_CHARS = 60  # colour, shape, size
MAX_MARK_DESCRIPTION_CHARS = 2_000


def list_categories(session: Session, actor: Actor) -> list[dict]:
    query = (select(Category).where(Category.school_id == actor.school_id, Category.active.is_(True))
             .order_by(Category.name))
    return [schemas.category(c) for c in session.scalars(query)]








def _int_list(value) -> list[int] | None:
    if value is None:
        return []
    if not isinstance(value, list) or not all(is_id(v) for v in value):
        return None
    return list(dict.fromkeys(value))


# --- one field at a time (shared with amendments, which must accept only what a record would) ---

class Invalid(Exception):
    """A field's value cannot be kept; the message says what to fix."""

    @property
    def message(self) -> str:
        return self.args[0]


def clean_occurred_at(value) -> datetime:
    try:
        when = parse_iso_utc(value)
    except (ValueError, TypeError, OverflowError):
        raise Invalid("Give the date and time it happened, e.g. 2026-03-01T09:30.") from None
    if when > utcnow() + CLOCK_SKEW:
        raise Invalid("The date and time cannot be in the future.")
    if when < EARLIEST:
        raise Invalid("That date is too far in the past; check the year.")
    return when


def clean_account(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("Write what you saw, heard or were told.")
    if len(value) > MAX_ACCOUNT_CHARS:
        raise Invalid(f"The account is longer than {MAX_ACCOUNT_CHARS:,} characters; attach long documents as files.")
    return value.strip()


def clean_record_type(value) -> str:
    if value not in RECORD_TYPES:
        raise Invalid("Choose what you are recording: " + "; ".join(RECORD_TYPE_LABELS.values()).lower() + ".")
    return value


def _optional_text(what: str, limit: int, hint: str = ""):
    def clean(value) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise Invalid(f"{what} must be text.")
        if len(value) > limit:
            raise Invalid(f"{what} is longer than {limit:,} characters.{hint}")
        return value.strip() or None
    return clean


clean_location = _optional_text("Where it happened", MAX_LOCATION_CHARS, " Keep it to the place, e.g. 'Year 4 cloakroom'.")
clean_childs_words = _optional_text("The child's words", MAX_CHILDS_WORDS_CHARS, " Attach long documents as files.")
clean_others_present = _optional_text("Who else was present", MAX_OTHERS_PRESENT_CHARS)

FIELD_CLEANERS = {"occurred_at": clean_occurred_at, "account": clean_account, "record_type": clean_record_type,
                  "location": clean_location, "childs_words": clean_childs_words,
                  "others_present": clean_others_present}


# --- linked pupils, the body map, the DSL told in person ----------------------------------------

ROLE_CHOICES = "victim, alleged perpetrator, witness, sibling or other"


def _linked_pupils(session: Session, actor: Actor, value, main_pupil_id, error) -> list[tuple[Pupil, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        error("linked_pupils", "Linked pupils must be a list of pupils, each with a role.")
        return []
    if len(value) > MAX_LINKED_PUPILS:
        error("linked_pupils", f"Link at most {MAX_LINKED_PUPILS} pupils to one record.")
        return []
    ids = [link.get("pupil_id") for link in value if isinstance(link, dict) and is_id(link.get("pupil_id"))]
    found = {p.id: p for p in session.scalars(select(Pupil).where(Pupil.id.in_(ids)))} if ids else {}
    links, seen = [], set()
    for n, link in enumerate(value):
        field = f"linked_pupils.{n}"
        if not isinstance(link, dict):
            error(field, "Each linked pupil needs a pupil and a role.")
            continue
        pid, role = link.get("pupil_id"), link.get("role")
        pupil = found.get(pid) if is_id(pid) else None
        if not is_id(pid):
            error(field, "Choose the linked pupil from the list.")
        elif pid == main_pupil_id:
            error(field, "This is the pupil the record is about; they cannot also be a linked pupil.")
        elif pid in seen:
            error(field, "This pupil is linked twice. Link each pupil once, with one role.")
        elif pupil is None or pupil.school_id != actor.school_id:
            error(field, "That pupil is not on this school's roll. Choose the pupil from the list.")
        elif not pupil.on_roll:
            error(field, "That pupil has left the roll; ask the DSL to record against their archived file.")
        if is_id(pid):
            seen.add(pid)
        if role not in LINK_ROLES:
            error(f"{field}.role", f"Choose this pupil's role: {ROLE_CHOICES}.")
        elif pupil is not None and pupil.school_id == actor.school_id:
            links.append((pupil, role))
    return links


def _fraction(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _body_map(value, error) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        error("body_map", "The body map must be a list of marks.")
        return []
    if len(value) > MAX_MARKS:
        error("body_map", f"A body map holds at most {MAX_MARKS} marks; describe the rest in the account.")
        return []
    marks = []
    for n, raw in enumerate(value):
        field = f"body_map.{n}"
        if not isinstance(raw, dict):
            error(field, "Each mark needs a side (front or back), a position and a type.")
            continue
        ok = True
        side = raw.get("side")
        if side not in bodymap.SIDES:
            error(f"{field}.side", "Say whether the mark is on the front or the back of the body.")
            ok = False
        x, y = _fraction(raw.get("x")), _fraction(raw.get("y"))
        for axis, number in (("x", x), ("y", y)):
            if number is None:
                error(f"{field}.{axis}", "The mark's position is missing. Place it on the body.")
                ok = False
        if ok and not bodymap.on_body(side, x, y):
            error(field, OUTSIDE_OUTLINE)
        if raw.get("mark_type") not in MARK_TYPES:
            error(f"{field}.mark_type", "Choose the type of mark: bruise, cut, burn, mark, swelling or other.")
            ok = False
        mark = {"side": side, "x": x, "y": y, "mark_type": raw.get("mark_type")}
        for key, what, limit in (("colour", "The colour", MAX_MARK_DETAIL_CHARS),
                                 ("shape", "The shape", MAX_MARK_DETAIL_CHARS),
                                 ("size", "The size", MAX_MARK_DETAIL_CHARS),
                                 ("description", "The description", MAX_MARK_DESCRIPTION_CHARS)):
            try:
                mark[key] = _optional_text(what, limit)(raw.get(key))
            except Invalid as exc:
                error(f"{field}.{key}", exc.message)
        marks.append(mark)
    return marks


OUTSIDE_OUTLINE = incidents_contract.OUTSIDE_OUTLINE


def _dsl_informed(data: dict, error) -> tuple[bool, int | None, str | None]:
    verbally = data.get("dsl_informed_verbally")
    if verbally is None:
        return False, None, None
    if not isinstance(verbally, bool):
        error("dsl_informed_verbally", "Say whether you told the DSL in person: true or false.")
        return False, None, None
    if not verbally:
        return False, None, None
    user_id, name = data.get("dsl_informed_user_id"), data.get("dsl_informed_name")
    if not is_id(user_id) or not isinstance(name, str) or not name.strip() or len(name) > 200:
        error("dsl_informed_user_id", "Choose the member of the DSL team you told.")
        return True, None, None
    return True, user_id, name.strip()


# --- full names of linked pupils in the text ------------------------------------------------------

TEXT_FIELDS = ("account", "childs_words", "others_present")


def _name_patterns(p: Pupil) -> list[re.Pattern]:
    forenames = {n for n in (p.legal_forename, p.preferred_forename) if n and n.strip()}
    surnames = {n for n in (p.legal_surname, p.preferred_surname) if n and n.strip()}
    patterns = []
    for fore in forenames:
        for sur in surnames:
            f = r"\s+".join(map(re.escape, fore.split()))
            s = r"\s+".join(map(re.escape, sur.split()))
            patterns.append(re.compile(rf"(?<!\w)(?:{f}\s+{s}|{s}\s*,\s*{f})(?!\w)", re.IGNORECASE))
    return patterns


def name_warnings(texts: dict, pupils: list[Pupil]) -> list[dict]:
    """Warn (never refuse) where a text names a linked pupil in full: staff refer to them by initials."""
    warnings = []
    for field in TEXT_FIELDS:
        text = texts.get(field)
        if not isinstance(text, str) or not text:
            continue
        for p in pupils:
            if any(pattern.search(text) for pattern in _name_patterns(p)):
                warnings.append({"field": field, "pupil_id": p.id,
                                 "message": "This names a linked pupil in full; refer to linked pupils by their "
                                            f"initials (e.g. {schemas.initials(p)})"})
    return warnings


def check_incident_text(session: Session, actor: Actor, texts) -> dict:
    """What the form asks before saving: does any text name a linked pupil in full?"""
    texts = texts if isinstance(texts, dict) else {}
    links = texts.get("linked_pupils") or []
    ids = []
    if isinstance(links, list):
        for link in links[:MAX_LINKED_PUPILS]:
            pid = link.get("pupil_id") if isinstance(link, dict) else link
            if is_id(pid):
                ids.append(pid)
    pupils = session.scalars(select(Pupil).where(Pupil.id.in_(ids), Pupil.school_id == actor.school_id)
                             .order_by(Pupil.id)).all() if ids else []
    return {"warnings": name_warnings(texts, list(pupils))}


# --- recording --------------------------------------------------------------------------------

def chronology_title(record_type: str, categories) -> str:
    """"Disclosure — Safeguarding, Bullying": what and which categories, never the account."""
    label = schemas.RECORD_TYPE_TITLES.get(record_type, "Incident")
    names = ", ".join(c.name for c in categories)
    return f"{label} — {names}" if names else label


def record_incident(session: Session, actor: Actor, data: dict) -> dict:
    """Validate everything first, then write the incident, its links, marks, chronology lines and
    event in one transaction: on any error nothing is written."""
    errors: list[dict] = []

    def error(field, message):
        errors.append({"field": field, "message": message})

    def clean(field, default=None):
        value = data.get(field)
        try:
            return FIELD_CLEANERS[field](default if value in (None, "") and default is not None else value)
        except Invalid as exc:
            error(field, exc.message)
            return None

    data = data if isinstance(data, dict) else {}
    client_token = data.get("client_token")
    if client_token is not None:
        if not isinstance(client_token, str) or not CLIENT_TOKEN.fullmatch(client_token):
            raise ValidationFailed.one("client_token", "The submission token must be 8–64 letters, digits, "
                                                       "'-' or '_'. Reload the form and try again.")
        already = session.scalar(select(Incident).where(Incident.school_id == actor.school_id,
                                                        Incident.recorded_by == actor.user_id,
                                                        Incident.client_token == client_token))
        if already is not None:
            # The same submission again (a double click, a retry after a time-out): never record it twice.
            return {**schemas.incident(already, show_original=sees_original(actor), warnings=[], may=may(actor, already)),
                    "replayed": True}
    pupil = None
    pupil_id = data.get("pupil_id")
    if not is_id(pupil_id):
        error("pupil_id", "Choose the pupil this concern is about.")
    else:
        pupil = session.get(Pupil, pupil_id)
        if pupil is None or pupil.school_id != actor.school_id:
            error("pupil_id", "That pupil is not on this school's roll. Choose the pupil from the list.")
        elif not pupil.on_roll:
            error("pupil_id", "That pupil has left the roll; ask the DSL to record against their archived file.")

    occurred_at = clean("occurred_at")
    record_type = clean("record_type", default="observation")
    location = clean("location")
    account = clean("account")
    childs_words = clean("childs_words")
    others_present = clean("others_present")

    categories: list[Category] = []
    category_ids = _int_list(data.get("category_ids"))
    if category_ids is None:
        error("category_ids", "Categories must be a list of category ids.")
    elif not category_ids:
        error("category_ids", "Choose at least one category.")
    elif len(category_ids) > MAX_CATEGORIES:
        error("category_ids", f"Choose at most {MAX_CATEGORIES} categories.")
    else:
        found = session.scalars(select(Category).where(Category.id.in_(category_ids),
                                                       Category.school_id == actor.school_id,
                                                       Category.active.is_(True))).all()
        if len(found) != len(category_ids):
            error("category_ids", "One of the chosen categories does not exist or is no longer in use.")
        categories = sorted(found, key=lambda c: category_ids.index(c.id))

    links = _linked_pupils(session, actor, data.get("linked_pupils"), pupil_id, error)
    marks = _body_map(data.get("body_map"), error)

    alert_user_ids = _int_list(data.get("alert_user_ids"))
    if alert_user_ids is None:
        error("alert_user_ids", "Staff to alert must be a list of staff ids.")
        alert_user_ids = []
    groups = data.get("alert_groups") or []
    if not isinstance(groups, list) or any(g not in ALERT_GROUPS for g in groups):
        error("alert_groups", f"Alert groups must be chosen from: {', '.join(ALERT_GROUPS)}.")
        groups = []

    urgent = data.get("urgent", False)
    if not isinstance(urgent, bool):
        error("urgent", "Urgent must be true or false.")

    dsl_verbally, dsl_user_id, dsl_name = _dsl_informed(data, error)

    if errors:
        raise ValidationFailed(errors)

    # A category's default recipients are always alerted (Safeguarding → the DSL team), so a
    # hurried recorder cannot leave the DSL out of a safeguarding concern.
    groups = list(dict.fromkeys([*groups, *(g for c in categories for g in c.default_alert_groups)]))

    incident = Incident(school_id=actor.school_id, pupil_id=pupil.id, occurred_at=occurred_at,
                        recorded_by=actor.user_id, recorded_by_name=actor.name,
                        recorded_by_role=(actor.job_title or None), account=account, urgent=urgent,
                        record_type=record_type, location=location, childs_words=childs_words,
                        others_present=others_present, dsl_informed_verbally=dsl_verbally,
                        dsl_informed_user_id=dsl_user_id, dsl_informed_name=dsl_name,
                        client_token=client_token)
    session.add(incident)
    session.flush()
    for c in categories:
        session.add(IncidentCategory(incident_id=incident.id, category_id=c.id))
    for uid in alert_user_ids:
        session.add(IncidentAlert(incident_id=incident.id, user_id=uid))
    for g in groups:
        session.add(IncidentAlert(incident_id=incident.id, group=g))
    for linked, role in links:
        session.add(LinkedPupil(incident_id=incident.id, pupil_id=linked.id, role=role))
    for mark in marks:
        session.add(BodyMapMark(incident_id=incident.id, **mark))

    title = chronology_title(record_type, categories)
    common = {"school_id": actor.school_id, "entry_type": "incident", "ref_id": incident.id,
              "incident_id": incident.id, "occurred_at": occurred_at, "title": title,
              "category_ids": [c.id for c in categories], "sensitivities": [c.sensitivity for c in categories]}
    add_entry(session, pupil_id=pupil.id, role=None, **common)
    for linked, role in links:
        add_entry(session, pupil_id=linked.id, role=role, **common)

    add_to_outbox(session, OutboxEvent, make_event(
        "incident_recorded", actor.school_id, incident_id=incident.id, pupil_id=pupil.id,
        recorded_by=actor.user_id, category_ids=[c.id for c in categories],
        category_names=[c.name for c in categories], urgent=urgent,
        alert_user_ids=alert_user_ids, alert_groups=groups,
        linked_pupil_ids=[linked.id for linked, _ in links]))
    session.flush()
    session.refresh(incident)
    warnings = name_warnings({"account": account, "childs_words": childs_words, "others_present": others_present},
                             [linked for linked, _ in links])
    return schemas.incident(incident, show_original=sees_original(actor), warnings=warnings, may=may(actor, incident))


def _load_incident(session: Session, actor: Actor, incident_id) -> Incident:
    incident = session.get(Incident, incident_id) if is_id(incident_id) else None
    if incident is None or incident.school_id != actor.school_id:
        raise NotFound("No such incident.")
    return incident


def readable_incident(session: Session, actor: Actor, incident_id) -> Incident:
    incident = _load_incident(session, actor, incident_id)
    if not can_read_incident(actor, incident):
        raise Forbidden("You do not have permission to read this incident.")
    return incident


def get_incident(session: Session, actor: Actor, incident_id: int) -> dict:
    """The DSL team sees the record as first written beside its corrections; others see it as corrected."""
    incident = readable_incident(session, actor, incident_id)
    return schemas.incident(incident, show_original=sees_original(actor), may=may(actor, incident))


def body_map_svg(session: Session, actor: Actor, incident_id: int, side: str | None = None) -> str:
    incident = readable_incident(session, actor, incident_id)
    if side is not None and side not in bodymap.SIDES:
        raise ValidationFailed.one("side", "Choose front or back, or leave it out for both.")
    return bodymap.render_svg([schemas.mark(m) for m in incident.marks], side)


def check_incident_access(session: Session, actor: Actor, incident_id: int, purpose: str) -> dict:
    """For other services (documents): may this actor read, or attach to, this incident?"""
    checks = {"read": can_read_incident, "attach": can_attach_to_incident}
    if purpose not in checks:
        raise ValidationFailed.one("purpose", f"Unknown purpose {purpose!r}; use one of: {', '.join(checks)}.")
    incident = _load_incident(session, actor, incident_id)
    if not checks[purpose](actor, incident):
        raise Forbidden("You do not have permission to do that to this incident.")
    return {"incident_id": incident.id, "pupil_id": incident.pupil_id, "school_id": incident.school_id}


def record(session: Session, actor: Actor, incident: dict) -> dict:
    """incidents.record_incident: the new record arrives as `incident`."""
    return record_incident(session, actor, incident)


def body_map_outline(session: Session) -> dict:
    return bodymap.outline()

"""A pupil's chronology: one row per thing that happened, written with the record it points at.

Writers call `add_entry` in the same transaction as the record (incident, action, decision…), once
for each pupil whose chronology it belongs in. Readers query the table (see `read_chronology`).
"""
from __future__ import annotations

import base64
import gzip
import json
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import Text, cast, literal_column, select
from sqlalchemy.orm import Session

from services.common.actor import Actor
from services.common.db import utcnow

from ..exceptions import Forbidden, NotFound
from ..fields import Errors
from ..models import ENTRY_TYPES, Category, ChronologyEntry, Pupil
from ..policy import can_read_sensitivities, is_dsl_team, may_read_chronology, require_dsl_team


def add_entry(session: Session, *, school_id: int, pupil_id: int, entry_type: str, ref_id, occurred_at: datetime,
              title: str, incident_id: int | None = None, category_ids: list[int] | None = None,
              sensitivities: list[str] | None = None, role: str | None = None) -> ChronologyEntry:
    """`title` is a short factual line shown in the list ("Incident recorded — Safeguarding"); the
    record itself holds the detail. `sensitivities` are those of the categories involved and decide
    who may see the entry (policy.can_read_sensitivities)."""
    if entry_type not in ENTRY_TYPES:
        raise ValueError(f"unknown chronology entry type {entry_type!r}")
    entry = ChronologyEntry(school_id=school_id, pupil_id=pupil_id, entry_type=entry_type, ref_id=str(ref_id),
                            incident_id=incident_id, occurred_at=occurred_at, title=title[:300],
                            category_ids=list(category_ids or []), sensitivities=sorted(set(sensitivities or [])),
                            role=role)
    session.add(entry)
    return entry


# --- reading ---------------------------------------------------------------------------------------------
#
# A chronology may hold thousands of lines, so the read is lean: the filters and who may see what are
# turned into one indexed query (ix_chronology_pupil_when); on PostgreSQL the database itself writes
# the JSON (pg8000, being pure Python, spends most of a plain read parsing timestamps and JSON columns).

OCCURRED_AT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # to the second, in UTC (as _PG_ENTRIES writes it too)




def _bound(value, field: str, error: Errors, *, end: bool) -> tuple[datetime, bool] | None:
    """A date (the whole day) or a date and time. Returns (instant, inclusive)."""
    if value is None or not value.strip():
        return None
    raw = value.strip()
    try:
        if len(raw) == 10:
            start = datetime.combine(date.fromisoformat(raw), datetime.min.time())
            return (start + timedelta(days=1), False) if end else (start, True)
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        error(field, "Give a date, e.g. 2026-03-01 (or a date and time, e.g. 2026-03-01T09:30).")
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed, True


def _category_and_children(session: Session, actor: Actor, category_id) -> set[int]:
    """A category and everything under it in the school's tree (Safeguarding includes Neglect)."""
    rows = session.execute(select(Category.id, Category.parent_id).where(Category.school_id == actor.school_id)).all()
    children: dict[int | None, list[int]] = {}
    for cid, parent in rows:
        children.setdefault(parent, []).append(cid)
    if category_id not in {cid for cid, _ in rows}:
        return set()
    found, todo = set(), [category_id]
    while todo:
        cid = todo.pop()
        if cid not in found:
            found.add(cid)
            todo.extend(children.get(cid, []))
    return found


def _plan(session: Session, actor: Actor, pupil_id, *, category_id=None, date_from=None, date_to=None,
          entry_type=None, significant=None) -> tuple[dict, list]:
    """Check the reader and the filters (every error at once); the pupil and the query's conditions."""
    if not may_read_chronology(actor):
        raise Forbidden("Only the DSL team and senior leaders can read a pupil's chronology.")
    error = Errors()
    start = _bound(date_from, "from", error, end=False)
    end = _bound(date_to, "to", error, end=True)
    if start and end and (start[0] > end[0] or (start[0] == end[0] and not end[1])):
        error("to", "The end date is before the start date. Check the dates.")
    types: list[str] = []
    if entry_type not in (None, ""):
        types = [t.strip() for t in str(entry_type).split(",") if t.strip()]
        if not types or any(t not in ENTRY_TYPES for t in types):
            error("type", "Choose what to show: " + ", ".join(ENTRY_TYPES) + ".")
    wanted: set[int] | None = None
    if category_id is not None:
        wanted = _category_and_children(session, actor, category_id)
        if not wanted:
            error("category_id", "That category does not exist. Choose one of the school's categories.")
    error.raise_if_any()

    pupil = session.execute(select(Pupil.id, Pupil.legal_forename, Pupil.legal_surname, Pupil.preferred_forename,
                                   Pupil.preferred_surname, Pupil.year_group, Pupil.form, Pupil.upn, Pupil.on_roll)
                            .where(Pupil.id == pupil_id, Pupil.school_id == actor.school_id)).first()
    if pupil is None:
        raise NotFound("No such pupil on this school's roll.")
    forename, surname = pupil.preferred_forename or pupil.legal_forename, pupil.preferred_surname or pupil.legal_surname
    about = {"id": pupil.id, "name": f"{forename} {surname}", "year_group": pupil.year_group, "form": pupil.form,
             "upn": pupil.upn, "on_roll": pupil.on_roll}

    where = [ChronologyEntry.pupil_id == pupil.id, ChronologyEntry.school_id == actor.school_id]
    every_line = is_dsl_team(actor)
    if not every_line or wanted is not None:
        # A pupil's lines share a handful of sensitivity and category sets: ask the policy (and the
        # category filter) once for each distinct set, then let the query keep the lines in those.
        sens_text, cats_text = cast(ChronologyEntry.sensitivities, Text), cast(ChronologyEntry.category_ids, Text)
        sets = session.execute(select(sens_text, cats_text).where(*where).distinct()).all()
        readable = {s for s, _ in sets if can_read_sensitivities(actor, json.loads(s or "[]"))}
        if not every_line:
            where.append(sens_text.in_(sorted(readable)))
        if wanted is not None:
            where.append(cats_text.in_(sorted({c for _, c in sets if not wanted.isdisjoint(json.loads(c or "[]"))})))
    if start:
        where.append(ChronologyEntry.occurred_at >= start[0])
    if end:
        where.append(ChronologyEntry.occurred_at <= end[0] if end[1] else ChronologyEntry.occurred_at < end[0])
    if types:
        where.append(ChronologyEntry.entry_type.in_(types))
    if significant is not None:
        where.append(ChronologyEntry.significant.is_(significant))
    return about, where


def _entries(session: Session, where: list) -> list[dict]:
    """The lines as dicts, built here (any database)."""
    rows = session.execute(select(ChronologyEntry.id, ChronologyEntry.entry_type, ChronologyEntry.occurred_at,
                                  ChronologyEntry.title, ChronologyEntry.incident_id, ChronologyEntry.ref_id,
                                  ChronologyEntry.category_ids, ChronologyEntry.role, ChronologyEntry.significant)
                           .where(*where).order_by(ChronologyEntry.occurred_at, ChronologyEntry.id)).all()
    return [{"id": eid, "entry_type": kind, "occurred_at": occurred_at.strftime(OCCURRED_AT_FORMAT), "title": title,
             "incident_id": incident_id, "ref_id": ref_id, "category_ids": category_ids or [], "role": role,
             "significant": flagged}
            for eid, kind, occurred_at, title, incident_id, ref_id, category_ids, role, flagged in rows]


# The same lines as one JSON array, written by PostgreSQL: each row's `line` (see `_write_line`)
# after its id, or — for a row whose line was never written — the line built from its columns
# (the same text; concat() and to_json() are several times quicker than json_build_object()).
_PG_ENTRIES = literal_column("""'[' || coalesce(string_agg('{"id":' || chronology.id::text || ',' || coalesce(
    chronology.line, concat(
    '"entry_type":', to_json(chronology.entry_type),
    ',"occurred_at":"', to_char(chronology.occurred_at, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    '","title":', to_json(chronology.title),
    ',"incident_id":', coalesce(chronology.incident_id::text, 'null'),
    ',"ref_id":', to_json(chronology.ref_id),
    ',"category_ids":', coalesce(chronology.category_ids::text, '[]'),
    ',"role":', coalesce(to_json(chronology.role)::text, 'null'),
    ',"significant":', CASE WHEN chronology.significant THEN 'true' ELSE 'false' END,
    '}')), ',' ORDER BY chronology.occurred_at, chronology.id), '') || ']'""")


def encode_line(entry: ChronologyEntry) -> str:
    """A line as the API sends it, as JSON without its opening brace and id (those come from the row)."""
    return json.dumps({"entry_type": entry.entry_type, "occurred_at": entry.occurred_at.strftime(OCCURRED_AT_FORMAT),
                       "title": entry.title, "incident_id": entry.incident_id, "ref_id": entry.ref_id,
                       "category_ids": list(entry.category_ids or []), "role": entry.role,
                       "significant": bool(entry.significant)}, ensure_ascii=False, separators=(",", ":"))[1:]


def write_lines(session: Session, _flush_context, _instances) -> None:
    """before_flush, registered per session factory by hooks.register: whoever saves a line through
    the ORM (add_entry, the significant flag, an amendment refiling it) saves its JSON with it, so the
    stored line never disagrees with the columns."""
    for entry in (*session.new, *session.dirty):
        if isinstance(entry, ChronologyEntry):
            entry.line = encode_line(entry)


def _entries_json(session: Session, where: list) -> str:
    return session.execute(select(_PG_ENTRIES).select_from(ChronologyEntry).where(*where)).scalar_one()


def _on_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def read_chronology(session: Session, actor: Actor, pupil_id, **filters) -> dict:
    """A pupil's chronology in the order things happened (then in the order they were written):
    {"pupil": {...}, "entries": [{id, entry_type, occurred_at, title, incident_id, ref_id,
    category_ids, role, significant}]}.

    Filters: `category_id` (with its sub-categories), `date_from`/`date_to` (dates are whole days,
    UTC), `entry_type` (one of ENTRY_TYPES, or several separated by commas), `significant`."""
    about, where = _plan(session, actor, pupil_id, **filters)
    if _on_postgresql(session):  # decoding the database's JSON beats pg8000 converting every row
        return {"pupil": about, "entries": json.loads(_entries_json(session, where))}
    return {"pupil": about, "entries": _entries(session, where)}


def read_chronology_json(session: Session, actor: Actor, pupil_id, **filters) -> str:
    """The same as `read_chronology`, already encoded as JSON text (for the HTTP API, which passes it on)."""
    about, where = _plan(session, actor, pupil_id, **filters)
    entries = (_entries_json(session, where) if _on_postgresql(session)
               else json.dumps(_entries(session, where), ensure_ascii=False, separators=(",", ":")))
    return '{"pupil":' + json.dumps(about, ensure_ascii=False, separators=(",", ":")) + ',"entries":' + entries + "}"


# --- the significant-event flag (the DSL team) -----------------------------------------------------------

def set_significant(session: Session, actor: Actor, entry_id: int, significant: bool) -> dict:
    """Flag a line as a significant event, or unflag it. The flag is about the chronology, not the
    record it points at; who set it last, and when, is kept beside it."""
    require_dsl_team(actor, "mark significant events")
    entry = session.get(ChronologyEntry, entry_id)
    if entry is None or entry.school_id != actor.school_id:
        raise NotFound("No such chronology entry.")
    entry.significant, entry.significant_set_by, entry.significant_set_at = significant, actor.name, utcnow()
    session.flush()
    return {"id": entry.id, "pupil_id": entry.pupil_id, "entry_type": entry.entry_type,
            "occurred_at": entry.occurred_at.strftime(OCCURRED_AT_FORMAT), "title": entry.title,
            "incident_id": entry.incident_id, "ref_id": entry.ref_id, "category_ids": list(entry.category_ids or []),
            "role": entry.role, "significant": entry.significant, "significant_set_by": entry.significant_set_by,
            "significant_set_at": entry.significant_set_at.isoformat() + "Z"}


def get_chronology(session: Session, actor: Actor, pupil_id: int, category_id=None, date_from=None, date_to=None,
                   entry_type=None, significant=None) -> dict:
    return read_chronology(session, actor, pupil_id, category_id=category_id, date_from=date_from,
                           date_to=date_to, entry_type=entry_type, significant=significant)


def get_chronology_gzip(session: Session, actor: Actor, pupil_id: int, category_id=None, date_from=None,
                        date_to=None, entry_type=None, significant=None) -> dict:
    """The same as JSON, gzipped (base64 on the wire): a chronology of thousands of lines is about a
    megabyte of JSON and a tenth of that gzipped, smaller on the bus and for the browser; the
    gateway passes the body on as it is."""
    body = read_chronology_json(session, actor, pupil_id, category_id=category_id, date_from=date_from,
                                date_to=date_to, entry_type=entry_type, significant=significant)
    return {"gzip_b64": base64.b64encode(gzip.compress(body.encode(), compresslevel=1, mtime=0)).decode()}

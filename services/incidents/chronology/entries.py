"""A pupil's chronology: one row per thing that happened, written with the record it points at.

Writers call `add_entry` in the same transaction as the record (incident, action, decision…), once
for each pupil whose chronology it belongs in. Readers query the table (see `read_chronology`).
"""
from __future__ import annotations

import base64
import gzip
import json
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import Text, and_, cast, func, literal_column, or_, select
from sqlalchemy.orm import Session

from services.common.actor import Actor
from services.common.db import utcnow

from . import details
from ..exceptions import Forbidden, NotFound
from ..fields import Errors
from ..models import ENTRY_TYPES, Category, ChronologyEntry, Pupil, StaffRelative
from ..policy import (excluded_pupil_ids, hidden_incident_ids, is_dsl_team, line_access, may_read_chronology,
                      require_dsl_team)


def add_entry(session: Session, *, school_id: int, pupil_id: int, entry_type: str, ref_id, occurred_at: datetime,
              title: str, incident_id: int | None = None, category_ids: list[int] | None = None,
              sensitivities: list[str] | None = None, role: str | None = None, excerpt: str | None = None,
              recorded_by_name: str | None = None) -> ChronologyEntry:
    """`title` is a short factual line shown in the list ("Incident recorded — Safeguarding"); the
    record itself holds the detail. `category_ids` decide who may see the entry, by the categories'
    sensitivities when it is read (`visible_lines`); `sensitivities` keeps a copy of those at the
    time of writing, for the record only. `excerpt` and `recorded_by_name`: an incident's own line's
    details for the DSL team (details.py)."""
    if entry_type not in ENTRY_TYPES:
        raise ValueError(f"unknown chronology entry type {entry_type!r}")
    entry = ChronologyEntry(school_id=school_id, pupil_id=pupil_id, entry_type=entry_type, ref_id=str(ref_id),
                            incident_id=incident_id, occurred_at=occurred_at, title=title[:300],
                            category_ids=list(category_ids or []), sensitivities=sorted(set(sensitivities or [])),
                            role=role, excerpt=excerpt, recorded_by_name=recorded_by_name)
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


# Lines about a case are the DSL team's (cases are safeguarding work: a step-up), whatever their categories.
CASE_ENTRY = "case"


def visible_lines(session: Session, actor: Actor, where: list, year_group: str | None) -> tuple[list, object]:
    """Who sees which of the lines `where` selects (one pupil's), by their categories' CURRENT
    sensitivities — a category made stricter applies at once to lines already written — then by
    restriction and self-exclusion. Returns (conditions for the lines this reader reads, a condition
    for the lines they would read after a step-up, or None).

    A pupil's lines share a handful of category sets: the policy is asked once per distinct set
    (one small query for the school's categories, one for the sets), and the query keeps the rest."""
    hidden = or_(ChronologyEntry.incident_id.is_(None), ChronologyEntry.incident_id.not_in(hidden_incident_ids(actor)))
    dsl = is_dsl_team(actor)
    if dsl and actor.stepped_up():
        return [hidden], None  # the DSL team reads every category; only self-exclusion hides lines
    sensitivity = dict(session.execute(select(Category.id, Category.sensitivity)
                                       .where(Category.school_id == actor.school_id)).all())
    cats_text = cast(ChronologyEntry.category_ids, Text)
    readable, later = [], []
    for text in session.scalars(select(cats_text).where(*where).distinct()):
        pairs = [(cid, sensitivity.get(cid)) for cid in json.loads(text or "[]")]
        access = line_access(actor, pairs, year_group)
        if access == "read":
            readable.append(text)
        elif access == "step_up":
            later.append(text)
    not_case, is_case = ChronologyEntry.entry_type != CASE_ENTRY, ChronologyEntry.entry_type == CASE_ENTRY
    conditions = [hidden, not_case, cats_text.in_(readable)]
    later_lines = [and_(not_case, cats_text.in_(later))] if later else []
    if dsl:  # not stepped up: a case's lines wait for the step-up too
        later_lines.append(is_case)
    return conditions, (and_(hidden, or_(*later_lines)) if later_lines else None)


def _pupil_for(session: Session, actor: Actor, pupil_id):
    """The pupil's row, or 404: another school's, and one whose parent or carer the reader is."""
    pupil = session.execute(select(Pupil.id, Pupil.legal_forename, Pupil.legal_surname, Pupil.preferred_forename,
                                   Pupil.preferred_surname, Pupil.year_group, Pupil.form, Pupil.upn, Pupil.on_roll)
                            .where(Pupil.id == pupil_id, Pupil.school_id == actor.school_id,
                                   Pupil.id.not_in(excluded_pupil_ids(actor)))).first()
    if pupil is None:
        raise NotFound("No such pupil on this school's roll.")
    return pupil


def _plan(session: Session, actor: Actor, pupil_id, *, category_id=None, date_from=None, date_to=None,
          entry_type=None, significant=None) -> tuple[dict, list, int]:
    """Check the reader and the filters (every error at once); the pupil, the query's conditions and
    how many lines are hidden until the reader gives their second factor again (step-up)."""
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

    pupil = _pupil_for(session, actor, pupil_id)
    forename, surname = pupil.preferred_forename or pupil.legal_forename, pupil.preferred_surname or pupil.legal_surname
    about = {"id": pupil.id, "name": f"{forename} {surname}", "year_group": pupil.year_group, "form": pupil.form,
             "upn": pupil.upn, "on_roll": pupil.on_roll}

    where = [ChronologyEntry.pupil_id == pupil.id, ChronologyEntry.school_id == actor.school_id]
    if wanted is not None:
        cats_text = cast(ChronologyEntry.category_ids, Text)
        sets = session.scalars(select(cats_text).where(*where).distinct()).all()
        where.append(cats_text.in_(sorted({c for c in sets if not wanted.isdisjoint(json.loads(c or "[]"))})))
    if start:
        where.append(ChronologyEntry.occurred_at >= start[0])
    if end:
        where.append(ChronologyEntry.occurred_at <= end[0] if end[1] else ChronologyEntry.occurred_at < end[0])
    if types:
        where.append(ChronologyEntry.entry_type.in_(types))
    if significant is not None:
        where.append(ChronologyEntry.significant.is_(significant))
    readable, later = visible_lines(session, actor, where, pupil.year_group)
    hidden = 0 if later is None else session.scalar(select(func.count()).select_from(ChronologyEntry)
                                                     .where(*where, later))
    return about, [*where, *readable], hidden


def _entries(session: Session, where: list, *, dsl: bool) -> list[dict]:
    """The lines as dicts, built here (any database); the DSL team's with their details."""
    rows = session.execute(select(ChronologyEntry.id, ChronologyEntry.entry_type, ChronologyEntry.occurred_at,
                                  ChronologyEntry.title, ChronologyEntry.incident_id, ChronologyEntry.ref_id,
                                  ChronologyEntry.category_ids, ChronologyEntry.role, ChronologyEntry.significant,
                                  ChronologyEntry.excerpt, ChronologyEntry.recorded_by_name, ChronologyEntry.outcome)
                           .where(*where).order_by(ChronologyEntry.occurred_at, ChronologyEntry.id)).all()
    return [{"id": eid, "entry_type": kind, "occurred_at": occurred_at.strftime(OCCURRED_AT_FORMAT), "title": title,
             "incident_id": incident_id, "ref_id": ref_id, "category_ids": category_ids or [], "role": role,
             "significant": flagged, **({"excerpt": excerpt, "recorded_by": recorded_by, "outcome": outcome}
                                        if dsl else details.NO_DETAILS)}
            for (eid, kind, occurred_at, title, incident_id, ref_id, category_ids, role, flagged, excerpt, recorded_by,
                 outcome) in rows]


# The same lines as one JSON array, written by PostgreSQL: each row's id and the DSL team's details
# (details.py; null for anyone else), then its `line` (see `write_lines`) or — for a row whose line was
# never written — the line built from its columns (the same text; concat() and to_json() are several
# times quicker than json_build_object()).
_PG_LINE = """coalesce(
    chronology.line, concat(
    '"entry_type":', to_json(chronology.entry_type),
    ',"occurred_at":"', to_char(chronology.occurred_at, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    '","title":', to_json(chronology.title),
    ',"incident_id":', coalesce(chronology.incident_id::text, 'null'),
    ',"ref_id":', to_json(chronology.ref_id),
    ',"category_ids":', coalesce(chronology.category_ids::text, '[]'),
    ',"role":', coalesce(to_json(chronology.role)::text, 'null'),
    ',"significant":', CASE WHEN chronology.significant THEN 'true' ELSE 'false' END,
    '}'))"""


def _pg_entries(head: str):
    return literal_column(f"""'[' || coalesce(string_agg({head} || {_PG_LINE}, ','
        ORDER BY chronology.occurred_at, chronology.id), '') || ']'""")


_PG_ENTRIES = _pg_entries("""'{"id":' || chronology.id::text || ',"excerpt":null,"recorded_by":null,"outcome":null,'""")
_PG_DSL_ENTRIES = _pg_entries("""'{"id":' || chronology.id::text
    || ',"excerpt":' || coalesce(to_json(chronology.excerpt)::text, 'null')
    || ',"recorded_by":' || coalesce(to_json(chronology.recorded_by_name)::text, 'null')
    || ',"outcome":' || coalesce(to_json(chronology.outcome)::text, 'null') || ','""")


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


def _entries_json(session: Session, where: list, *, dsl: bool) -> str:
    lines = _PG_DSL_ENTRIES if dsl else _PG_ENTRIES
    return session.execute(select(lines).select_from(ChronologyEntry).where(*where)).scalar_one()


def _on_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def read_chronology(session: Session, actor: Actor, pupil_id, **filters) -> dict:
    """A pupil's chronology in the order things happened (then in the order they were written):
    {"pupil": {...}, "entries": [{id, entry_type, occurred_at, title, incident_id, ref_id,
    category_ids, role, significant, excerpt, recorded_by, outcome}], "hidden_needing_step_up": n}: n
    lines (safeguarding ones) this reader reads once they give their second factor again. The last
    three are the DSL team's (details.py), null for everyone else.

    Filters: `category_id` (with its sub-categories), `date_from`/`date_to` (dates are whole days,
    UTC), `entry_type` (one of ENTRY_TYPES, or several separated by commas), `significant`."""
    about, where, hidden = _plan(session, actor, pupil_id, **filters)
    dsl = is_dsl_team(actor)
    if _on_postgresql(session):  # decoding the database's JSON beats pg8000 converting every row
        return {"pupil": about, "entries": json.loads(_entries_json(session, where, dsl=dsl)),
                "hidden_needing_step_up": hidden}
    return {"pupil": about, "entries": _entries(session, where, dsl=dsl), "hidden_needing_step_up": hidden}


def read_chronology_json(session: Session, actor: Actor, pupil_id, **filters) -> str:
    """The same as `read_chronology`, already encoded as JSON text (for the HTTP API, which passes it on)."""
    about, where, hidden = _plan(session, actor, pupil_id, **filters)
    dsl = is_dsl_team(actor)
    entries = (_entries_json(session, where, dsl=dsl) if _on_postgresql(session)
               else json.dumps(_entries(session, where, dsl=dsl), ensure_ascii=False, separators=(",", ":")))
    return ('{"pupil":' + json.dumps(about, ensure_ascii=False, separators=(",", ":")) + ',"entries":' + entries
            + f',"hidden_needing_step_up":{int(hidden)}}}')


# --- the significant-event flag (the DSL team) -----------------------------------------------------------

def set_significant(session: Session, actor: Actor, entry_id: int, significant: bool) -> dict:
    """Flag a line as a significant event, or unflag it. The flag is about the chronology, not the
    record it points at; who set it last, and when, is kept beside it."""
    require_dsl_team(actor, "mark significant events")
    entry = session.get(ChronologyEntry, entry_id)
    if entry is None or entry.school_id != actor.school_id or not _line_exists_for(session, actor, entry):
        raise NotFound("No such chronology entry.")
    entry.significant, entry.significant_set_by, entry.significant_set_at = significant, actor.name, utcnow()
    session.flush()
    return {**details.of_line(entry), "id": entry.id, "pupil_id": entry.pupil_id, "entry_type": entry.entry_type,
            "occurred_at": entry.occurred_at.strftime(OCCURRED_AT_FORMAT), "title": entry.title,
            "incident_id": entry.incident_id, "ref_id": entry.ref_id, "category_ids": list(entry.category_ids or []),
            "role": entry.role, "significant": entry.significant, "significant_set_by": entry.significant_set_by,
            "significant_set_at": entry.significant_set_at.isoformat() + "Z"}


def _line_exists_for(session: Session, actor: Actor, entry: ChronologyEntry) -> bool:
    """Not a line of a pupil, or of a record, hidden from this actor by self-exclusion."""
    if session.scalar(excluded_pupil_ids(actor).where(StaffRelative.pupil_id == entry.pupil_id).limit(1)) is not None:
        return False
    return entry.incident_id is None or entry.incident_id not in set(session.scalars(hidden_incident_ids(actor)))


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

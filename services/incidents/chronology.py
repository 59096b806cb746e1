"""A pupil's chronology: one row per thing that happened, written with the record it points at.

Writers call `add_entry` in the same transaction as the record (incident, action, decision…), once
for each pupil whose chronology it belongs in. Readers query the table (see `read_chronology`).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from .models import ENTRY_TYPES, ChronologyEntry


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

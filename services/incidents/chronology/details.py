"""What an incident's chronology line tells the DSL team beyond its title: a short excerpt of the
account (or the one-line summary a DSL wrote instead), who recorded it and its latest outcome. So
three incidents of one category on one day are three lines a reader can tell apart.

Everyone else gets none of the three (null): a title says what and which categories, never the
account. Only an incident's own line carries them; an action, decision or amendment line says what it
is in its title, and the account's words there would read as the action's.

They are kept on the line itself, like its title, and brought up to date by whatever changes them
(`refresh`: a correction of the account, a summary written or cleared, an outcome recorded), so
reading thousands of lines stays one query that joins nothing.
"""
from __future__ import annotations

import re

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.common.contracts.incidents import OUTCOME_TYPE_LABELS

from ..models import ChronologyEntry, Incident, IncidentSummary, Outcome
from ..schemas import current_values

EXCERPT_CHARS = 160
ELLIPSIS = "…"
_SPACES = re.compile("[ \t\n\r\f\v]+")
DETAIL_KEYS = ("excerpt", "recorded_by", "outcome")
NO_DETAILS = dict.fromkeys(DETAIL_KEYS)


def one_line(text: str) -> str:
    """White space collapsed into single spaces, none at either end."""
    return _SPACES.sub(" ", text).strip(" ")


def excerpt(account: str | None, summary: str | None = None) -> str | None:
    """The DSL's summary if there is one, else the account's first 160 characters, its white space
    collapsed, with "…" where it was cut."""
    if summary:
        return summary
    if account is None:
        return None
    text = one_line(account)
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS].rstrip(" ") + ELLIPSIS


def of_line(entry: ChronologyEntry) -> dict:
    """A line's details as the DSL team reads them."""
    return {"excerpt": entry.excerpt, "recorded_by": entry.recorded_by_name, "outcome": entry.outcome}


def refresh(session: Session, incident: Incident) -> None:
    """Bring the incident's lines (in every chronology it is in) up to date with its record: the account as
    last corrected (`schemas.current_values`), the DSL's summary, the latest outcome. The stored JSON `line`
    does not hold the details, so a plain UPDATE leaves it as it is."""
    session.flush()
    summary = session.get(IncidentSummary, incident.id)
    outcome = session.scalars(select(Outcome.outcome_type).where(Outcome.incident_id == incident.id)
                              .order_by(Outcome.recorded_at.desc(), Outcome.id.desc()).limit(1)).first()
    session.execute(update(ChronologyEntry)
                    .where(ChronologyEntry.incident_id == incident.id, ChronologyEntry.entry_type == "incident")
                    .values(excerpt=excerpt(current_values(incident)["account"], summary and summary.summary),
                            recorded_by_name=incident.recorded_by_name,
                            outcome=OUTCOME_TYPE_LABELS.get(outcome, outcome) if outcome else None)
                    .execution_options(synchronize_session="fetch"))

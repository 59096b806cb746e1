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

from ..models import Amendment, ChronologyEntry, Incident, IncidentSummary, Outcome

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


def current(session: Session, incident_ids) -> dict[int, dict]:
    """The details of these incidents' lines, worked out from the records: three queries, whatever
    their number."""
    ids = sorted(set(incident_ids))
    if not ids:
        return {}
    incidents = session.execute(select(Incident.id, Incident.account, Incident.recorded_by_name, IncidentSummary.summary)
                                .outerjoin(IncidentSummary, IncidentSummary.incident_id == Incident.id)
                                .where(Incident.id.in_(ids))).all()
    accounts: dict[int, str] = {}
    for incident_id, value in session.execute(select(Amendment.incident_id, Amendment.new_value)
                                              .where(Amendment.incident_id.in_(ids), Amendment.field == "account")
                                              .order_by(Amendment.id)):
        accounts[incident_id] = value  # in id order: the latest correction is the one kept
    outcomes: dict[int, str] = {}
    for incident_id, outcome_type in session.execute(select(Outcome.incident_id, Outcome.outcome_type)
                                                     .where(Outcome.incident_id.in_(ids))
                                                     .order_by(Outcome.recorded_at, Outcome.id)):
        outcomes[incident_id] = OUTCOME_TYPE_LABELS.get(outcome_type, outcome_type)
    return {incident_id: {"excerpt": excerpt(accounts.get(incident_id, account), summary),
                          "recorded_by": recorded_by, "outcome": outcomes.get(incident_id)}
            for incident_id, account, recorded_by, summary in incidents}


def refresh(session: Session, *incident_ids: int) -> None:
    """Bring these incidents' lines (in every chronology they are in) up to date with their records.
    The stored JSON `line` does not hold the details, so a plain UPDATE leaves it as it is."""
    session.flush()
    for incident_id, found in current(session, incident_ids).items():
        session.execute(update(ChronologyEntry)
                        .where(ChronologyEntry.incident_id == incident_id, ChronologyEntry.entry_type == "incident")
                        .values(excerpt=found["excerpt"], recorded_by_name=found["recorded_by"],
                                outcome=found["outcome"])
                        .execution_options(synchronize_session="fetch"))

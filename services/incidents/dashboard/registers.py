"""The DSL's registers: for each of REGISTER_FLAGS (child-protection plan, child in need, looked after,
previously looked after, early help) the pupils on the roll with it, each with the latest line of
their chronology and their open case. A fixed number of queries, however many pupils are listed."""
from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from services.common.actor import Actor
from services.common.contracts.incidents import FLAG_LABELS, REGISTER_FLAGS

from ..chronology.entries import OCCURRED_AT_FORMAT, visible_lines
from ..models import Case, ChronologyEntry, Pupil
from ..policy import excluded_pupil_ids
from ..roll.search import fold
from ..schemas import pupil_summary


def registers(session: Session, actor: Actor) -> list[dict]:
    pupils = session.scalars(select(Pupil).where(
        Pupil.school_id == actor.school_id, Pupil.on_roll.is_(True), Pupil.id.not_in(excluded_pupil_ids(actor)),
        or_(*(getattr(Pupil, flag).is_(True) for flag in REGISTER_FLAGS)))).all()
    ids = [p.id for p in pupils]
    latest, cases = latest_lines(session, actor, ids), open_cases(session, ids)
    pupils = sorted(pupils, key=lambda p: (fold(p.preferred_surname or p.legal_surname),
                                           fold(p.preferred_forename or p.legal_forename), p.id))
    return [{"flag": flag, "label": FLAG_LABELS[flag],
             "pupils": [{"pupil": pupil_summary(p),
                         "latest": latest.get(p.id), "open_case": cases.get(p.id)}
                        for p in pupils if getattr(p, flag)]}
            for flag in REGISTER_FLAGS]


def _first_of_each(query, partition, order) -> object:
    """The query's first row for each value of `partition`, in `order` (one query for every pupil)."""
    ranked = query.add_columns(func.row_number().over(partition_by=partition, order_by=order).label("n")).subquery()
    return select(ranked).where(ranked.c.n == 1)


def latest_lines(session: Session, actor: Actor, pupil_ids: list[int]) -> dict[int, dict]:
    """Each pupil's latest chronology line that this reader reads now: never one of a record hidden
    from them; without their step-up, not a safeguarding one (the chronology's own rule)."""
    if not pupil_ids:
        return {}
    where = [ChronologyEntry.pupil_id.in_(pupil_ids), ChronologyEntry.school_id == actor.school_id]
    readable, _ = visible_lines(session, actor, where, None)
    query = select(ChronologyEntry.pupil_id, ChronologyEntry.occurred_at, ChronologyEntry.title,
                   ChronologyEntry.incident_id).where(*where, *readable)
    rows = session.execute(_first_of_each(query, ChronologyEntry.pupil_id,
                                          (ChronologyEntry.occurred_at.desc(), ChronologyEntry.id.desc())))
    return {row.pupil_id: {"occurred_at": row.occurred_at.strftime(OCCURRED_AT_FORMAT), "title": row.title,
                           "incident_id": row.incident_id} for row in rows}


def open_cases(session: Session, pupil_ids: list[int]) -> dict[int, dict]:
    """Each pupil's open case (the one opened last, should there be several)."""
    if not pupil_ids:
        return {}
    query = select(Case.pupil_id, Case.id, Case.title, Case.status).where(Case.pupil_id.in_(pupil_ids),
                                                                          Case.status == "open")
    rows = session.execute(_first_of_each(query, Case.pupil_id, (Case.opened_at.desc(), Case.id.desc())))
    return {row.pupil_id: {"id": row.id, "title": row.title, "status": row.status} for row in rows}

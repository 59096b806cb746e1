"""The roll: importing and re-syncing it from a school MIS's CSV export or a DfE Common Transfer File
(CTF XML), a pupil's details, and family links between pupils.

An import reads and checks the whole file first; if any row is wrong nothing is written, and the
DSL gets every problem (up to MAX_PROBLEMS) with its line or element. Pupils are matched by UPN
within the school, so a re-import of the same file changes nothing and a pupil is never duplicated.
"""
from __future__ import annotations

import base64
import binascii
import json
import time
from datetime import date

from sqlalchemy import select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from services.common.actor import Actor
from services.common.events import add_to_outbox, make_event

from .csv import read_csv
from .ctf import read_ctf
from ..exceptions import ValidationFailed
from ..models import FLAGS, OutboxEvent, Pupil
from ..policy import require_dsl_team
from .search import fold, roll_changed
from .values import MAX_FILE_BYTES, TOO_LARGE, Row, file_problem

# --- the import -------------------------------------------------------------------------------

def decode_upload(content_b64: str) -> bytes:
    """The file as it crossed the bus (base64; the contract bounds its length)."""
    try:
        return base64.b64decode(content_b64, validate=True)
    except (binascii.Error, ValueError):
        raise file_problem("The file did not arrive intact; try the import again.") from None


def import_roll(session: Session, actor: Actor, content: bytes, *, file_format: str, mode: str = "update",
                dry_run: bool = False, today: date | None = None) -> dict:
    """Add, change and (mode "full") take off the roll, from a MIS CSV or a CTF. Returns what was (or,
    with dry_run, would be) added, changed and left."""
    require_dsl_team(actor, "import the roll")
    # The contract (ImportRoll) has checked the format, the mode and dry_run; the file is checked
    # once decoded.
    if not content.strip():
        raise ValidationFailed.one("file", "The file is empty. Choose the file exported from the MIS.")
    if len(content) > MAX_FILE_BYTES:
        raise ValidationFailed.one("file", TOO_LARGE)

    today = today or date.today()
    rows = (read_csv if file_format == "csv" else read_ctf)(content, today)
    if not rows:
        raise file_problem("The file holds no pupils; nothing to import.")
    return _apply(session, actor, rows, mode=mode, dry_run=dry_run, today=today)


def _display_name(values: dict, pupil: Pupil | None = None) -> str:
    def get(f):
        return values[f] if f in values else getattr(pupil, f, None)
    return f"{get('preferred_forename') or get('legal_forename')} {get('preferred_surname') or get('legal_surname')}"


def _let_others_run() -> None:
    # In the service, eventlet makes time.sleep(0) hand over to other green threads: a long import
    # must not stall every other request. Elsewhere it costs nothing.
    time.sleep(0)


INSERT_CHUNK = 5_000


def insert_pupils(session: Session, pupils: list[dict]) -> None:
    """Add new pupils. On PostgreSQL as JSON documents of INSERT_CHUNK pupils (seconds, not minutes,
    for a whole roll: the driver's per-parameter work dominates row-by-row inserts)."""
    if session.get_bind().dialect.name != "postgresql":
        session.add_all(Pupil(**values) for values in pupils)
        session.flush()
        return
    table = Pupil.__table__
    columns = sorted({c for values in pupils for c in values})
    statement = sql_text(f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {', '.join(columns)} "
                     f"FROM json_populate_recordset(NULL::{table.name}, CAST(:pupils AS json))")
    for start in range(0, len(pupils), INSERT_CHUNK):
        chunk = pupils[start:start + INSERT_CHUNK]
        session.execute(statement, {"pupils": json.dumps(chunk, default=date.isoformat)})
        _let_others_run()


def _apply(session: Session, actor: Actor, rows: list[Row], *, mode: str, dry_run: bool, today: date) -> dict:
    existing = {p.upn: p for p in session.scalars(select(Pupil).where(Pupil.school_id == actor.school_id))}
    added, changed, left, new_pupils, leavers = [], [], [], [], []
    unchanged = 0
    for n, row in enumerate(rows):
        values = row.values
        leaving = values.get("leaving_date")
        on_roll = leaving is None or leaving > today  # a leaving date still to come: not gone yet
        if n % 2000 == 1999:
            _let_others_run()
        pupil = existing.get(values["upn"])
        if pupil is None:
            new_pupils.append({"school_id": actor.school_id, "on_roll": on_roll, "sen_status": "none",
                               **{f: False for f in FLAGS}, "preferred_forename": None, "preferred_surname": None,
                               "form": None, **values})
            added.append({"upn": values["upn"], "name": _display_name(new_pupils[-1]), "on_roll": on_roll})
            continue
        updates = {f: v for f, v in values.items() if getattr(pupil, f) != v}
        if on_roll and not pupil.on_roll:  # back on the roll (in the MIS's current roll again)
            updates["on_roll"] = True
            if "leaving_date" not in values and pupil.leaving_date is not None:
                updates["leaving_date"] = None
        name = _display_name(values, pupil)
        if not on_roll and pupil.on_roll:
            updates["on_roll"] = False
            left.append({"upn": pupil.upn, "name": name})
            leavers.append(pupil)
        shown = [f for f in updates if not (f in ("on_roll", "leaving_date") and updates.get("on_roll") is False)]
        if shown:
            changed.append({"upn": pupil.upn, "name": name, "fields": shown})
        elif not updates:
            unchanged += 1
        if not dry_run:
            for f, v in updates.items():
                setattr(pupil, f, v)

    if mode == "full":
        in_file = {row.values["upn"] for row in rows}
        going = sorted((p for upn, p in existing.items() if p.on_roll and upn not in in_file),
                       key=lambda p: (fold(p.legal_surname), fold(p.legal_forename), p.id))
        for pupil in going:
            left.append({"upn": pupil.upn, "name": pupil.name})
            leavers.append(pupil)
            if not dry_run:
                pupil.on_roll = False
                if pupil.leaving_date is None or pupil.leaving_date > today:
                    pupil.leaving_date = today

    if not dry_run:
        session.flush()
        insert_pupils(session, new_pupils)
        roll_changed(session, [actor.school_id])
        # Ids only (DESIGN rule 4); the leavers are what the transfers service will care about.
        add_to_outbox(session, OutboxEvent, make_event(
            "roll_imported", actor.school_id, imported_by=actor.user_id, mode=mode, added_count=len(added),
            changed_count=len(changed), left_pupil_ids=[p.id for p in leavers]))
    return {"added": added, "changed": changed, "left": left, "unchanged": unchanged, "dry_run": dry_run}


def import_upload(session: Session, actor: Actor, content_b64: str, file_format: str, mode: str = "update",
                  dry_run: bool = False) -> dict:
    """incidents.import_roll: the file as it crossed the bus (base64)."""
    return import_roll(session, actor, decode_upload(content_b64), file_format=file_format, mode=mode,
                       dry_run=dry_run)

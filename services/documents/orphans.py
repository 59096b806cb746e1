"""Objects whose document row was never committed: recorded before they are written, swept after.

The vault writes a document's ciphertext before the transaction that commits its row, so that no
row ever points at nothing. If that commit fails (a conflict, the database gone, the process killed),
the object stays with no row and, without this, forever. So store_document first commits a
`pending_uploads` row naming the object, in a short transaction of its own, then writes the object,
then deletes the pending row in the transaction that commits the document. A pending row left
behind therefore names an upload that failed; once it is older than any upload can take, the sweeper
deletes its object and then the row.

SQLite lets one transaction write at a time, and the caller's transaction is already writing (the
actor's spent token), so there the intent cannot be committed on its own: a development Haven on
SQLite records none, and a failed commit can leave an orphan object there, as before.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from services.common.db import skip_locked, utcnow

from .models import Document, PendingUpload
from .vault import ObjectStore

log = logging.getLogger(__name__)

BATCH = 100


def record_intent(session: Session, storage_key: str) -> None:
    """Commits, beside `session`'s transaction and before the object is written, that it is about to be."""
    if session.get_bind().dialect.name == "sqlite":
        return
    with Session(session.get_bind()) as own:
        own.add(PendingUpload(storage_key=storage_key, started_at=utcnow()))
        own.commit()


def forget_intent(session: Session, storage_key: str) -> None:
    """In the transaction that commits the document: the upload is complete when, and only if, it commits."""
    session.execute(delete(PendingUpload).where(PendingUpload.storage_key == storage_key))


def sweep_orphans(session: Session, store: ObjectStore, older_than: timedelta,
                  now: datetime | None = None) -> int:
    """Deletes the objects of up to BATCH failed uploads, and their pending rows; how many it cleared.
    Rows locked by another sweeper are skipped, so several instances can sweep at once."""
    cutoff = (now or utcnow()) - older_than
    query = (select(PendingUpload).where(PendingUpload.started_at < cutoff)
             .order_by(PendingUpload.started_at).limit(BATCH))
    pending = list(session.scalars(skip_locked(query, session)))
    for upload in pending:
        committed = session.scalar(select(exists().where(Document.storage_key == upload.storage_key)))
        if committed:  # cannot happen through store_document; never delete a document's object
            log.error("pending upload %s has a committed document: its object is kept", upload.storage_key)
        else:
            store.delete(upload.storage_key)
            log.warning("deleted the object of an upload that was never committed: %s", upload.storage_key)
        session.delete(upload)
    return len(pending)

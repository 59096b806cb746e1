"""Master key rotation: `python -m services.documents.keys rotate`.

Every document's data key is wrapped by a master key, and the row records which (vault.py). Rotating
re-wraps the data keys under a new master key; the stored objects are never read or written, so it
takes seconds for thousands of documents and no storage traffic.

The operator's steps:
  1. Make a new key: python -c "import base64, os; print(base64.b64encode(os.urandom(32)).decode())"
  2. Set HAVEN_MASTER_KEY to the new key and add the old one to HAVEN_PREVIOUS_MASTER_KEYS
     (comma-separated), for every documents instance, and restart them. New documents are wrapped by
     the new key; older ones still open with the previous key.
  3. Run `python -m services.documents.keys rotate` with the same environment. It re-wraps, in
     batches of its own transaction each, every data key not under the current key. It can be
     stopped and run again (it carries on), and it can run beside the service and beside itself.
  4. When it reports nothing left to re-wrap, remove the old key from HAVEN_PREVIOUS_MASTER_KEYS
     and restart. Keep the old key with the backups made before the rotation: they need it.
It exits with status 1 while any document is left under a key it was not given.
"""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass

from cryptography.hazmat.primitives.keywrap import InvalidUnwrap
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from services.common.db import make_engine, session_factory, skip_locked, transaction

from .models import Document
from .vault import MasterKeys

log = logging.getLogger(__name__)

BATCH = 500


@dataclass
class Rotation:
    rewrapped: int = 0
    unreadable: int = 0  # wrapped by a key not given, or not opening with the key its row names
    current: int = 0     # under the current key when it finished


def _not_current(keys: MasterKeys):
    return or_(Document.key_id.is_(None), Document.key_id != keys.current_id)


def rotate_batch(session: Session, keys: MasterKeys, after: str, batch: int, done: Rotation) -> str | None:
    """Re-wraps up to `batch` rows whose id sorts after `after`; the last id looked at, or None when
    there are none. Rows another rotation holds are skipped: that one re-wraps them."""
    query = (select(Document).where(_not_current(keys), Document.id > after)
             .order_by(Document.id).limit(batch))
    rows = list(session.scalars(skip_locked(query, session)))
    for row in rows:
        try:
            row.wrapped_key = keys.rewrap(row.wrapped_key, row.key_id)
        except (KeyError, InvalidUnwrap, ValueError):
            log.error("document %s: its data key does not unwrap with any key given (key id %s)",
                      row.id, row.key_id or "not recorded")
            done.unreadable += 1
            continue
        row.key_id = keys.current_id
        done.rewrapped += 1
    return rows[-1].id if rows else None


def rotate(sessions: sessionmaker[Session], keys: MasterKeys, batch: int = BATCH) -> Rotation:
    """Every data key not under the current master key, re-wrapped by it: each batch commits on its
    own, so an interrupted run keeps what it did, and running it again finishes the rest."""
    done, after = Rotation(), ""
    while after is not None:
        with transaction(sessions) as session:
            after = rotate_batch(session, keys, after, batch, done)
    with transaction(sessions) as session:
        done.current = session.scalar(select(func.count()).select_from(Document)
                                      .where(Document.key_id == keys.current_id))
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["rotate"])
    parser.add_argument("--batch", type=int, default=BATCH, help="rows re-wrapped per transaction")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    from .settings import DocumentsSettings  # the environment is read only when the command runs

    settings = DocumentsSettings()
    keys = settings.master_keys()
    engine = make_engine(settings.database_url, pooled=False)
    try:
        done = rotate(session_factory(engine), keys, max(1, args.batch))
    finally:
        engine.dispose()
    print(f"re-wrapped {done.rewrapped} data key(s); {done.current} document(s) now under master key "
          f"{keys.current_id}; {done.unreadable} could not be unwrapped with the keys given")
    if done.unreadable:
        print("keep HAVEN_PREVIOUS_MASTER_KEYS as it is: some documents still need a key it does not hold",
              file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

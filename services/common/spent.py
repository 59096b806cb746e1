"""Single-use actor contexts: each service remembers, in its own database, the contexts it has accepted
until they expire, so a copy replayed from the bus is refused (DESIGN rule 3).

The row is written in the same transaction as the call it admits. Two copies arriving at once
(two instances, competing consumers) meet at the primary key: the second waits for the first's
transaction and then finds the id spent. A call that fails and rolls back leaves its context unspent;
sent again it is checked again as a new call would be, with the same actor and arguments.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import DateTime, String, bindparam, delete, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import utcnow
from .events import prune_due

# Expired rows are deleted at most this often per process, a bounded batch at a time.
PRUNE_INTERVAL_SECONDS = 300.0
PRUNE_BATCH = 5000


class SpentTokenMixin:
    """Mix in as `class SpentToken(SpentTokenMixin, Base)` (and create the table in a migration)."""

    __tablename__ = "spent_actor_tokens"
    token_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


def create_table(op) -> None:
    """For a service's Alembic migration."""
    import sqlalchemy as sa
    op.create_table("spent_actor_tokens",
                    sa.Column("token_id", sa.String(120), primary_key=True),
                    sa.Column("expires_at", sa.DateTime(), nullable=False))
    op.create_index("ix_spent_actor_tokens_expires_at", "spent_actor_tokens", ["expires_at"])


def drop_table(op) -> None:
    op.drop_index("ix_spent_actor_tokens_expires_at", table_name="spent_actor_tokens")
    op.drop_table("spent_actor_tokens")


_SPEND = text("INSERT INTO spent_actor_tokens (token_id, expires_at) VALUES (:token_id, :expires_at) "
              "ON CONFLICT (token_id) DO NOTHING RETURNING token_id").bindparams(
    bindparam("token_id", type_=String()), bindparam("expires_at", type_=DateTime()))


def spend(session: Session, token_id: str, expires_at: float) -> bool:
    """Mark the context used, in this transaction; False when it had been used already."""
    when = datetime.fromtimestamp(expires_at, timezone.utc).replace(tzinfo=None)
    return session.execute(_SPEND, {"token_id": token_id, "expires_at": when}).first() is not None


def prune(session: Session, model, now: datetime | None = None) -> int:
    """Delete up to PRUNE_BATCH expired rows, at most once per PRUNE_INTERVAL_SECONDS for this process
    (at once when given `now`)."""
    if now is None and not prune_due(session, model, PRUNE_INTERVAL_SECONDS):
        return 0
    old = (session.query(model.token_id).filter(model.expires_at < (now or utcnow()))
           .limit(PRUNE_BATCH).scalar_subquery())
    return session.execute(delete(model).where(model.token_id.in_(old))
                           .execution_options(synchronize_session=False)).rowcount or 0

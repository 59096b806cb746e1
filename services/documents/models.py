"""The documents service's tables: one row per stored file, the uploads under way, and the outbox.

A document's row is never updated or deleted in place, except its wrapped data key and key id, which
key rotation re-wraps (keys.py).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, LargeBinary, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.db import utcnow
from services.common.spent import SpentTokenMixin
from services.common.events import OutboxMixin


class Base(DeclarativeBase):
    pass


class SpentToken(SpentTokenMixin, Base):
    """Actor contexts already accepted (services/common/spent.py): each is good for one call."""


class OutboxEvent(OutboxMixin, Base):
    pass


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (Index("ix_documents_school_incident", "school_id", "incident_id"),)

    # A UUID chosen before encryption: it is the associated data that binds the ciphertext to this row.
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    school_id: Mapped[int] = mapped_column(Integer)
    incident_id: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))  # of the plaintext, hex
    storage_key: Mapped[str] = mapped_column(String(300), unique=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary(64))  # the data key, wrapped by the master key
    # Which master key wrapped it (vault.master_key_id); None for rows from before ids were recorded.
    key_id: Mapped[str | None] = mapped_column(String(16))
    nonce: Mapped[bytes] = mapped_column(LargeBinary(16))
    uploaded_by: Mapped[int] = mapped_column(Integer)
    uploaded_by_name: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class PendingUpload(Base):
    """An object about to be stored whose document row is not committed yet. Committed on its own before
    the object is written, and deleted in the transaction that commits the row: one still here after
    minutes belongs to an upload that failed, and the orphan sweeper deletes its object (orphans.py)."""

    __tablename__ = "pending_uploads"

    storage_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)

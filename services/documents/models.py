"""The documents service's tables: one row per stored file (never updated or deleted in place), and the outbox."""
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
    nonce: Mapped[bytes] = mapped_column(LargeBinary(16))
    uploaded_by: Mapped[int] = mapped_column(Integer)
    uploaded_by_name: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

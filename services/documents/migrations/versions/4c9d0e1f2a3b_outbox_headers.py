"""the outbox keeps the request id and traceparent each event goes out with

Revision ID: 4c9d0e1f2a3b
Revises: 3b8c9d0e1f2a
Create Date: 2026-12-01 03:10:00
"""
from alembic import op

from services.common import events

revision = '4c9d0e1f2a3b'
down_revision = '3b8c9d0e1f2a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    events.add_headers_column(op)


def downgrade() -> None:
    events.drop_headers_column(op)

"""the outbox keeps the request id and traceparent each event goes out with

Revision ID: f2a3b4c5d6e7
Revises: e1f2a3b4c5d6
Create Date: 2026-12-01 03:10:00
"""
from alembic import op

from services.common import events

revision = 'f2a3b4c5d6e7'
down_revision = 'e1f2a3b4c5d6'
branch_labels = None
depends_on = None


def upgrade() -> None:
    events.add_headers_column(op)


def downgrade() -> None:
    events.drop_headers_column(op)

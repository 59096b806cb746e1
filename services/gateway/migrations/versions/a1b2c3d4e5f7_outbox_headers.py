"""the outbox keeps the request id and traceparent each event goes out with

Revision ID: a1b2c3d4e5f7
Revises: c3d4e5f6a7b8
Create Date: 2026-12-01 03:10:00
"""
from alembic import op

from services.common import events

revision = 'a1b2c3d4e5f7'
down_revision = 'c3d4e5f6a7b8'
branch_labels = None
depends_on = None


def upgrade() -> None:
    events.add_headers_column(op)


def downgrade() -> None:
    events.drop_headers_column(op)

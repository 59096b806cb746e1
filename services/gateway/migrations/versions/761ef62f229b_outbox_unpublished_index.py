"""outbox: a partial index on the rows still to publish

The relay asks for the oldest unpublished rows (ORDER BY id); without this index PostgreSQL walked
the primary key through every published row on each pass.

Revision ID: 761ef62f229b
Revises: fcacfd6b0b87
Create Date: 2026-11-30 15:00:00
"""
from alembic import op

from services.common.events import create_unpublished_index, drop_unpublished_index


revision = '761ef62f229b'
down_revision = 'fcacfd6b0b87'
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_unpublished_index(op)


def downgrade() -> None:
    drop_unpublished_index(op)

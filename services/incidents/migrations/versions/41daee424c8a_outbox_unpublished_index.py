"""outbox: a partial index on the rows still to publish

The relay asks for the oldest unpublished rows (ORDER BY id); without this index PostgreSQL walked
the primary key through every published row on each pass.

Revision ID: 41daee424c8a
Revises: 95b880057906
Create Date: 2026-11-30 15:00:00
"""
from alembic import op

from services.common.events import create_unpublished_index, drop_unpublished_index


revision = '41daee424c8a'
down_revision = '95b880057906'
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_unpublished_index(op)


def downgrade() -> None:
    drop_unpublished_index(op)

"""outbox: a partial index on the rows still to publish

The relay asks for the oldest unpublished rows (ORDER BY id); without this index PostgreSQL walked
the primary key through every published row on each pass.

Revision ID: 761ef62f229b
Revises: fcacfd6b0b87
Create Date: 2026-11-30 15:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '761ef62f229b'
down_revision = 'fcacfd6b0b87'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_outbox_unpublished', 'outbox', ['id'], unique=False,
                    postgresql_where=sa.text('published_at IS NULL'),
                    sqlite_where=sa.text('published_at IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_outbox_unpublished', table_name='outbox')

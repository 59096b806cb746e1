"""single-use actor contexts: the ids of those accepted, until they expire

Revision ID: 3b8c9d0e1f2a
Revises: 2c9b2c5166b7
Create Date: 2026-12-01 00:10:00
"""
from alembic import op

from services.common import spent

revision = '3b8c9d0e1f2a'
down_revision = '2c9b2c5166b7'
branch_labels = None
depends_on = None


def upgrade() -> None:
    spent.create_table(op)


def downgrade() -> None:
    spent.drop_table(op)

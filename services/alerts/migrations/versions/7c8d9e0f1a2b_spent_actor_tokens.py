"""single-use actor contexts: the ids of those accepted, until they expire

Revision ID: 7c8d9e0f1a2b
Revises: 6b7c8d9e0f1a
Create Date: 2026-12-01 00:10:00
"""
from alembic import op

from services.common import spent

revision = '7c8d9e0f1a2b'
down_revision = '6b7c8d9e0f1a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    spent.create_table(op)


def downgrade() -> None:
    spent.drop_table(op)

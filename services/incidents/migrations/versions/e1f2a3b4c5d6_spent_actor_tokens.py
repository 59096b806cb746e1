"""single-use actor contexts: the ids of those accepted, until they expire

Revision ID: e1f2a3b4c5d6
Revises: d4e8f2a6b1c9
Create Date: 2026-12-01 00:10:00
"""
from alembic import op

from services.common import spent

revision = 'e1f2a3b4c5d6'
down_revision = 'd4e8f2a6b1c9'
branch_labels = None
depends_on = None


def upgrade() -> None:
    spent.create_table(op)


def downgrade() -> None:
    spent.drop_table(op)

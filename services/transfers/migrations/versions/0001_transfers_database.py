"""The transfers database exists and is versioned; its tables come with the transfers issue.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

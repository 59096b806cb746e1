"""staff directory: one entry per account and school (trusts: an account may hold roles at several)

Revision ID: 5a6b7c8d9e0f
Revises: 038a3e7c52ee
Create Date: 2026-11-30 18:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '5a6b7c8d9e0f'
down_revision = '038a3e7c52ee'
branch_labels = None
depends_on = None

COLUMNS = "user_id, school_id, name, email, roles, active, occurred_at"


def _staff_table(name: str, key: list[str]) -> None:
    op.create_table(name,
                    sa.Column('user_id', sa.Integer(), autoincrement=False, nullable=False),
                    sa.Column('school_id', sa.Integer(), autoincrement=False, nullable=False),
                    sa.Column('name', sa.String(length=200), nullable=False),
                    sa.Column('email', sa.String(length=320), nullable=True),
                    sa.Column('roles', sa.JSON(), nullable=False),
                    sa.Column('active', sa.Boolean(), nullable=False),
                    sa.Column('occurred_at', sa.DateTime(), nullable=False),
                    sa.PrimaryKeyConstraint(*key))


def _rebuild(key: list[str], rows: str) -> None:
    """A new table with the new key, the rows copied, then swapped in (the same on SQLite and PostgreSQL)."""
    _staff_table('staff_rebuilt', key)
    op.execute(f"INSERT INTO staff_rebuilt ({COLUMNS}) SELECT {COLUMNS} FROM staff {rows}")
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_index('ix_staff_school_id')
    op.drop_table('staff')
    op.rename_table('staff_rebuilt', 'staff')
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.create_index('ix_staff_school_id', ['school_id'], unique=False)


def upgrade() -> None:
    _rebuild(['user_id', 'school_id'], "")


def downgrade() -> None:
    # Back to one entry per account: its home school's is the one with the lowest school id kept.
    _rebuild(['user_id'], "WHERE school_id = (SELECT MIN(s.school_id) FROM staff s WHERE s.user_id = staff.user_id)")

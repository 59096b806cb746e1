"""memberships of other schools of a trust, and the school a session works in

Revision ID: c3d4e5f6a7b8
Revises: b7e1c2d3a4f5
Create Date: 2026-11-30 18:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'c3d4e5f6a7b8'
down_revision = 'b7e1c2d3a4f5'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('memberships',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('user_id', sa.Integer(), nullable=False),
                    sa.Column('school_id', sa.Integer(), nullable=False),
                    sa.Column('roles', sa.JSON(), nullable=False),
                    sa.Column('job_title', sa.String(length=100), nullable=True),
                    sa.Column('active', sa.Boolean(), nullable=False),
                    sa.Column('created_at', sa.DateTime(), nullable=False),
                    sa.Column('deactivated_at', sa.DateTime(), nullable=True),
                    sa.ForeignKeyConstraint(['user_id'], ['staff.id']),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('user_id', 'school_id'))
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_memberships_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_memberships_school_id'), ['school_id'], unique=False)
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('school_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_column('school_id')
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_memberships_school_id'))
        batch_op.drop_index(batch_op.f('ix_memberships_user_id'))
    op.drop_table('memberships')

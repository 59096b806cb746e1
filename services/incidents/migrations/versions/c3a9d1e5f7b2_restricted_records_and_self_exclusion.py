"""restricted records and self-exclusion

A record the DSL team restricts to itself (who, when, why); the staff a record is about
(incident_exclusions) and the staff who are a pupil's parent or carer (pupil_staff_relatives): both
hidden from those people whatever their role.

Revision ID: c3a9d1e5f7b2
Revises: 41daee424c8a
Create Date: 2026-11-30 18:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'c3a9d1e5f7b2'
down_revision = '41daee424c8a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('restricted', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('restricted_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('restricted_by_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('restricted_at', sa.DateTime(), nullable=True))
    op.create_table(
        'incident_exclusions',
        sa.Column('incident_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'],
                                name=op.f('fk_incident_exclusions_incident_id_incidents')),
        sa.PrimaryKeyConstraint('incident_id', 'user_id', name=op.f('pk_incident_exclusions')))
    op.create_index(op.f('ix_incident_exclusions_user_id'), 'incident_exclusions', ['user_id'])
    op.create_table(
        'pupil_staff_relatives',
        sa.Column('pupil_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['pupil_id'], ['pupils.id'],
                                name=op.f('fk_pupil_staff_relatives_pupil_id_pupils')),
        sa.PrimaryKeyConstraint('pupil_id', 'user_id', name=op.f('pk_pupil_staff_relatives')))
    op.create_index(op.f('ix_pupil_staff_relatives_user_id'), 'pupil_staff_relatives', ['user_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_pupil_staff_relatives_user_id'), table_name='pupil_staff_relatives')
    op.drop_table('pupil_staff_relatives')
    op.drop_index(op.f('ix_incident_exclusions_user_id'), table_name='incident_exclusions')
    op.drop_table('incident_exclusions')
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_column('restricted_at')
        batch_op.drop_column('restricted_by_name')
        batch_op.drop_column('restricted_reason')
        batch_op.drop_column('restricted')

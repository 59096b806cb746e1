"""escalation, reminders, digests and school settings; alert kinds; mail for digests and its give-up clock

Revision ID: 6b7c8d9e0f1a
Revises: 5a6b7c8d9e0f
Create Date: 2026-11-30 21:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '6b7c8d9e0f1a'
down_revision = '5a6b7c8d9e0f'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('incidents',
                    sa.Column('incident_id', sa.Integer(), autoincrement=False, nullable=False),
                    sa.Column('school_id', sa.Integer(), nullable=False),
                    sa.Column('urgent', sa.Boolean(), nullable=False),
                    sa.Column('recorded_by', sa.Integer(), nullable=True),
                    sa.Column('recorded_by_name', sa.String(length=200), nullable=True),
                    sa.Column('category_names', sa.JSON(), nullable=False),
                    sa.Column('recorded_at', sa.DateTime(), nullable=True),
                    sa.Column('excluded_user_ids', sa.JSON(), nullable=False),
                    sa.Column('opened_at', sa.DateTime(), nullable=True),
                    sa.Column('opened_by', sa.Integer(), nullable=True),
                    sa.Column('opened_by_name', sa.String(length=200), nullable=True),
                    sa.Column('escalation_level', sa.Integer(), nullable=False),
                    sa.Column('next_escalation_at', sa.DateTime(), nullable=True),
                    sa.PrimaryKeyConstraint('incident_id'))
    op.create_index('ix_incidents_escalation_due', 'incidents', ['next_escalation_at'],
                    postgresql_where=sa.text('next_escalation_at IS NOT NULL'),
                    sqlite_where=sa.text('next_escalation_at IS NOT NULL'))
    op.create_index('ix_incidents_unopened', 'incidents', ['school_id'],
                    postgresql_where=sa.text('opened_at IS NULL'), sqlite_where=sa.text('opened_at IS NULL'))
    op.create_table('escalations',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('incident_id', sa.Integer(), nullable=False),
                    sa.Column('level', sa.Integer(), nullable=False),
                    sa.Column('to_group', sa.String(length=20), nullable=False),
                    sa.Column('at', sa.DateTime(), nullable=False),
                    sa.Column('recipients', sa.Integer(), nullable=False),
                    sa.ForeignKeyConstraint(['incident_id'], ['incidents.incident_id']),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_escalations_incident_id', 'escalations', ['incident_id'])
    op.create_table('reminders',
                    sa.Column('action_id', sa.Integer(), autoincrement=False, nullable=False),
                    sa.Column('school_id', sa.Integer(), nullable=False),
                    sa.Column('incident_id', sa.Integer(), nullable=False),
                    sa.Column('user_id', sa.Integer(), nullable=False),
                    sa.Column('due_on', sa.Date(), nullable=False),
                    sa.Column('before_sent_at', sa.DateTime(), nullable=True),
                    sa.Column('overdue_sent_at', sa.DateTime(), nullable=True),
                    sa.Column('completed_at', sa.DateTime(), nullable=True),
                    sa.PrimaryKeyConstraint('action_id'))
    op.create_index('ix_reminders_open_due', 'reminders', ['due_on'],
                    postgresql_where=sa.text('completed_at IS NULL'), sqlite_where=sa.text('completed_at IS NULL'))
    op.create_table('preferences',
                    sa.Column('user_id', sa.Integer(), autoincrement=False, nullable=False),
                    sa.Column('school_id', sa.Integer(), autoincrement=False, nullable=False),
                    sa.Column('digest', sa.Boolean(), nullable=False),
                    sa.PrimaryKeyConstraint('user_id', 'school_id'))
    op.create_table('school_settings',
                    sa.Column('school_id', sa.Integer(), autoincrement=False, nullable=False),
                    sa.Column('escalate_after_minutes', sa.Integer(), nullable=False),
                    sa.Column('digest_time', sa.String(length=5), nullable=False),
                    sa.Column('category_in_email', sa.Boolean(), nullable=False),
                    sa.Column('unactioned_after_days', sa.Integer(), nullable=False),
                    sa.PrimaryKeyConstraint('school_id'))
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=20), nullable=False, server_default='alert'))
        batch_op.add_column(sa.Column('escalation_level', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('action_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('digest_pending', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('digest_mail_id', sa.Integer(), nullable=True))
    op.execute("UPDATE alerts SET kind = 'tray' WHERE tray_item_id IS NOT NULL")
    op.create_index('ix_alerts_digest_pending', 'alerts', ['school_id'], postgresql_where=sa.text('digest_pending'),
                    sqlite_where=sa.text('digest_pending'))
    with op.batch_alter_table('mail', schema=None) as batch_op:
        batch_op.alter_column('alert_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('user_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('school_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('html', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('queued_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('claimed_until', sa.DateTime(), nullable=True))
        batch_op.drop_index('ix_mail_status_next_attempt')
        batch_op.create_index('ix_mail_school_id', ['school_id'])
    op.execute("UPDATE mail SET queued_at = next_attempt_at, "
               "school_id = (SELECT alerts.school_id FROM alerts WHERE alerts.id = mail.alert_id), "
               "user_id = (SELECT alerts.user_id FROM alerts WHERE alerts.id = mail.alert_id)")
    op.create_index('ix_mail_pending_due', 'mail', ['next_attempt_at'],
                    postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))


def downgrade() -> None:
    op.drop_index('ix_mail_pending_due', table_name='mail')
    op.execute("DELETE FROM mail WHERE alert_id IS NULL")
    with op.batch_alter_table('mail', schema=None) as batch_op:
        batch_op.drop_index('ix_mail_school_id')
        batch_op.create_index('ix_mail_status_next_attempt', ['status', 'next_attempt_at'])
        batch_op.drop_column('claimed_until')
        batch_op.drop_column('queued_at')
        batch_op.drop_column('html')
        batch_op.drop_column('school_id')
        batch_op.drop_column('user_id')
        batch_op.alter_column('alert_id', existing_type=sa.Integer(), nullable=False)
    op.drop_index('ix_alerts_digest_pending', table_name='alerts')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        for column in ('digest_mail_id', 'digest_pending', 'action_id', 'escalation_level', 'kind'):
            batch_op.drop_column(column)
    op.drop_table('school_settings')
    op.drop_table('preferences')
    op.drop_index('ix_reminders_open_due', table_name='reminders')
    op.drop_table('reminders')
    op.drop_index('ix_escalations_incident_id', table_name='escalations')
    op.drop_table('escalations')
    op.drop_index('ix_incidents_unopened', table_name='incidents')
    op.drop_index('ix_incidents_escalation_due', table_name='incidents')
    op.drop_table('incidents')

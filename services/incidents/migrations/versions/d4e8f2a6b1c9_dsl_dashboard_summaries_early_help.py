"""the DSL's day: early help, the DSL's summaries, lines that say what happened, incidents by date

A pupil's early-help flag (the fifth register); the DSL team's one-line summary of an incident
(incident_summaries: beside the record, which stays as written); on an incident's chronology lines,
what the DSL team reads there (an excerpt, who recorded it, the latest outcome), filled in here for
the lines already written; an index for the dashboard's "recorded this week / this term" and
"waiting since" questions.

Revision ID: d4e8f2a6b1c9
Revises: c3a9d1e5f7b2
Create Date: 2026-12-01 09:00:00
"""
import re

from alembic import op
import sqlalchemy as sa


revision = 'd4e8f2a6b1c9'
down_revision = 'c3a9d1e5f7b2'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('pupils', schema=None) as batch_op:
        batch_op.add_column(sa.Column('early_help', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        'incident_summaries',
        sa.Column('incident_id', sa.Integer(), nullable=False),
        sa.Column('summary', sa.String(length=300), nullable=False),
        sa.Column('set_by', sa.Integer(), nullable=False),
        sa.Column('set_by_name', sa.String(length=200), nullable=False),
        sa.Column('set_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'],
                                name=op.f('fk_incident_summaries_incident_id_incidents')),
        sa.PrimaryKeyConstraint('incident_id', name=op.f('pk_incident_summaries')))
    op.create_index('ix_incidents_school_recorded', 'incidents', ['school_id', 'recorded_at'])
    with op.batch_alter_table('chronology', schema=None) as batch_op:
        batch_op.add_column(sa.Column('excerpt', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('recorded_by_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('outcome', sa.String(length=100), nullable=True))
    _fill_in_lines(op.get_bind())


# The rules as they were when this revision was written (chronology/details.py keeps them since):
# the account as last corrected, its white space collapsed, its first 160 characters and "…" where
# cut; the latest outcome's label.
OUTCOME_LABELS = {"no_further_action": "No further action — record is sufficient", "monitoring": "Monitoring",
                  "support_in_school": "Support in school", "referral_made": "Referral made",
                  "escalated": "Escalated", "other": "Other"}


def _excerpt(account: str) -> str:
    text = re.sub("[ \t\n\r\f\v]+", " ", account).strip(" ")
    return text if len(text) <= 160 else text[:160].rstrip(" ") + "…"


def _fill_in_lines(conn) -> None:
    accounts = dict(conn.execute(sa.text("SELECT id, account FROM incidents")).all())
    for incident_id, value in conn.execute(sa.text("SELECT incident_id, new_value FROM amendments "
                                                   "WHERE field = 'account' ORDER BY id")):
        accounts[incident_id] = value
    outcomes = {}
    for incident_id, outcome_type in conn.execute(sa.text("SELECT incident_id, outcome_type FROM outcomes "
                                                          "ORDER BY recorded_at, id")):
        outcomes[incident_id] = OUTCOME_LABELS.get(outcome_type, outcome_type)
    names = dict(conn.execute(sa.text("SELECT id, recorded_by_name FROM incidents")).all())
    rows = [{"i": i, "e": _excerpt(account), "r": names[i], "o": outcomes.get(i)} for i, account in accounts.items()]
    if rows:
        conn.execute(sa.text("UPDATE chronology SET excerpt = :e, recorded_by_name = :r, outcome = :o "
                             "WHERE incident_id = :i AND entry_type = 'incident'"), rows)


def downgrade() -> None:
    with op.batch_alter_table('chronology', schema=None) as batch_op:
        batch_op.drop_column('outcome')
        batch_op.drop_column('recorded_by_name')
        batch_op.drop_column('excerpt')
    op.drop_index('ix_incidents_school_recorded', table_name='incidents')
    op.drop_table('incident_summaries')
    with op.batch_alter_table('pupils', schema=None) as batch_op:
        batch_op.drop_column('early_help')

"""each document records which master key wrapped its data key; uploads under way are recorded first

Revision ID: 5d0e1f2a3b4c
Revises: 4c9d0e1f2a3b
Create Date: 2026-12-01 04:00:00

Existing rows get no key id (NULL): a migration runs without the master key, and cannot know whether
the key in use now is the one that wrapped them. The vault tries each key it holds for such a row, and
`python -m services.documents.keys rotate` re-wraps them and records the current key's id.
"""
from alembic import op
import sqlalchemy as sa

revision = '5d0e1f2a3b4c'
down_revision = '4c9d0e1f2a3b'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('documents') as batch:
        batch.add_column(sa.Column('key_id', sa.String(length=16), nullable=True))
    op.create_table(
        'pending_uploads',
        sa.Column('storage_key', sa.String(length=300), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('storage_key'),
    )
    op.create_index('ix_pending_uploads_started_at', 'pending_uploads', ['started_at'])


def downgrade() -> None:
    op.drop_index('ix_pending_uploads_started_at', table_name='pending_uploads')
    op.drop_table('pending_uploads')
    with op.batch_alter_table('documents') as batch:
        batch.drop_column('key_id')

"""core outbox: claims (claimed_by, claimed_until) so two workers never deliver one message twice,
an index for each destination's due messages, and the per-destination delivery state (backoff)

Revision ID: 0006_core_outbox
Revises: 0005_core_search
Create Date: 2026-12-06 09:20:00
"""
import sqlalchemy as sa
from alembic import op

import crmcore.db

revision = '0006_core_outbox'
down_revision = '0005_core_search'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('claimed_until', crmcore.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_outbox_destination_due', ['destination', 'status', 'next_attempt_at', 'id'],
                              unique=False)
    op.create_table('outbox_destinations',
                    sa.Column('name', sa.String(length=64), nullable=False),
                    sa.Column('failures', sa.Integer(), nullable=False),
                    sa.Column('paused_until', crmcore.db.UTCDateTime(timezone=True), nullable=True),
                    sa.Column('last_error', sa.Text(), nullable=True),
                    sa.PrimaryKeyConstraint('name', name=op.f('pk_outbox_destinations')))


def downgrade() -> None:
    op.drop_table('outbox_destinations')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_destination_due')
        batch_op.drop_column('claimed_until')
        batch_op.drop_column('claimed_by')

"""service: the portal's rate-limit counters move to the core's rate_limit_hits

Revision ID: 0003_service_drop_portal_hits
Revises: 0002_service
Create Date: 2026-12-06 06:40:00
"""
from alembic import op
import sqlalchemy as sa
import crmcore.db


revision = '0003_service_drop_portal_hits'
down_revision = '0002_service'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # counts of at most one window: nothing worth moving
    with op.batch_alter_table('service_portal_hits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_portal_hits_window_start'))
    op.drop_table('service_portal_hits')


def downgrade() -> None:
    op.create_table('service_portal_hits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bucket', sa.String(length=64), nullable=False),
    sa.Column('window_start', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_portal_hits')),
    sa.UniqueConstraint('bucket', 'window_start', name='uq_service_portal_hits_bucket_window')
    )
    with op.batch_alter_table('service_portal_hits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_portal_hits_window_start'), ['window_start'], unique=False)

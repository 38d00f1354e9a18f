"""service: SLA pause history and the customer's language on tickets, portal rate-limit counters

Revision ID: 0002_service
Revises: 0001_service
Create Date: 2026-12-02 15:20:00
"""
from alembic import op
import sqlalchemy as sa
import crmcore.db


revision = '0002_service'
down_revision = '0001_service'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('service_tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resolution_started_at', crmcore.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('sla_pauses', sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column('customer_locale', sa.String(length=8), nullable=True))
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


def downgrade() -> None:
    with op.batch_alter_table('service_portal_hits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_portal_hits_window_start'))
    op.drop_table('service_portal_hits')
    with op.batch_alter_table('service_tickets', schema=None) as batch_op:
        batch_op.drop_column('customer_locale')
        batch_op.drop_column('sla_pauses')
        batch_op.drop_column('resolution_started_at')

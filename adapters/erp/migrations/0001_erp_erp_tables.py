"""erp tables: connections, sync runs, sync issues, the ERP's invoices per customer

Revision ID: 0001_erp
Revises:
Create Date: 2026-12-02 14:40:00
"""
from alembic import op
import sqlalchemy as sa
import crmcore.db


revision = '0001_erp'
down_revision = None
branch_labels = ('erp',)
depends_on = '0001_core'


def upgrade() -> None:
    op.create_table('erp_connections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('adapter', sa.String(length=32), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('secret', sa.Text(), nullable=True),
    sa.Column('streams', sa.JSON(), nullable=False),
    sa.Column('ownership', sa.JSON(), nullable=False),
    sa.Column('overlap_seconds', sa.Integer(), nullable=False),
    sa.Column('timeout_seconds', sa.Integer(), nullable=False),
    sa.Column('page_size', sa.Integer(), nullable=False),
    sa.Column('push_enabled', sa.Boolean(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('last_test_at', crmcore.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_test_result', sa.String(length=255), nullable=True),
    sa.Column('created_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erp_connections')),
    sa.UniqueConstraint('name', name=op.f('uq_erp_connections_name'))
    )
    op.create_table('erp_sync_issues',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection', sa.String(length=64), nullable=False),
    sa.Column('stream', sa.String(length=32), nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=True),
    sa.Column('entity_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', crmcore.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erp_sync_issues'))
    )
    op.create_index('ix_erp_sync_issues_open', 'erp_sync_issues', ['status', 'connection', 'stream'], unique=False)
    op.create_table('erp_sync_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection', sa.String(length=64), nullable=False),
    sa.Column('stream', sa.String(length=32), nullable=False),
    sa.Column('started_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', crmcore.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('read', sa.Integer(), nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('deleted', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erp_sync_runs'))
    )
    op.create_index('ix_erp_sync_runs_stream', 'erp_sync_runs', ['connection', 'stream', 'started_at'], unique=False)
    op.create_table('erp_invoices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection', sa.String(length=64), nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('invoice_date', sa.Date(), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount_total', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('amount_due', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('updated_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_erp_invoices_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erp_invoices')),
    sa.UniqueConstraint('connection', 'external_id', name='uq_erp_invoices_external')
    )
    op.create_index(op.f('ix_erp_invoices_customer_id'), 'erp_invoices', ['customer_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_erp_invoices_customer_id'), table_name='erp_invoices')
    op.drop_table('erp_invoices')
    op.drop_index('ix_erp_sync_runs_stream', table_name='erp_sync_runs')
    op.drop_table('erp_sync_runs')
    op.drop_index('ix_erp_sync_issues_open', table_name='erp_sync_issues')
    op.drop_table('erp_sync_issues')
    op.drop_table('erp_connections')

"""erp: the field values each linked record last had in the ERP (the base of ownership decisions)

Revision ID: 0002_erp
Revises: 0001_erp
Create Date: 2026-12-06 06:30:00
"""
from alembic import op
import sqlalchemy as sa
import crmcore.db


revision = '0002_erp'
down_revision = '0001_erp'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('erp_synced_values',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection', sa.String(length=64), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=False),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.Column('updated_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erp_synced_values')),
    sa.UniqueConstraint('connection', 'entity', 'entity_id', name='uq_erp_synced_values_record')
    )


def downgrade() -> None:
    op.drop_table('erp_synced_values')

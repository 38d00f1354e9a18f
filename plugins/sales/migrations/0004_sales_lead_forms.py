"""Sales: lead forms a marketer sets up in the admin and embeds on the website

Revision ID: 0004_sales_lead_forms
Revises: 0003_sales_order_keyset
Create Date: 2026-12-06 12:30:00
"""
import sqlalchemy as sa
from alembic import op

import crmcore.db


revision = '0004_sales_lead_forms'
down_revision = '0003_sales_order_keyset'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sales_lead_forms',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('title', sa.String(length=255), nullable=False),
        sa.Column('intro', sa.Text(), nullable=True),
        sa.Column('asked', sa.JSON(), nullable=False),
        sa.Column('consent_text', sa.Text(), nullable=True),
        sa.Column('thank_you_title', sa.String(length=255), nullable=True),
        sa.Column('thank_you_text', sa.Text(), nullable=True),
        sa.Column('campaign', sa.String(length=120), nullable=True),
        sa.Column('owner_id', sa.Integer(), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('submissions', sa.Integer(), nullable=False),
        sa.Column('created_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_sales_lead_forms_owner_id_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sales_lead_forms')),
        sa.UniqueConstraint('key', name=op.f('uq_sales_lead_forms_key')),
        sa.UniqueConstraint('name', name=op.f('uq_sales_lead_forms_name')),
    )


def downgrade() -> None:
    op.drop_table('sales_lead_forms')

"""Sales: coupon programmes, their codes, their uses on orders; an order's coupon and its discount

Revision ID: 0005_sales_coupons
Revises: 0004_sales_lead_forms
Create Date: 2026-12-06 15:45:00
"""
import sqlalchemy as sa
from alembic import op

import crmcore.db


revision = '0005_sales_coupons'
down_revision = '0004_sales_lead_forms'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sales_coupon_programmes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('code_kind', sa.String(length=8), nullable=False),
        sa.Column('discount_kind', sa.String(length=8), nullable=False),
        sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('min_spend', sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column('product_ids', sa.JSON(), nullable=False),
        sa.Column('categories', sa.JSON(), nullable=False),
        sa.Column('valid_from', sa.Date(), nullable=True),
        sa.Column('valid_until', sa.Date(), nullable=True),
        sa.Column('per_customer_limit', sa.Integer(), nullable=True),
        sa.Column('usage_limit', sa.Integer(), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sales_coupon_programmes')),
        sa.UniqueConstraint('name', name=op.f('uq_sales_coupon_programmes_name')),
    )
    op.create_table(
        'sales_coupons',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('programme_id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=32), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=True),
        sa.Column('max_uses', sa.Integer(), nullable=True),
        sa.Column('source', sa.String(length=32), nullable=False),
        sa.Column('batch', sa.String(length=64), nullable=True),
        sa.Column('created_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_sales_coupons_customer_id_customers'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['programme_id'], ['sales_coupon_programmes.id'],
                                name=op.f('fk_sales_coupons_programme_id_sales_coupon_programmes'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sales_coupons')),
        sa.UniqueConstraint('code', name=op.f('uq_sales_coupons_code')),
    )
    op.create_index(op.f('ix_sales_coupons_customer_id'), 'sales_coupons', ['customer_id'])
    op.create_index(op.f('ix_sales_coupons_programme_id'), 'sales_coupons', ['programme_id'])
    op.create_table(
        'sales_coupon_redemptions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('coupon_id', sa.Integer(), nullable=False),
        sa.Column('programme_id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('discount', sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column('order_total', sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('created_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('released_at', crmcore.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['coupon_id'], ['sales_coupons.id'],
                                name=op.f('fk_sales_coupon_redemptions_coupon_id_sales_coupons'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'],
                                name=op.f('fk_sales_coupon_redemptions_customer_id_customers'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['order_id'], ['sales_orders.id'],
                                name=op.f('fk_sales_coupon_redemptions_order_id_sales_orders'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['programme_id'], ['sales_coupon_programmes.id'],
                                name=op.f('fk_sales_coupon_redemptions_programme_id_sales_coupon_programmes'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sales_coupon_redemptions')),
    )
    op.create_index(op.f('ix_sales_coupon_redemptions_coupon_id'), 'sales_coupon_redemptions', ['coupon_id'])
    op.create_index(op.f('ix_sales_coupon_redemptions_customer_id'), 'sales_coupon_redemptions', ['customer_id'])
    op.create_index(op.f('ix_sales_coupon_redemptions_programme_id'), 'sales_coupon_redemptions', ['programme_id'])
    op.create_index('ix_sales_coupon_redemptions_order_released', 'sales_coupon_redemptions',
                    ['order_id', 'released_at'])
    with op.batch_alter_table('sales_orders') as batch:
        batch.add_column(sa.Column('coupon_code', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('coupon_discount', sa.Numeric(precision=18, scale=2), nullable=False,
                                   server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('sales_orders') as batch:
        batch.drop_column('coupon_discount')
        batch.drop_column('coupon_code')
    op.drop_index('ix_sales_coupon_redemptions_order_released', table_name='sales_coupon_redemptions')
    op.drop_table('sales_coupon_redemptions')
    op.drop_table('sales_coupons')
    op.drop_table('sales_coupon_programmes')

"""sales orders: the index the order list pages through by keyset (newest first)

Revision ID: 0003_sales_order_keyset
Revises: 0002_sales_metric_conditions
Create Date: 2026-12-06 09:30:00
"""
from alembic import op


revision = '0003_sales_order_keyset'
down_revision = '0002_sales_metric_conditions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_sales_orders_date_id", "sales_orders", ["order_date", "id"])


def downgrade() -> None:
    op.drop_index("ix_sales_orders_date_id", "sales_orders")

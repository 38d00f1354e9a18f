"""sales: an index on the currency of orders, quotes, invoices, payments and opportunities

A report checks once per run whether every row of the money's table is in the base currency (then it needs
no conversion); with these indexes that is two look-ups at the index's ends instead of a scan of the table.

Revision ID: 0006_sales_currency_indexes
Revises: 0005_sales_coupons
Create Date: 2026-12-06 20:10:00
"""
from alembic import op


revision = '0006_sales_currency_indexes'
down_revision = '0005_sales_coupons'
branch_labels = None
depends_on = None

TABLES = ("sales_orders", "sales_quotes", "sales_invoices", "sales_payments", "sales_opportunities")


def upgrade() -> None:
    for table in TABLES:
        op.create_index(f"ix_{table}_currency", table, ["currency"])


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_currency", table)

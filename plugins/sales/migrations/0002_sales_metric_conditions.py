"""Sales metrics: conditions in the core's condition language (is_null on text kept to NULL only)

Revision ID: 0002_sales_metric_conditions
Revises: 0001_sales
Create Date: 2026-12-06 07:20:00
"""
from alembic import op

from crmcore.conditions.migrate import rewrite_column
from crmcore.conditions.upgrade import upgrade_compiled


revision = '0002_sales_metric_conditions'
down_revision = '0001_sales'
branch_labels = None
depends_on = None

# the text fields of each metric entity when the metrics had their own compiler
TEXT_FIELDS = {
    "opportunity": ("competitor", "currency", "lost_reason", "name", "source_channel", "status"),
    "order": ("currency", "source", "status"), "invoice": ("currency", "state"),
    "activity": ("kind", "outcome", "status"), "lead": ("campaign", "currency", "source_channel", "status"),
    "quote": ("currency", "status"), "expense": ("category", "currency"),
}


def upgrade() -> None:
    rewrite_column(op.get_bind(), "sales_metrics", "conditions",
                   lambda row, cond: upgrade_compiled(cond, TEXT_FIELDS.get(row["entity"], ()), three_valued=False),
                   extra="entity")


def downgrade() -> None:
    pass  # the rewritten conditions are valid and select the same records in the old form too

"""Analysis tag rules: conditions in the core's condition language (same customers selected)

Revision ID: 0003_analysis_tag_rule_conditions
Revises: 0002_analysis_clv_names
Create Date: 2026-12-06 07:20:00
"""
from alembic import op

from crmcore.conditions.migrate import rewrite_column
from crmcore.conditions.upgrade import upgrade_compiled


revision = '0003_analysis_tag_rule_conditions'
down_revision = '0002_analysis_clv_names'
branch_labels = None
depends_on = None


def upgrade() -> None:
    rewrite_column(op.get_bind(), "analysis_tag_rules", "conditions",
                   lambda row, cond: upgrade_compiled(cond, ("segment",), three_valued=True))


def downgrade() -> None:
    pass  # the rewritten conditions are valid and select the same customers in the old form too

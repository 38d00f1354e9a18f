"""core conditions: workflow conditions, transition guards and approval-tier conditions in the one
condition language (is_null takes true/false; in/not_in lists hold at most 100 plain values)

Revision ID: 0004_core_conditions
Revises: 0003_core_security
Create Date: 2026-12-06 07:20:00
"""
from alembic import op

from crmcore.conditions.migrate import rewrite_column
from crmcore.conditions.upgrade import upgrade_evaluated


revision = '0004_core_conditions'
down_revision = '0003_core_security'
branch_labels = None
depends_on = None

COLUMNS = (("workflow_definitions", "condition"), ("workflow_transitions", "guard"), ("approval_tiers", "condition"))


def upgrade() -> None:
    conn = op.get_bind()
    for table, column in COLUMNS:
        rewrite_column(conn, table, column, lambda row, cond: upgrade_evaluated(cond))


def downgrade() -> None:
    pass  # the rewritten conditions select the same records under the old interpreter too

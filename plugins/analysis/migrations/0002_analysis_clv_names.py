"""CLV scores: name the BG/NBD inputs apart from RFM's (repeat_purchases, t_x_days); P(alive) is
empty for one-time buyers (the model cannot tell them apart from live customers)

Revision ID: 0002_analysis_clv_names
Revises: 0001_analysis
Create Date: 2026-12-06 06:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_analysis_clv_names'
down_revision = '0001_analysis'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('analysis_clv_scores', schema=None) as batch_op:
        batch_op.alter_column('frequency', new_column_name='repeat_purchases', existing_type=sa.Integer(),
                              existing_nullable=False)
        batch_op.alter_column('recency_days', new_column_name='t_x_days', existing_type=sa.Integer(),
                              existing_nullable=False)
        batch_op.alter_column('p_alive', existing_type=sa.Float(), nullable=True)
    op.execute("UPDATE analysis_clv_scores SET p_alive = NULL WHERE repeat_purchases = 0")


def downgrade() -> None:
    op.execute("UPDATE analysis_clv_scores SET p_alive = 1.0 WHERE p_alive IS NULL")
    with op.batch_alter_table('analysis_clv_scores', schema=None) as batch_op:
        batch_op.alter_column('p_alive', existing_type=sa.Float(), nullable=False)
        batch_op.alter_column('t_x_days', new_column_name='recency_days', existing_type=sa.Integer(),
                              existing_nullable=False)
        batch_op.alter_column('repeat_purchases', new_column_name='frequency', existing_type=sa.Integer(),
                              existing_nullable=False)

"""loyalty: the loyalty_points ledger

The first revision of the plugin's own Alembic branch: ``branch_labels`` is the plugin's name
and it ``depends_on`` the core's first revision (its table points at ``customers``).

Revision ID: 0001_loyalty
Revises:
Create Date: 2026-11-23 10:00:00
"""
from alembic import op
import sqlalchemy as sa

import crmcore.db

revision = "0001_loyalty"
down_revision = None
branch_labels = ("loyalty",)
depends_on = "0001_core"


def upgrade() -> None:
    op.create_table(
        "loyalty_points",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", crmcore.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_loyalty_points_customer_id_customers"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_points")),
        sa.UniqueConstraint("event_id", name=op.f("uq_loyalty_points_event_id")),
    )
    with op.batch_alter_table("loyalty_points", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loyalty_points_customer_id"), ["customer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("loyalty_points", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loyalty_points_customer_id"))
    op.drop_table("loyalty_points")

"""core change stamps: a counter per kind of configuration (custom fields), bumped with each change, so a process
reads the configuration again only when it changed

Revision ID: 0009_core_change_stamps
Revises: 0008_core_identities
Create Date: 2026-12-07 06:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009_core_change_stamps'
down_revision = '0008_core_identities'
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table('change_stamps',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_change_stamps'))
    )
    op.bulk_insert(table, [{'name': 'custom_fields', 'version': 0}])


def downgrade() -> None:
    op.drop_table('change_stamps')

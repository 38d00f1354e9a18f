"""channel accounts get a version (optimistic locking: ETag / If-Match in /api/v1/channels/accounts)

Revision ID: 0002_channels_account_version
Revises: 0001_channels
Create Date: 2026-12-06 19:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_channels_account_version'
down_revision = '0001_channels'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('channel_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='1'))


def downgrade() -> None:
    with op.batch_alter_table('channel_accounts', schema=None) as batch_op:
        batch_op.drop_column('version')

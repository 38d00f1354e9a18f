"""service: the hash of a portal requester's pending e-mail confirmation

Revision ID: 0004_service_email_verification
Revises: 0003_service_drop_portal_hits
Create Date: 2026-12-06 06:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004_service_email_verification'
down_revision = '0003_service_drop_portal_hits'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('service_tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_verify_hash', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('service_tickets', schema=None) as batch_op:
        batch_op.drop_column('email_verify_hash')

"""Service tickets: the requester's phone and WeChat id (the portal asks for them)

Revision ID: 0005_service_requester_contact
Revises: 0004_service_email_verification
Create Date: 2026-12-06 12:20:00
"""
import sqlalchemy as sa
from alembic import op


revision = '0005_service_requester_contact'
down_revision = '0004_service_email_verification'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('service_tickets') as batch:
        batch.add_column(sa.Column('requester_phone', sa.String(length=40), nullable=True))
        batch.add_column(sa.Column('requester_wechat', sa.String(length=120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('service_tickets') as batch:
        batch.drop_column('requester_wechat')
        batch.drop_column('requester_phone')

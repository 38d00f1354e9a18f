"""marketing: what a bounce or a reply said (the DSN's status and failed recipient, the reply's subject)

Revision ID: 0004_marketing_consent
Revises: 0002_marketing_ab_tests
Create Date: 2026-12-06 15:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004_marketing_consent'
down_revision = '0002_marketing_ab_tests'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('marketing_events') as batch:
        batch.add_column(sa.Column('detail', sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('marketing_events') as batch:
        batch.drop_column('detail')

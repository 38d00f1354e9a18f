"""core identities: a customer's ids on messaging platforms (openid, unionid, WeCom, QQ, Weibo)

Revision ID: 0008_core_identities
Revises: 0007_core_jobs
Create Date: 2026-12-06 15:40:00
"""
from alembic import op
import sqlalchemy as sa
import crmcore.db


revision = '0008_core_identities'
down_revision = '0007_core_jobs'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('customer_identities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=32), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=128), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('created_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_identities_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_identities')),
    sa.UniqueConstraint('platform', 'account', 'value', name='uq_customer_identities_key')
    )
    with op.batch_alter_table('customer_identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_identities_customer_id'), ['customer_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('customer_identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_identities_customer_id'))
    op.drop_table('customer_identities')

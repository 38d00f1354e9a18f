"""social tables: referral codes, referrals, the programme, rewards, social values

Revision ID: 0001_social
Revises:
Create Date: 2026-12-06 15:45:00
"""
from alembic import op
import sqlalchemy as sa
import crmcore.db


revision = '0001_social'
down_revision = None
branch_labels = ('social',)
depends_on = ('0001_core', '0001_sales')


def upgrade() -> None:
    op.create_table('social_referral_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_social_referral_codes_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_social_referral_codes_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_social_referral_codes')),
    sa.UniqueConstraint('code', name=op.f('uq_social_referral_codes_code'))
    )
    op.create_index(op.f('ix_social_referral_codes_customer_id'), 'social_referral_codes', ['customer_id'], unique=False)
    op.create_index(op.f('ix_social_referral_codes_user_id'), 'social_referral_codes', ['user_id'], unique=False)
    op.create_table('social_referrals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_id', sa.Integer(), nullable=True),
    sa.Column('referrer_customer_id', sa.Integer(), nullable=True),
    sa.Column('referrer_user_id', sa.Integer(), nullable=True),
    sa.Column('referee_customer_id', sa.Integer(), nullable=True),
    sa.Column('lead_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('device', sa.String(length=64), nullable=True),
    sa.Column('created_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['code_id'], ['social_referral_codes.id'], name=op.f('fk_social_referrals_code_id_social_referral_codes'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['lead_id'], ['sales_leads.id'], name=op.f('fk_social_referrals_lead_id_sales_leads'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['referee_customer_id'], ['customers.id'], name=op.f('fk_social_referrals_referee_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['referrer_customer_id'], ['customers.id'], name=op.f('fk_social_referrals_referrer_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['referrer_user_id'], ['users.id'], name=op.f('fk_social_referrals_referrer_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_social_referrals')),
    sa.UniqueConstraint('lead_id', name=op.f('uq_social_referrals_lead_id')),
    sa.UniqueConstraint('referee_customer_id', name=op.f('uq_social_referrals_referee_customer_id'))
    )
    op.create_index(op.f('ix_social_referrals_referrer_customer_id'), 'social_referrals', ['referrer_customer_id'], unique=False)
    op.create_table('social_programme',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('reward_kind', sa.String(length=16), nullable=False),
    sa.Column('referrer_points', sa.Integer(), nullable=False),
    sa.Column('referee_points', sa.Integer(), nullable=False),
    sa.Column('coupon_programme_id', sa.Integer(), nullable=True),
    sa.Column('return_window_days', sa.Integer(), nullable=False),
    sa.Column('decay', sa.Numeric(precision=4, scale=3), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_social_programme'))
    )
    op.create_table('social_rewards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('referral_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('points', sa.Integer(), nullable=True),
    sa.Column('coupon_code', sa.String(length=32), nullable=True),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('due_at', crmcore.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_at', crmcore.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_social_rewards_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['order_id'], ['sales_orders.id'], name=op.f('fk_social_rewards_order_id_sales_orders'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['referral_id'], ['social_referrals.id'], name=op.f('fk_social_rewards_referral_id_social_referrals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_social_rewards'))
    )
    op.create_index(op.f('ix_social_rewards_customer_id'), 'social_rewards', ['customer_id'], unique=False)
    op.create_index(op.f('ix_social_rewards_referral_id'), 'social_rewards', ['referral_id'], unique=False)
    op.create_table('social_values',
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('social_value', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('referral_count', sa.Integer(), nullable=False),
    sa.Column('referral_reach', sa.Integer(), nullable=False),
    sa.Column('computed_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_social_values_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_social_values'))
    )


def downgrade() -> None:
    op.drop_table('social_values')
    op.drop_index(op.f('ix_social_rewards_referral_id'), table_name='social_rewards')
    op.drop_index(op.f('ix_social_rewards_customer_id'), table_name='social_rewards')
    op.drop_table('social_rewards')
    op.drop_table('social_programme')
    op.drop_index(op.f('ix_social_referrals_referrer_customer_id'), table_name='social_referrals')
    op.drop_table('social_referrals')
    op.drop_index(op.f('ix_social_referral_codes_user_id'), table_name='social_referral_codes')
    op.drop_index(op.f('ix_social_referral_codes_customer_id'), table_name='social_referral_codes')
    op.drop_table('social_referral_codes')

"""channels tables: channel accounts, inbound messages, callback nonces

Revision ID: 0001_channels
Revises:
Create Date: 2026-12-06 15:40:00
"""
from alembic import op
import sqlalchemy as sa
import crmcore.db


revision = '0001_channels'
down_revision = None
branch_labels = ('channels',)
depends_on = '0008_core_identities'


def upgrade() -> None:
    op.create_table('channel_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('open_tickets', sa.Boolean(), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('secrets', sa.JSON(), nullable=False),
    sa.Column('updated_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_accounts')),
    sa.UniqueConstraint('platform', 'account', name='uq_channel_accounts_key')
    )
    op.create_table('channel_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('msg_id', sa.String(length=128), nullable=False),
    sa.Column('sender', sa.String(length=255), nullable=False),
    sa.Column('unionid', sa.String(length=128), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('event', sa.String(length=64), nullable=True),
    sa.Column('scene', sa.String(length=128), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('received_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('matched_by', sa.String(length=32), nullable=True),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('interaction_id', sa.Integer(), nullable=True),
    sa.Column('lead_id', sa.Integer(), nullable=True),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('raw', sa.JSON(), nullable=False),
    sa.Column('created_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_channel_messages_customer_id_customers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['interaction_id'], ['interactions.id'], name=op.f('fk_channel_messages_interaction_id_interactions'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_messages')),
    sa.UniqueConstraint('platform', 'account', 'msg_id', name='uq_channel_messages_key')
    )
    with op.batch_alter_table('channel_messages', schema=None) as batch_op:
        batch_op.create_index('ix_channel_messages_status_id', ['status', 'id'], unique=False)
        batch_op.create_index('ix_channel_messages_sender', ['platform', 'account', 'sender'], unique=False)
        batch_op.create_index(batch_op.f('ix_channel_messages_customer_id'), ['customer_id'], unique=False)
    op.create_table('channel_nonces',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('nonce', sa.String(length=128), nullable=False),
    sa.Column('seen_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_nonces')),
    sa.UniqueConstraint('platform', 'account', 'nonce', name='uq_channel_nonces_key')
    )
    with op.batch_alter_table('channel_nonces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_channel_nonces_seen_at'), ['seen_at'], unique=False)


def downgrade() -> None:
    op.drop_table('channel_nonces')
    with op.batch_alter_table('channel_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_channel_messages_customer_id'))
        batch_op.drop_index('ix_channel_messages_sender')
        batch_op.drop_index('ix_channel_messages_status_id')
    op.drop_table('channel_messages')
    op.drop_table('channel_accounts')

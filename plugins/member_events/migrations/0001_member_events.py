"""member events tables: events and their invitations

Revision ID: 0001_member_events
Revises:
Create Date: 2026-12-06 16:00:00
"""
import sqlalchemy as sa
from alembic import op

import crmcore.db


revision = '0001_member_events'
down_revision = None
branch_labels = ('member_events',)
depends_on = '0001_marketing'


def upgrade() -> None:
    op.create_table(
        'member_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('starts_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('ends_at', crmcore.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('timezone', sa.String(length=64), nullable=False),
        sa.Column('place', sa.String(length=255), nullable=False),
        sa.Column('capacity', sa.Integer(), nullable=True),
        sa.Column('audience_id', sa.Integer(), nullable=True),
        sa.Column('cancelled', sa.Boolean(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['audience_id'], ['marketing_audiences.id'],
                                name=op.f('fk_member_events_audience_id_marketing_audiences'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_member_events')),
        sa.UniqueConstraint('name', name=op.f('uq_member_events_name')),
    )
    op.create_table(
        'member_event_invitations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('response', sa.String(length=8), nullable=False),
        sa.Column('responded_at', crmcore.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('checked_in_at', crmcore.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('checked_in_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['checked_in_by_id'], ['users.id'],
                                name=op.f('fk_member_event_invitations_checked_in_by_id_users'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'],
                                name=op.f('fk_member_event_invitations_customer_id_customers'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['event_id'], ['member_events.id'],
                                name=op.f('fk_member_event_invitations_event_id_member_events'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_member_event_invitations')),
        sa.UniqueConstraint('event_id', 'customer_id', name=op.f('uq_member_event_invitations_event_id')),
    )
    op.create_index(op.f('ix_member_event_invitations_customer_id'), 'member_event_invitations', ['customer_id'])
    op.create_index(op.f('ix_member_event_invitations_event_id'), 'member_event_invitations', ['event_id'])


def downgrade() -> None:
    op.drop_table('member_event_invitations')
    op.drop_table('member_events')

"""marketing tables: consents, suppressions, audiences, templates, campaigns, recipients, events

Revision ID: 0001_marketing
Revises:
Create Date: 2026-12-06 12:30:00
"""
from alembic import op
import sqlalchemy as sa
import crmcore.db


revision = '0001_marketing'
down_revision = None
branch_labels = ('marketing',)
depends_on = '0001_core'


def upgrade() -> None:
    op.create_table('marketing_audiences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('condition', sa.JSON(), nullable=True),
    sa.Column('exclude', sa.JSON(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marketing_audiences')),
    sa.UniqueConstraint('name', name=op.f('uq_marketing_audiences_name'))
    )
    op.create_table('marketing_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('html', sa.Text(), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marketing_templates')),
    sa.UniqueConstraint('name', name=op.f('uq_marketing_templates_name'))
    )
    op.create_table('marketing_campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('audience_id', sa.Integer(), nullable=True),
    sa.Column('template_id', sa.Integer(), nullable=True),
    sa.Column('holdout_percent', sa.Integer(), nullable=False),
    sa.Column('scheduled_at', crmcore.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('started_at', crmcore.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', crmcore.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['audience_id'], ['marketing_audiences.id'], name=op.f('fk_marketing_campaigns_audience_id_marketing_audiences'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_marketing_campaigns_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['template_id'], ['marketing_templates.id'], name=op.f('fk_marketing_campaigns_template_id_marketing_templates'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marketing_campaigns')),
    sa.UniqueConstraint('name', name=op.f('uq_marketing_campaigns_name'))
    )
    op.create_table('marketing_audience_members',
    sa.Column('audience_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('added_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['audience_id'], ['marketing_audiences.id'], name=op.f('fk_marketing_audience_members_audience_id_marketing_audiences'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_marketing_audience_members_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('audience_id', 'customer_id', name=op.f('pk_marketing_audience_members'))
    )
    op.create_index(op.f('ix_marketing_audience_members_customer_id'), 'marketing_audience_members', ['customer_id'], unique=False)
    op.create_table('marketing_consents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('recorded_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_marketing_consents_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_marketing_consents_recorded_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marketing_consents'))
    )
    op.create_index('ix_marketing_consents_latest', 'marketing_consents', ['customer_id', 'channel', 'purpose', 'id'], unique=False)
    op.create_table('marketing_recipients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=True),
    sa.Column('sent_at', crmcore.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['marketing_campaigns.id'], name=op.f('fk_marketing_recipients_campaign_id_marketing_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_marketing_recipients_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marketing_recipients')),
    sa.UniqueConstraint('campaign_id', 'customer_id', name=op.f('uq_marketing_recipients_campaign_id'))
    )
    op.create_index(op.f('ix_marketing_recipients_customer_id'), 'marketing_recipients', ['customer_id'], unique=False)
    op.create_index('ix_marketing_recipients_work', 'marketing_recipients', ['campaign_id', 'status', 'id'], unique=False)
    op.create_table('marketing_suppressions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('address', sa.String(length=255), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('created_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_marketing_suppressions_customer_id_customers'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marketing_suppressions')),
    sa.UniqueConstraint('channel', 'address', name=op.f('uq_marketing_suppressions_channel'))
    )
    op.create_table('marketing_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('recipient_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=True),
    sa.Column('at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['marketing_campaigns.id'], name=op.f('fk_marketing_events_campaign_id_marketing_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_marketing_events_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recipient_id'], ['marketing_recipients.id'], name=op.f('fk_marketing_events_recipient_id_marketing_recipients'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marketing_events'))
    )
    op.create_index('ix_marketing_events_campaign_kind', 'marketing_events', ['campaign_id', 'kind'], unique=False)
    op.create_index(op.f('ix_marketing_events_customer_id'), 'marketing_events', ['customer_id'], unique=False)


def downgrade() -> None:
    for table in ("marketing_events", "marketing_recipients", "marketing_campaigns", "marketing_audience_members",
                  "marketing_templates", "marketing_audiences", "marketing_suppressions", "marketing_consents"):
        op.drop_table(table)

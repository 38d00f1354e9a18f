"""marketing: journeys (trigger, versioned steps and branches, enrolments, step log, calendar dates); a campaign's
kind; a recipient's touch (a journey sends a customer more than one message)

Revision ID: 0003_marketing_journeys
Revises: 0002_marketing_ab_tests
Create Date: 2026-12-06 15:45:00
"""
from alembic import op
import sqlalchemy as sa
import crmcore.db


revision = '0003_marketing_journeys'
down_revision = '0002_marketing_ab_tests'
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f'{target}.id'], name=op.f(f'fk_{table}_{column}_{target}'),
                                   ondelete=ondelete)


def upgrade() -> None:
    with op.batch_alter_table('marketing_campaigns') as batch:
        batch.add_column(sa.Column('kind', sa.String(length=16), nullable=False, server_default='oneoff'))
    with op.batch_alter_table('marketing_recipients') as batch:
        batch.add_column(sa.Column('touch', sa.Integer(), nullable=False, server_default='0'))
        batch.drop_constraint('uq_marketing_recipients_campaign_id', type_='unique')
        batch.create_unique_constraint('uq_marketing_recipients_touch', ['campaign_id', 'customer_id', 'touch'])
    op.create_table(
        'marketing_journeys',
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('trigger', sa.String(length=16), nullable=False),
        sa.Column('audience_id', sa.Integer(), nullable=True),
        sa.Column('condition', sa.JSON(), nullable=True),
        sa.Column('recurring', sa.Boolean(), nullable=False),
        sa.Column('date_field', sa.String(length=64), nullable=True),
        sa.Column('offset_days', sa.Integer(), nullable=False),
        sa.Column('yearly', sa.Boolean(), nullable=False),
        sa.Column('calendar_rule', sa.String(length=16), nullable=True),
        sa.Column('month', sa.Integer(), nullable=True),
        sa.Column('day', sa.Integer(), nullable=True),
        sa.Column('nth', sa.Integer(), nullable=True),
        sa.Column('weekday', sa.Integer(), nullable=True),
        sa.Column('calendar_name', sa.String(length=64), nullable=True),
        sa.Column('event', sa.String(length=64), nullable=True),
        sa.Column('no_order_days', sa.Integer(), nullable=True),
        sa.Column('scanned_on', sa.Date(), nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        _fk('marketing_journeys', 'campaign_id', 'marketing_campaigns', 'CASCADE'),
        _fk('marketing_journeys', 'audience_id', 'marketing_audiences', 'SET NULL'),
        sa.PrimaryKeyConstraint('campaign_id', name=op.f('pk_marketing_journeys')),
    )
    op.create_table(
        'marketing_journey_steps',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('template_id', sa.Integer(), nullable=True),
        sa.Column('channel', sa.String(length=16), nullable=True),
        sa.Column('wait_days', sa.Integer(), nullable=True),
        sa.Column('wait_hours', sa.Integer(), nullable=True),
        sa.Column('wait_until', sa.DateTime(), nullable=True),
        sa.Column('condition', sa.JSON(), nullable=True),
        sa.Column('behaviour', sa.String(length=16), nullable=True),
        sa.Column('field', sa.String(length=64), nullable=True),
        sa.Column('value', sa.String(length=255), nullable=True),
        sa.Column('tag', sa.String(length=64), nullable=True),
        sa.Column('subject', sa.String(length=255), nullable=True),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('next_step_id', sa.Integer(), nullable=True),
        sa.Column('else_step_id', sa.Integer(), nullable=True),
        _fk('marketing_journey_steps', 'campaign_id', 'marketing_campaigns', 'CASCADE'),
        _fk('marketing_journey_steps', 'template_id', 'marketing_templates', 'SET NULL'),
        _fk('marketing_journey_steps', 'user_id', 'users', 'SET NULL'),
        _fk('marketing_journey_steps', 'next_step_id', 'marketing_journey_steps', 'SET NULL'),
        _fk('marketing_journey_steps', 'else_step_id', 'marketing_journey_steps', 'SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_marketing_journey_steps')),
        sa.UniqueConstraint('campaign_id', 'version', 'name', name=op.f('uq_marketing_journey_steps_campaign_id')),
    )
    op.create_table(
        'marketing_journey_branches',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('step_id', sa.Integer(), nullable=False),
        sa.Column('label', sa.String(length=16), nullable=False),
        sa.Column('share', sa.Integer(), nullable=False),
        sa.Column('next_step_id', sa.Integer(), nullable=True),
        _fk('marketing_journey_branches', 'step_id', 'marketing_journey_steps', 'CASCADE'),
        _fk('marketing_journey_branches', 'next_step_id', 'marketing_journey_steps', 'SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_marketing_journey_branches')),
        sa.UniqueConstraint('step_id', 'label', name=op.f('uq_marketing_journey_branches_step_id')),
    )
    op.create_index(op.f('ix_marketing_journey_branches_step_id'), 'marketing_journey_branches', ['step_id'])
    op.create_table(
        'marketing_enrolments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('entry', sa.String(length=64), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('step_id', sa.Integer(), nullable=True),
        sa.Column('next_run_at', crmcore.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('entered_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('left_at', crmcore.db.UTCDateTime(timezone=True), nullable=True),
        _fk('marketing_enrolments', 'campaign_id', 'marketing_campaigns', 'CASCADE'),
        _fk('marketing_enrolments', 'customer_id', 'customers', 'CASCADE'),
        _fk('marketing_enrolments', 'step_id', 'marketing_journey_steps', 'SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_marketing_enrolments')),
        sa.UniqueConstraint('campaign_id', 'customer_id', 'entry', name=op.f('uq_marketing_enrolments_campaign_id')),
    )
    op.create_index(op.f('ix_marketing_enrolments_customer_id'), 'marketing_enrolments', ['customer_id'])
    op.create_index('ix_marketing_enrolments_due', 'marketing_enrolments', ['state', 'next_run_at'])
    op.create_table(
        'marketing_step_log',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('enrolment_id', sa.Integer(), nullable=False),
        sa.Column('step_id', sa.Integer(), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('detail', sa.Text(), nullable=True),
        sa.Column('due_at', crmcore.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
        _fk('marketing_step_log', 'enrolment_id', 'marketing_enrolments', 'CASCADE'),
        _fk('marketing_step_log', 'step_id', 'marketing_journey_steps', 'CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_marketing_step_log')),
        sa.UniqueConstraint('enrolment_id', 'step_id', name=op.f('uq_marketing_step_log_enrolment_id')),
    )
    op.create_index(op.f('ix_marketing_step_log_step_id'), 'marketing_step_log', ['step_id'])
    op.create_table(
        'marketing_calendar_dates',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('date', sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_marketing_calendar_dates')),
        sa.UniqueConstraint('name', 'date', name=op.f('uq_marketing_calendar_dates_name')),
    )


def downgrade() -> None:
    op.drop_table('marketing_calendar_dates')
    op.drop_index(op.f('ix_marketing_step_log_step_id'), table_name='marketing_step_log')
    op.drop_table('marketing_step_log')
    op.drop_index('ix_marketing_enrolments_due', table_name='marketing_enrolments')
    op.drop_index(op.f('ix_marketing_enrolments_customer_id'), table_name='marketing_enrolments')
    op.drop_table('marketing_enrolments')
    op.drop_index(op.f('ix_marketing_journey_branches_step_id'), table_name='marketing_journey_branches')
    op.drop_table('marketing_journey_branches')
    op.drop_table('marketing_journey_steps')
    op.drop_table('marketing_journeys')
    with op.batch_alter_table('marketing_recipients') as batch:
        batch.drop_constraint('uq_marketing_recipients_touch', type_='unique')
        batch.create_unique_constraint('uq_marketing_recipients_campaign_id', ['campaign_id', 'customer_id'])
        batch.drop_column('touch')
    with op.batch_alter_table('marketing_campaigns') as batch:
        batch.drop_column('kind')

"""marketing: A/B/n tests (variants, the test share, metric and decision time, the winner; each recipient's variant)

Revision ID: 0002_marketing_ab_tests
Revises: 0001_marketing
Create Date: 2026-12-06 13:05:00
"""
from alembic import op
import sqlalchemy as sa
import crmcore.db


revision = '0002_marketing_ab_tests'
down_revision = '0001_marketing'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'marketing_variants',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('label', sa.String(length=16), nullable=False),
        sa.Column('template_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['campaign_id'], ['marketing_campaigns.id'],
                                name=op.f('fk_marketing_variants_campaign_id_marketing_campaigns'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['template_id'], ['marketing_templates.id'],
                                name=op.f('fk_marketing_variants_template_id_marketing_templates'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_marketing_variants')),
        sa.UniqueConstraint('campaign_id', 'label', name=op.f('uq_marketing_variants_campaign_id'))
    )
    with op.batch_alter_table('marketing_campaigns') as batch:
        batch.add_column(sa.Column('ab_test_percent', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('ab_metric', sa.String(length=16), nullable=False, server_default='clicked'))
        batch.add_column(sa.Column('ab_hours', sa.Integer(), nullable=False, server_default='24'))
        batch.add_column(sa.Column('ab_decided_at', crmcore.db.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('winner_variant_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_marketing_campaigns_winner_variant_id_marketing_variants', 'marketing_variants',
                                 ['winner_variant_id'], ['id'], ondelete='SET NULL')
    with op.batch_alter_table('marketing_recipients') as batch:
        batch.add_column(sa.Column('variant_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_marketing_recipients_variant_id_marketing_variants', 'marketing_variants',
                                 ['variant_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('marketing_recipients') as batch:
        batch.drop_constraint('fk_marketing_recipients_variant_id_marketing_variants', type_='foreignkey')
        batch.drop_column('variant_id')
    with op.batch_alter_table('marketing_campaigns') as batch:
        batch.drop_constraint('fk_marketing_campaigns_winner_variant_id_marketing_variants', type_='foreignkey')
        for column in ('winner_variant_id', 'ab_decided_at', 'ab_hours', 'ab_metric', 'ab_test_percent'):
            batch.drop_column(column)
    op.drop_table('marketing_variants')

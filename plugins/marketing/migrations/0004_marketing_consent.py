"""marketing: what a bounce or a reply said; templates per language and the language a customer reads

Revision ID: 0004_marketing_consent
Revises: 0002_marketing_ab_tests
Create Date: 2026-12-06 15:45:00
"""
from alembic import op
import sqlalchemy as sa
import crmcore.db


revision = '0004_marketing_consent'
down_revision = '0003_marketing_journeys'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('marketing_events') as batch:
        batch.add_column(sa.Column('detail', sa.String(length=255), nullable=True))
    op.create_table(
        'marketing_template_translations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('template_id', sa.Integer(), nullable=False),
        sa.Column('language', sa.String(length=16), nullable=False),
        sa.Column('subject', sa.String(length=255), nullable=False),
        sa.Column('html', sa.Text(), nullable=True),
        sa.Column('text', sa.Text(), nullable=True),
        sa.Column('updated_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['template_id'], ['marketing_templates.id'],
                                name=op.f('fk_marketing_template_translations_template_id_marketing_templates'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_marketing_template_translations')),
        sa.UniqueConstraint('template_id', 'language', name=op.f('uq_marketing_template_translations_template_id')),
    )
    op.create_table(
        'marketing_customer_languages',
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('language', sa.String(length=16), nullable=False),
        sa.Column('updated_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'],
                                name=op.f('fk_marketing_customer_languages_customer_id_customers'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_marketing_customer_languages')),
    )


def downgrade() -> None:
    op.drop_table('marketing_customer_languages')
    op.drop_table('marketing_template_translations')
    with op.batch_alter_table('marketing_events') as batch:
        batch.drop_column('detail')

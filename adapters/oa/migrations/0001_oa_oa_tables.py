"""oa tables: the OA callback inbox, remembered callback nonces, provider settings

The core's 0002_core_workflow created these tables until issue 14. In a database made then,
they exist (with their rows): this revision takes them over unchanged. In a new database it
creates them.

Revision ID: 0001_oa
Revises:
Create Date: 2026-12-06 07:10:00
"""
from alembic import op
import sqlalchemy as sa
import crmcore.db


revision = '0001_oa'
down_revision = None
branch_labels = ('oa',)
depends_on = '0002_core_workflow'  # after the core revision that may have created them


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if 'oa_callbacks' not in existing:
        op.create_table('oa_callbacks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('dedupe_key', sa.String(length=200), nullable=False),
        sa.Column('external_id', sa.String(length=128), nullable=True),
        sa.Column('event_type', sa.String(length=64), nullable=True),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('received_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('processed_at', crmcore.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_oa_callbacks')),
        sa.UniqueConstraint('dedupe_key', name=op.f('uq_oa_callbacks_dedupe_key'))
        )
        with op.batch_alter_table('oa_callbacks', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_oa_callbacks_status'), ['status'], unique=False)

    if 'oa_nonces' not in existing:
        op.create_table('oa_nonces',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('nonce', sa.String(length=128), nullable=False),
        sa.Column('seen_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_oa_nonces')),
        sa.UniqueConstraint('provider', 'nonce', name='uq_oa_nonces_nonce')
        )
        with op.batch_alter_table('oa_nonces', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_oa_nonces_seen_at'), ['seen_at'], unique=False)

    if 'oa_provider_settings' not in existing:
        op.create_table('oa_provider_settings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('config', sa.JSON(), nullable=False),
        sa.Column('secrets', sa.JSON(), nullable=False),
        sa.Column('updated_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_oa_provider_settings')),
        sa.UniqueConstraint('provider', name=op.f('uq_oa_provider_settings_provider'))
        )


def downgrade() -> None:
    op.drop_table('oa_provider_settings')
    with op.batch_alter_table('oa_nonces', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oa_nonces_seen_at'))

    op.drop_table('oa_nonces')
    with op.batch_alter_table('oa_callbacks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oa_callbacks_status'))

    op.drop_table('oa_callbacks')

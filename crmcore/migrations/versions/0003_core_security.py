"""core security: users.auth_version (ends sessions), rate-limit windows, failed-login counts

Revision ID: 0003_core_security
Revises: 0002_core_workflow
Create Date: 2026-12-06 06:30:00
"""
from alembic import op
import sqlalchemy as sa
import crmcore.db


revision = '0003_core_security'
down_revision = '0002_core_workflow'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('auth_version', sa.Integer(), server_default='0', nullable=False))
    op.create_table('rate_limit_hits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bucket', sa.String(length=64), nullable=False),
    sa.Column('window_start', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('window_end', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_limit_hits')),
    sa.UniqueConstraint('bucket', 'window_start', name='uq_rate_limit_hits_bucket_window')
    )
    with op.batch_alter_table('rate_limit_hits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_limit_hits_window_end'), ['window_end'], unique=False)
    op.create_table('login_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('first_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('locked_until', crmcore.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failures')),
    sa.UniqueConstraint('key', name=op.f('uq_login_failures_key'))
    )
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_failures_locked_until'), ['locked_until'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_failures_locked_until'))
    op.drop_table('login_failures')
    with op.batch_alter_table('rate_limit_hits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rate_limit_hits_window_end'))
    op.drop_table('rate_limit_hits')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('auth_version')

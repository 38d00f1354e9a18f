"""core jobs: one row per job run (queued or periodic) with its progress, cancel request and outcome

Revision ID: 0007_core_jobs
Revises: 0006_core_outbox
Create Date: 2026-12-06 09:20:00
"""
from alembic import op
import sqlalchemy as sa
import crmcore.db


revision = '0007_core_jobs'
down_revision = '0006_core_outbox'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('job_executions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('backend', sa.String(length=16), nullable=False),
    sa.Column('engine_job_id', sa.Integer(), nullable=True),
    sa.Column('scheduled_for', crmcore.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('progress_done', sa.Integer(), nullable=False),
    sa.Column('progress_total', sa.Integer(), nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('worker', sa.String(length=120), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', crmcore.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', crmcore.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', crmcore.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_executions'))
    )
    with op.batch_alter_table('job_executions', schema=None) as batch_op:
        batch_op.create_index('ix_job_executions_status', ['status', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_job_executions_name'), ['name'], unique=False)
        batch_op.create_index(batch_op.f('ix_job_executions_engine_job_id'), ['engine_job_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('job_executions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_job_executions_engine_job_id'))
        batch_op.drop_index(batch_op.f('ix_job_executions_name'))
        batch_op.drop_index('ix_job_executions_status')
    op.drop_table('job_executions')

"""reports tables: report definitions and their shares

Revision ID: 0001_reports
Revises:
Create Date: 2026-12-06 15:45:00
"""
from alembic import op
import sqlalchemy as sa
import crmcore.db


revision = '0001_reports'
down_revision = None
branch_labels = ('reports',)
depends_on = '0001_core'


def upgrade() -> None:
    op.create_table('reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('entity', sa.String(length=64), nullable=False),
    sa.Column('filters', sa.JSON(), nullable=True),
    sa.Column('group_by', sa.JSON(), nullable=False),
    sa.Column('measures', sa.JSON(), nullable=False),
    sa.Column('sort', sa.String(length=16), nullable=False),
    sa.Column('sort_desc', sa.Boolean(), nullable=False),
    sa.Column('row_limit', sa.Integer(), nullable=False),
    sa.Column('display', sa.String(length=16), nullable=False),
    sa.Column('on_home', sa.Boolean(), nullable=False),
    sa.Column('schedule', sa.String(length=8), nullable=False),
    sa.Column('schedule_weekday', sa.Integer(), nullable=False),
    sa.Column('schedule_day', sa.Integer(), nullable=False),
    sa.Column('schedule_time', sa.String(length=5), nullable=False),
    sa.Column('last_sent_at', crmcore.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crmcore.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_reports_owner_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reports')),
    sa.UniqueConstraint('name', name=op.f('uq_reports_name'))
    )
    op.create_table('report_shares',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('role_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_report_shares_report_id_reports'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['role_id'], ['roles.id'], name=op.f('fk_report_shares_role_id_roles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_report_shares_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_shares')),
    sa.UniqueConstraint('report_id', 'role_id', 'user_id', name=op.f('uq_report_shares_report_id'))
    )
    op.create_index(op.f('ix_report_shares_report_id'), 'report_shares', ['report_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_report_shares_report_id'), table_name='report_shares')
    op.drop_table('report_shares')
    op.drop_table('reports')

"""Jobs: a priority (the queued job's place counts it), the outputs' retention and when they were
deleted; uploads listed per tenant, newest first

Revision ID: 0016
Revises: 0013
Create Date: 2026-12-07 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0016'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUED = sa.text("status = 'queued'")
OUTPUTS_DUE = sa.text("outputs_expire_at IS NOT NULL AND outputs_deleted_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('priority', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('output_retention_seconds', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('outputs_expire_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('outputs_deleted_at', sa.DateTime(timezone=True), nullable=True))
    op.drop_index('ix_jobs_queued_studio_created', table_name='jobs')
    op.create_index(
        'ix_jobs_queued_studio_priority',
        'jobs',
        ['studio', 'priority', 'created_at', 'id'],
        unique=False,
        postgresql_where=QUEUED,
        sqlite_where=QUEUED,
    )
    op.create_index(
        'ix_jobs_outputs_expire',
        'jobs',
        ['outputs_expire_at'],
        unique=False,
        postgresql_where=OUTPUTS_DUE,
        sqlite_where=OUTPUTS_DUE,
    )
    op.create_index('ix_uploads_tenant_created', 'uploads', ['tenant_id', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_uploads_tenant_created', table_name='uploads')
    op.drop_index('ix_jobs_outputs_expire', table_name='jobs')
    op.drop_index('ix_jobs_queued_studio_priority', table_name='jobs')
    op.create_index(
        'ix_jobs_queued_studio_created',
        'jobs',
        ['studio', 'created_at', 'id'],
        unique=False,
        postgresql_where=QUEUED,
        sqlite_where=QUEUED,
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('outputs_deleted_at')
        batch_op.drop_column('outputs_expire_at')
        batch_op.drop_column('output_retention_seconds')
        batch_op.drop_column('priority')

"""Jobs: a priority (the queued job's place counts it), the outputs' retention and when they were
deleted; uploads listed per tenant, newest first

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from imagestudio.migrations.blocks import QUEUED, add_columns, create_partial_index, drop_columns, integer, moment


revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTPUTS_DUE = sa.text("outputs_expire_at IS NOT NULL AND outputs_deleted_at IS NULL")


def upgrade() -> None:
    add_columns(
        'jobs',
        integer('priority', default='1'),
        integer('output_retention_seconds', null=True),
        moment('outputs_expire_at', null=True),
        moment('outputs_deleted_at', null=True),
    )
    op.drop_index('ix_jobs_queued_studio_created', table_name='jobs')
    create_partial_index('ix_jobs_queued_studio_priority', 'jobs', ['studio', 'priority', 'created_at', 'id'], QUEUED)
    create_partial_index('ix_jobs_outputs_expire', 'jobs', ['outputs_expire_at'], OUTPUTS_DUE)
    op.create_index('ix_uploads_tenant_created', 'uploads', ['tenant_id', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_uploads_tenant_created', table_name='uploads')
    op.drop_index('ix_jobs_outputs_expire', table_name='jobs')
    op.drop_index('ix_jobs_queued_studio_priority', table_name='jobs')
    create_partial_index('ix_jobs_queued_studio_created', 'jobs', ['studio', 'created_at', 'id'], QUEUED)
    drop_columns('jobs', 'outputs_deleted_at', 'outputs_expire_at', 'output_retention_seconds', 'priority')

"""Jobs: a start deadline (a job not started by then ends expired), and the indexes behind a queued
job's place in its studio's queue and its studio's recent start rate

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 10:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from imagestudio.migrations.blocks import QUEUED, add_columns, create_partial_index, drop_columns, moment


revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUED_WITH_DEADLINE = sa.text("status = 'queued' AND start_deadline IS NOT NULL")


def upgrade() -> None:
    add_columns('jobs', moment('start_deadline', null=True))
    create_partial_index('ix_jobs_queued_studio_created', 'jobs', ['studio', 'created_at', 'id'], QUEUED)
    op.create_index('ix_jobs_studio_started', 'jobs', ['studio', 'started_at'], unique=False)
    create_partial_index('ix_jobs_queued_deadline', 'jobs', ['start_deadline'], QUEUED_WITH_DEADLINE)


def downgrade() -> None:
    op.drop_index('ix_jobs_queued_deadline', table_name='jobs')
    op.drop_index('ix_jobs_studio_started', table_name='jobs')
    op.drop_index('ix_jobs_queued_studio_created', table_name='jobs')
    drop_columns('jobs', 'start_deadline')

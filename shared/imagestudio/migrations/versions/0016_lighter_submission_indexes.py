"""Fewer index entries per submission and per publish: two indexes made partial

``ix_jobs_studio_started`` holds started jobs only (a new job, not started, no longer adds an entry;
its two queries, ``started_since`` and ``claimed_after``, only ask for started jobs).
``ix_outbox_pending`` holds pending messages only, on ``id`` (the relay's claim marking a message
published no longer adds an entry; every query of it asks for ``published_at IS NULL``).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 23:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from imagestudio.migrations.blocks import create_partial_index

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STARTED = sa.text('started_at IS NOT NULL')
PENDING = sa.text('published_at IS NULL')


def upgrade() -> None:
    op.drop_index('ix_jobs_studio_started', table_name='jobs')
    create_partial_index('ix_jobs_studio_started', 'jobs', ['studio', 'started_at'], STARTED)
    op.drop_index('ix_outbox_pending', table_name='outbox')
    create_partial_index('ix_outbox_pending', 'outbox', ['id'], PENDING)


def downgrade() -> None:
    op.drop_index('ix_outbox_pending', table_name='outbox')
    op.create_index('ix_outbox_pending', 'outbox', ['published_at', 'id'], unique=False)
    op.drop_index('ix_jobs_studio_started', table_name='jobs')
    op.create_index('ix_jobs_studio_started', 'jobs', ['studio', 'started_at'], unique=False)

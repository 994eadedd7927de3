"""Job leases: the worker holding a running job and until when; re-stages by the sweeper

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_owner', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('restages', sa.Integer(), server_default='0', nullable=False))
        # The sweeper asks whether a studio's workers have claimed any job created after a given one.
        batch_op.create_index('ix_jobs_studio_created', ['studio', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_studio_created')
        batch_op.drop_column('restages')
        batch_op.drop_column('lease_until')
        batch_op.drop_column('lease_owner')

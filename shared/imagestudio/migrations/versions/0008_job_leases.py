"""Job leases: the worker holding a running job and until when; re-stages by the sweeper

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 09:00:00.000000
"""

from collections.abc import Sequence


from imagestudio.migrations.blocks import add_columns, create_indexes, drop_columns, drop_indexes, integer, moment, string


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_columns(
        'jobs',
        string('lease_owner', 120, null=True),
        moment('lease_until', null=True),
        integer('restages', default='0'),
    )
    # The sweeper asks whether a studio's workers have claimed any job created after a given one.
    create_indexes('jobs', {'ix_jobs_studio_created': ['studio', 'created_at']})


def downgrade() -> None:
    drop_indexes('jobs', ['ix_jobs_studio_created'])
    drop_columns('jobs', 'restages', 'lease_until', 'lease_owner')

"""Per-tenant overrides of the tier's rate and concurrency; rate-limit counters leave the database

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 10:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

from imagestudio.migrations.blocks import add_columns, create_rate_limit_windows, drop_columns, integer


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_columns('tenants', integer('requests_per_minute', null=True), integer('max_concurrent_jobs', null=True))
    # Counters now live in the `limits` storage (Redis or memory); the old windows are only counts.
    op.drop_table('rate_limit_windows')


def downgrade() -> None:
    create_rate_limit_windows()
    drop_columns('tenants', 'max_concurrent_jobs', 'requests_per_minute')

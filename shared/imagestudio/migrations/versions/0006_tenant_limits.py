"""Per-tenant overrides of the tier's rate and concurrency; rate-limit counters leave the database

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requests_per_minute', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('max_concurrent_jobs', sa.Integer(), nullable=True))

    # Counters now live in the `limits` storage (Redis or memory); the old windows are only counts.
    op.drop_table('rate_limit_windows')


def downgrade() -> None:
    op.create_table('rate_limit_windows',
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('window_start', sa.BigInteger(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_rate_limit_windows_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'name', 'window_start', name=op.f('pk_rate_limit_windows'))
    )

    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.drop_column('max_concurrent_jobs')
        batch_op.drop_column('requests_per_minute')

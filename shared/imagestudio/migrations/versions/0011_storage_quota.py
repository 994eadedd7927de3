"""Storage quotas: each tenant's stored bytes counted, a per-tenant override, assets swept by age

Creates ``storage_accounts`` and fills it with what every tenant stores today (the sum of its
upload and asset rows' bytes), adds ``tenants.max_stored_bytes`` (an override of the tier's
quota) and an index on ``assets.created_at`` for the retention sweeper.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('storage_accounts',
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('stored_bytes', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_storage_accounts_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_storage_accounts'))
    )
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_stored_bytes', sa.BigInteger(), nullable=True))
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.create_index('ix_assets_created_at', ['created_at'], unique=False)

    op.execute(
        "INSERT INTO storage_accounts (tenant_id, stored_bytes) "
        "SELECT tenant_id, SUM(size) FROM ("
        "SELECT tenant_id, bytes AS size FROM uploads UNION ALL SELECT tenant_id, bytes AS size FROM assets"
        ") AS stored GROUP BY tenant_id"
    )


def downgrade() -> None:
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_index('ix_assets_created_at')
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.drop_column('max_stored_bytes')
    op.drop_table('storage_accounts')

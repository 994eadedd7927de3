"""Storage quotas: each tenant's stored bytes counted, a per-tenant override, assets swept by age

Creates ``storage_accounts`` and fills it with what every tenant stores today (the sum of its
upload and asset rows' bytes), adds ``tenants.max_stored_bytes`` (an override of the tier's
quota) and an index on ``assets.created_at`` for the retention sweeper.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 07:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

from imagestudio.migrations.blocks import add_columns, big, create_indexes, drop_columns, drop_indexes, drop_table, tenant_record


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    tenant_record('storage_accounts', big('stored_bytes'))
    add_columns('tenants', big('max_stored_bytes', null=True))
    create_indexes('assets', {'ix_assets_created_at': ['created_at']})

    op.execute(
        "INSERT INTO storage_accounts (tenant_id, stored_bytes) "
        "SELECT tenant_id, SUM(size) FROM ("
        "SELECT tenant_id, bytes AS size FROM uploads UNION ALL SELECT tenant_id, bytes AS size FROM assets"
        ") AS stored GROUP BY tenant_id"
    )


def downgrade() -> None:
    drop_indexes('assets', ['ix_assets_created_at'])
    drop_columns('tenants', 'max_stored_bytes')
    drop_table('storage_accounts')

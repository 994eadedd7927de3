"""Credit accounts: each tenant's running balance, reserve and active jobs, backfilled from the ledger

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-01 03:40:00
"""

from collections.abc import Sequence

from alembic import op

from imagestudio.migrations.blocks import drop_table, integer, string, tenant_record


revision: str = '0005'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    tenant_record(
        'credit_accounts',
        integer('balance'),
        integer('reserved'),
        integer('active_jobs'),
        string('granted_month', 7),
    )
    # Every tenant gets its account, equal to its ledger's sums and its unfinished jobs.
    op.execute(
        """
        INSERT INTO credit_accounts (tenant_id, balance, reserved, active_jobs, granted_month)
        SELECT t.id,
               COALESCE((SELECT SUM(c.balance_delta) FROM credit_ledger c WHERE c.tenant_id = t.id), 0),
               COALESCE((SELECT SUM(c.reserved_delta) FROM credit_ledger c WHERE c.tenant_id = t.id), 0),
               (SELECT COUNT(*) FROM jobs j WHERE j.tenant_id = t.id AND j.status IN ('queued', 'running')),
               COALESCE((SELECT MAX(SUBSTR(c.reference, 7, 7)) FROM credit_ledger c
                         WHERE c.tenant_id = t.id AND c.kind = 'grant' AND c.reference LIKE 'month:%'), '')
        FROM tenants t
        """
    )


def downgrade() -> None:
    drop_table('credit_accounts')

"""Credit ledger, tenant tiers, idempotency keys, rate-limit windows, asset usage

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-25 20:50:35.856766
"""

from collections.abc import Sequence

import sqlalchemy as sa

from imagestudio.migrations.blocks import add_columns, create_rate_limit_windows, create_table, drop_columns, drop_table, integer, json, moment, serial, string, tenant_table, text, uid


revision: str = '0004'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    tenant_table(
        'credit_ledger',
        string('kind', 20),
        integer('balance_delta'),
        integer('reserved_delta'),
        uid('job_id', null=True),
        string('reference', 300),
        string('note', 500),
        moment('created_at'),
        id=serial(),
        unique={'uq_credit_ledger_movement': ['tenant_id', 'kind', 'reference']},
        indexes={'ix_credit_ledger_job_id': ['job_id'], 'ix_credit_ledger_tenant_id_id': ['tenant_id', 'id']},
    )
    tenant_table(
        'idempotency_keys',
        string('key', 255),
        string('fingerprint', 64),
        string('state', 20),
        integer('response_status', null=True),
        json('response_body', null=True),
        json('response_headers', null=True),
        moment('created_at'),
        unique={'uq_idempotency_keys_tenant_key': ['tenant_id', 'key']},
    )
    create_rate_limit_windows()
    create_table(
        'asset_usages',
        serial(),
        uid('asset_id'),
        string('used_in', 300),
        text('note'),
        moment('created_at'),
        refs={'asset_id': 'assets'},
        indexes={'ix_asset_usages_asset_id': ['asset_id']},
    )
    add_columns('assets', integer('usage_count', default='0'), moment('last_used_at', null=True))
    add_columns('tenants', sa.Column('tier', sa.String(length=20), nullable=False, server_default='free'))


def downgrade() -> None:
    drop_columns('tenants', 'tier')
    drop_columns('assets', 'last_used_at', 'usage_count')
    drop_table('asset_usages', ['ix_asset_usages_asset_id'])
    drop_table('rate_limit_windows')
    drop_table('idempotency_keys')
    drop_table('credit_ledger', ['ix_credit_ledger_tenant_id_id', 'ix_credit_ledger_job_id'])

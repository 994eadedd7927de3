"""Webhook targets: per-job webhook URLs disabled after failed attempts; in-flight deliveries by tenant

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 07:00:00.000000
"""

from collections.abc import Sequence


from imagestudio.migrations.blocks import create_indexes, drop_indexes, drop_table, flag, integer, moment, stamps, string, tenant_table, text


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    tenant_table(
        'webhook_targets',
        string('url_hash', 64),
        string('url', 2048),
        flag('enabled'),
        integer('failed_attempts'),
        text('last_error', null=True),
        text('disabled_reason', null=True),
        moment('disabled_at', null=True),
        *stamps(),
        unique={'uq_webhook_targets_tenant_url': ['tenant_id', 'url_hash']},
    )
    # A tenant's deliveries in flight, counted against its share of the webhook workers.
    create_indexes('webhook_deliveries', {'ix_webhook_deliveries_tenant_locked': ['tenant_id', 'locked_until']})


def downgrade() -> None:
    drop_indexes('webhook_deliveries', ['ix_webhook_deliveries_tenant_locked'])
    drop_table('webhook_targets')

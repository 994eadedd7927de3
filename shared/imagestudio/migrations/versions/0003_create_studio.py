"""Create studio: brand personas, and provider health shared by every process (circuit breakers)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 21:30:00.000000
"""

from collections.abc import Sequence


from imagestudio.migrations.blocks import create_table, drop_table, flag, integer, json, moment, real, stamps, string, tenant_table, text


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    tenant_table(
        'personas',
        string('name', 100),
        text('description'),
        string('tone', 200),
        json('palette'),
        json('style_keywords'),
        json('avoid'),
        *stamps(),
        indexes={'ix_personas_tenant_created': ['tenant_id', 'created_at']},
    )
    create_table(
        'provider_health',
        string('key', 100),
        string('state', 20),
        integer('consecutive_failures'),
        real('opened_at', null=True),
        real('trial_started_at', null=True),
        json('outcomes'),
        flag('simulated', null=True),
        moment('updated_at'),
        key=['key'],
    )


def downgrade() -> None:
    drop_table('provider_health')
    drop_table('personas', ['ix_personas_tenant_created'])

"""Webhook endpoints, signing secrets, per-job webhooks, deliveries and attempts

Revision ID: 0002
Revises: 0004
Create Date: 2026-11-25 21:00:25.983446
"""

from collections.abc import Sequence


from imagestudio.migrations.blocks import create_table, drop_table, flag, integer, json, moment, serial, stamps, string, tenant_record, tenant_table, text, uid


revision: str = '0002'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    tenant_table(
        'webhook_endpoints',
        string('url', 2048),
        string('description', 500),
        json('event_types'),
        flag('enabled'),
        text('disabled_reason', null=True),
        moment('disabled_at', null=True),
        integer('failed_deliveries'),
        string('secret', 100),
        string('previous_secret', 100, null=True),
        moment('previous_secret_expires_at', null=True),
        *stamps(),
        indexes={'ix_webhook_endpoints_tenant_id': ['tenant_id']},
    )
    tenant_record(
        'webhook_signing_secrets',
        string('secret', 100),
        string('previous_secret', 100, null=True),
        moment('previous_secret_expires_at', null=True),
        *stamps(),
    )
    tenant_table(
        'job_webhooks',
        string('url', 2048),
        json('event_types'),
        moment('created_at'),
        id=uid('job_id'),
        key=['job_id'],
        refs={'job_id': 'jobs'},
    )
    tenant_table(
        'webhook_deliveries',
        uid('endpoint_id', null=True),
        uid('job_id', null=True),
        string('url', 2048),
        string('event_type', 40),
        json('payload'),
        string('status', 20),
        integer('attempts'),
        integer('step'),
        moment('next_attempt_at', null=True),
        moment('locked_until', null=True),
        uid('token'),
        moment('last_attempt_at', null=True),
        integer('last_status_code', null=True),
        integer('last_latency_ms', null=True),
        text('last_error', null=True),
        moment('created_at'),
        moment('finished_at', null=True),
        id=string('id', 40),
        refs={'endpoint_id': 'webhook_endpoints', 'job_id': 'jobs'},
        indexes={
            'ix_webhook_deliveries_due': ['status', 'next_attempt_at'],
            'ix_webhook_deliveries_endpoint_created': ['endpoint_id', 'created_at'],
            'ix_webhook_deliveries_job_id': ['job_id'],
            'ix_webhook_deliveries_tenant_created': ['tenant_id', 'created_at'],
        },
    )
    create_table(
        'webhook_attempts',
        serial(),
        string('delivery_id', 40),
        integer('number'),
        string('url', 2048),
        moment('started_at'),
        integer('status_code', null=True),
        integer('latency_ms'),
        text('error', null=True),
        text('response_excerpt', null=True),
        refs={'delivery_id': 'webhook_deliveries'},
        indexes={'ix_webhook_attempts_delivery_id_id': ['delivery_id', 'id']},
    )


def downgrade() -> None:
    drop_table('webhook_attempts', ['ix_webhook_attempts_delivery_id_id'])
    drop_table(
        'webhook_deliveries',
        [
            'ix_webhook_deliveries_tenant_created',
            'ix_webhook_deliveries_job_id',
            'ix_webhook_deliveries_endpoint_created',
            'ix_webhook_deliveries_due',
        ],
    )
    drop_table('job_webhooks')
    drop_table('webhook_signing_secrets')
    drop_table('webhook_endpoints', ['ix_webhook_endpoints_tenant_id'])

"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 20:30:52.704079
"""

from collections.abc import Sequence


from imagestudio.migrations.blocks import big, create_table, double, drop_table, flag, integer, json, moment, serial, string, tenant_table, text, uid


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_table(
        'outbox',
        serial(),
        string('message_id', 36),
        string('queue_name', 50),
        string('actor_name', 100),
        json('kwargs'),
        json('options'),
        moment('created_at'),
        moment('published_at', null=True),
        integer('attempts'),
        text('last_error', null=True),
        indexes={'ix_outbox_pending': ['published_at', 'id']},
    )
    create_table('tenants', uid(), string('name', 200), moment('created_at'))
    tenant_table(
        'api_keys',
        string('prefix', 20),
        string('key_hash', 64),
        string('name', 200),
        moment('created_at'),
        moment('revoked_at', null=True),
        unique={'uq_api_keys_key_hash': ['key_hash']},
        indexes={'ix_api_keys_tenant_id': ['tenant_id']},
    )
    tenant_table(
        'jobs',
        string('studio', 20),
        string('status', 20),
        json('params'),
        json('inputs'),
        double('progress'),
        text('progress_message'),
        json('error', null=True),
        integer('attempts'),
        integer('max_attempts'),
        moment('created_at'),
        moment('started_at', null=True),
        moment('finished_at', null=True),
        moment('updated_at'),
        indexes={
            'ix_jobs_status': ['status'],
            'ix_jobs_tenant_created': ['tenant_id', 'created_at'],
            'ix_jobs_tenant_studio_status': ['tenant_id', 'studio', 'status'],
        },
    )
    tenant_table(
        'assets',
        uid('job_id'),
        string('studio', 20),
        string('name', 200),
        string('kind', 20),
        integer('position'),
        string('key', 500),
        string('content_type', 100),
        string('format', 20),
        integer('width', null=True),
        integer('height', null=True),
        big('bytes'),
        string('provider', 50, null=True),
        text('prompt', null=True),
        json('tags'),
        flag('favorite'),
        json('metadata'),
        moment('created_at'),
        refs={'job_id': 'jobs'},
        unique={'uq_assets_job_id_name': ['job_id', 'name']},
        indexes={'ix_assets_job_id': ['job_id'], 'ix_assets_tenant_created': ['tenant_id', 'created_at']},
    )
    create_table(
        'job_events',
        serial(),
        uid('job_id'),
        string('type', 40),
        json('data'),
        moment('created_at'),
        refs={'job_id': 'jobs'},
        indexes={'ix_job_events_job_id_id': ['job_id', 'id']},
    )


def downgrade() -> None:
    drop_table('job_events', ['ix_job_events_job_id_id'])
    drop_table('assets', ['ix_assets_tenant_created', 'ix_assets_job_id'])
    drop_table('jobs', ['ix_jobs_tenant_studio_status', 'ix_jobs_tenant_created', 'ix_jobs_status'])
    drop_table('api_keys', ['ix_api_keys_tenant_id'])
    drop_table('tenants')
    drop_table('outbox', ['ix_outbox_pending'])

"""Uploads: an image stored once per tenant, referenced by id from many jobs, swept when expired

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 03:30:40.265294
"""

from collections.abc import Sequence


from imagestudio.migrations.blocks import big, drop_table, flag, integer, moment, string, tenant_table


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    tenant_table(
        'uploads',
        string('state', 20),
        string('key', 500),
        string('content_type', 100),
        string('ext', 10),
        string('format', 20, null=True),
        integer('width', null=True),
        integer('height', null=True),
        flag('has_alpha', null=True),
        integer('orientation', null=True),
        big('bytes'),
        moment('created_at'),
        moment('expires_at'),
        id=string('id', 40),
        indexes={'ix_uploads_expires_at': ['expires_at']},
    )


def downgrade() -> None:
    drop_table('uploads', ['ix_uploads_expires_at'])

"""Credit ledger, tenant tiers, idempotency keys, rate-limit windows, asset usage

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-25 20:50:35.856766
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    
    op.create_table('credit_ledger',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('balance_delta', sa.Integer(), nullable=False),
    sa.Column('reserved_delta', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.String(length=36), nullable=True),
    sa.Column('reference', sa.String(length=300), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_credit_ledger_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_ledger')),
    sa.UniqueConstraint('tenant_id', 'kind', 'reference', name='uq_credit_ledger_movement')
    )
    with op.batch_alter_table('credit_ledger', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_ledger_job_id'), ['job_id'], unique=False)
        batch_op.create_index('ix_credit_ledger_tenant_id_id', ['tenant_id', 'id'], unique=False)

    op.create_table('idempotency_keys',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=True),
    sa.Column('response_body', sa.JSON(), nullable=True),
    sa.Column('response_headers', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_idempotency_keys_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('tenant_id', 'key', name='uq_idempotency_keys_tenant_key')
    )
    op.create_table('rate_limit_windows',
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('window_start', sa.BigInteger(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_rate_limit_windows_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'name', 'window_start', name=op.f('pk_rate_limit_windows'))
    )
    op.create_table('asset_usages',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('asset_id', sa.String(length=36), nullable=False),
    sa.Column('used_in', sa.String(length=300), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_asset_usages_asset_id_assets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_asset_usages'))
    )
    with op.batch_alter_table('asset_usages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_asset_usages_asset_id'), ['asset_id'], unique=False)

    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('usage_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tier', sa.String(length=20), nullable=False, server_default='free'))

    


def downgrade() -> None:
    
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.drop_column('tier')

    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_column('last_used_at')
        batch_op.drop_column('usage_count')

    with op.batch_alter_table('asset_usages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_asset_usages_asset_id'))

    op.drop_table('asset_usages')
    op.drop_table('rate_limit_windows')
    op.drop_table('idempotency_keys')
    with op.batch_alter_table('credit_ledger', schema=None) as batch_op:
        batch_op.drop_index('ix_credit_ledger_tenant_id_id')
        batch_op.drop_index(batch_op.f('ix_credit_ledger_job_id'))

    op.drop_table('credit_ledger')
    

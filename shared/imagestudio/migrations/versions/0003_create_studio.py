"""Create studio: brand personas, and provider health shared by every process (circuit breakers)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 21:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('personas',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('tone', sa.String(length=200), nullable=False),
    sa.Column('palette', sa.JSON(), nullable=False),
    sa.Column('style_keywords', sa.JSON(), nullable=False),
    sa.Column('avoid', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_personas_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_personas'))
    )
    with op.batch_alter_table('personas', schema=None) as batch_op:
        batch_op.create_index('ix_personas_tenant_created', ['tenant_id', 'created_at'], unique=False)

    op.create_table('provider_health',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('opened_at', sa.Float(), nullable=True),
    sa.Column('trial_started_at', sa.Float(), nullable=True),
    sa.Column('outcomes', sa.JSON(), nullable=False),
    sa.Column('simulated', sa.Boolean(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_provider_health'))
    )


def downgrade() -> None:
    op.drop_table('provider_health')
    with op.batch_alter_table('personas', schema=None) as batch_op:
        batch_op.drop_index('ix_personas_tenant_created')
    op.drop_table('personas')

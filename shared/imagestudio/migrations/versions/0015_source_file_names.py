"""Uploads keep the client's file name; assets keep their download name (the source's and the output's)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('filename', sa.String(length=200), nullable=True))
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('filename', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_column('filename')
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.drop_column('filename')

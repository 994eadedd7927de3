"""Uploads keep the client's file name; assets keep their download name (the source's and the output's)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 13:00:00.000000
"""

from collections.abc import Sequence


from imagestudio.migrations.blocks import add_columns, drop_columns, string


revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_columns('uploads', string('filename', 200, null=True))
    add_columns('assets', string('filename', 200, null=True))


def downgrade() -> None:
    drop_columns('assets', 'filename')
    drop_columns('uploads', 'filename')

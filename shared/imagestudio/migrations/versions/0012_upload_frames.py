"""Uploads keep their frame count: a job naming an animated upload is admitted by frames x pixels

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 08:30:00.000000
"""

from collections.abc import Sequence


from imagestudio.migrations.blocks import add_columns, drop_columns, integer


revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_columns('uploads', integer('frames', default='1'))


def downgrade() -> None:
    drop_columns('uploads', 'frames')

"""Webhook signing secrets sealed at rest (Fernet), and the default secret shown once

Widens the secret columns for Fernet tokens, seals every plain ``whsec_`` value with the first
key of IMAGESTUDIO_SECRETS_KEYS (or the key derived from IMAGESTUDIO_SECRET_KEY outside
production), and adds ``webhook_signing_secrets.revealed_at``: secrets that existed before were
readable at any time, so they count as shown.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from imagestudio.secrets_at_rest import is_sealed, seal, unseal

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, primary key column) of every table holding ``secret`` and ``previous_secret``.
TABLES = (("webhook_endpoints", "id"), ("webhook_signing_secrets", "tenant_id"))


def _convert(convert, *, sealed: bool) -> None:  # type: ignore[no-untyped-def]
    """Rewrite both secret columns of every row with ``convert``, where its state is not yet ``sealed``."""
    bind = op.get_bind()
    for name, key in TABLES:
        table = sa.table(name, sa.column(key), sa.column('secret'), sa.column('previous_secret'))
        for row in bind.execute(sa.select(table.c[key], table.c.secret, table.c.previous_secret)).all():
            values = {
                column: convert(value)
                for column, value in (('secret', row[1]), ('previous_secret', row[2]))
                if value is not None and is_sealed(value) != sealed
            }
            if values:
                bind.execute(sa.update(table).where(table.c[key] == row[0]).values(**values))


def upgrade() -> None:
    for name, _ in TABLES:
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.alter_column('secret', existing_type=sa.String(length=100), type_=sa.String(length=400))
            batch_op.alter_column(
                'previous_secret', existing_type=sa.String(length=100), type_=sa.String(length=400)
            )
    with op.batch_alter_table('webhook_signing_secrets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revealed_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE webhook_signing_secrets SET revealed_at = created_at")
    _convert(seal, sealed=True)


def downgrade() -> None:
    _convert(unseal, sealed=False)
    with op.batch_alter_table('webhook_signing_secrets', schema=None) as batch_op:
        batch_op.drop_column('revealed_at')
    for name, _ in TABLES:
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.alter_column('secret', existing_type=sa.String(length=400), type_=sa.String(length=100))
            batch_op.alter_column(
                'previous_secret', existing_type=sa.String(length=400), type_=sa.String(length=100)
            )

"""The storage account: one row per tenant holding the bytes it keeps stored."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from imagestudio.orm import Base


class StorageAccount(Base):
    """A tenant's stored bytes, moved in the same transactions that add or delete what they count.

    ``stored_bytes`` always equals the sum of the ``bytes`` of the tenant's upload rows and asset
    rows (an audit can sum them); keeping it as a counter lets an output be admitted with one
    conditional UPDATE instead of a sum under a lock. The row is created by the first byte counted.
    """

    __tablename__ = "storage_accounts"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    stored_bytes: Mapped[int] = mapped_column(BigInteger, default=0)

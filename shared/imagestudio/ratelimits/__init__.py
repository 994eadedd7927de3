"""Per-tenant request rate limits (the ``limits`` library) and idempotency keys (the database)."""

"""Per-tenant request rate limits and idempotency keys, kept in the shared database."""

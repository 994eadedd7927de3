"""Per-tenant request rate limits (the ``limits`` library)."""

"""Idempotency keys: a repeated request replays its first response (records in the database)."""

"""Credits: an append-only ledger per tenant, and the subscription tiers."""

"""Storage quotas: the bytes each tenant keeps stored, counted as they are written and deleted."""

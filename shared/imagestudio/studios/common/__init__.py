"""What every studio shares: the request base, routes and their planning, serving, polling, outputs, pricing, limits."""

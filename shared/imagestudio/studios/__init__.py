"""One module per studio: request schema, pricing, and ``run(ctx)`` called by its actor."""

"""The social studio's Dramatiq worker (queue `social`)."""

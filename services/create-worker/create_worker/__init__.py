"""The create studio's Dramatiq worker (queue `create`)."""

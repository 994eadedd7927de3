"""The edit studio's Dramatiq worker (queue `edit`)."""

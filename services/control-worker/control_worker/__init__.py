"""The control studio's Dramatiq worker (queue `control`)."""

"""The compress studio's Dramatiq worker (queue `compress`): compression and format conversion."""

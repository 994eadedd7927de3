"""The upscale studio's Dramatiq worker (queue `upscale`)."""

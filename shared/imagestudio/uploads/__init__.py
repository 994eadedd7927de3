"""Uploads: an image stored once and named by its id in any number of studio requests."""

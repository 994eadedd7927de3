"""Uploads: an image stored once per tenant and referenced by id from many jobs, until it expires."""

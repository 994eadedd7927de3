"""Webhooks: tenant endpoints and per-job URLs, signed (Standard Webhooks), delivered with retries."""

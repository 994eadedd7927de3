"""Logging, metrics and tracing shared by the gateway and the workers."""

"""Clearline over HTTP: a thin ASGI layer over the registry, decide() and the audit log."""

"""The gateway's application layer: what a member of staff (or a monitoring system) can do, once,
under both front doors — the JSON API (`routes/`) and the web pages (`web/`).

A use case takes a `Context` (clients, database, settings, caller's address), the signed-in user and
plain values or contract models; it checks what only the gateway knows (its staff table), calls
the services through their typed clients and writes the audit log. It knows nothing of HTTP.
"""
from .context import AuditLabel, Context

__all__ = ["AuditLabel", "Context"]

"""Errors the alerts service raises.

The HavenError types answer an RPC caller (the gateway maps them to HTTP codes). The others make
an event handler fail on purpose, so the event is retried with back-off and, if it never succeeds,
parked in the dead-letter queue for an operator (DESIGN rule 5) instead of being dropped.
"""
from services.common.errors import Forbidden, NotFound, ValidationFailed  # noqa: F401


class DirectoryIncomplete(Exception):
    """Someone the event names is not in our staff directory yet: their staff event has not arrived."""


class MalformedEvent(ValueError):
    """The event lacks a field we need; retrying will not help, but it ends visible in the DLQ."""

"""RPC entrypoints for the roll area (see entrypoints/__init__.py)."""
from __future__ import annotations


class RollEntrypoints:
    """Mixed into IncidentsService; uses its `db` and `actors` dependencies."""

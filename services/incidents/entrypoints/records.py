"""RPC entrypoints for the records area (see entrypoints/__init__.py)."""
from __future__ import annotations


class RecordsEntrypoints:
    """Mixed into IncidentsService; uses its `db` and `actors` dependencies."""

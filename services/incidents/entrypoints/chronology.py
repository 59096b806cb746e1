"""RPC entrypoints for the chronology area (see entrypoints/__init__.py)."""
from __future__ import annotations


class ChronologyEntrypoints:
    """Mixed into IncidentsService; uses its `db` and `actors` dependencies."""

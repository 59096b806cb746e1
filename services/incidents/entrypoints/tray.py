"""RPC entrypoints for the tray area (see entrypoints/__init__.py)."""
from __future__ import annotations


class TrayEntrypoints:
    """Mixed into IncidentsService; uses its `db` and `actors` dependencies."""

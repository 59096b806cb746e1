"""What crosses the wire from the documents service: plain JSON-ready dicts."""
from __future__ import annotations

from .models import Document


def _iso(value) -> str | None:
    return value.isoformat() + "Z" if value is not None else None


def document(d: Document) -> dict:
    return {
        "id": d.id,
        "incident_id": d.incident_id,
        "filename": d.filename,
        "content_type": d.content_type,
        "size": d.size,
        "sha256": d.sha256,
        "uploaded_at": _iso(d.uploaded_at),
        "uploaded_by": {"id": d.uploaded_by, "name": d.uploaded_by_name},
    }

"""Files attached to an incident: uploading (within the gateway's size limit) and downloading (audited)."""
from __future__ import annotations

import base64

from services.common.errors import ValidationFailed

from .context import AuditLabel, Context

DOWNLOAD_DOCUMENT = AuditLabel("download_document", "document")


def upload_problem(ctx: Context, content: bytes) -> str | None:
    """Why this file cannot be attached, or None."""
    limit = ctx.settings.max_upload_bytes
    if len(content) > limit:
        return f"The file is larger than {limit // (1024 * 1024)} MB. Split it or reduce its size."
    if not content:
        return "The file is empty. Choose the file to attach."
    return None


async def read_upload(ctx: Context, upload) -> bytes:
    """Read an uploaded file, one byte past the limit at most."""
    return await upload.read(ctx.settings.max_upload_bytes + 1)


async def attach(ctx: Context, user, incident_id: int, filename: str | None, content_type: str | None,
                 content: bytes) -> dict:
    problem = upload_problem(ctx, content)
    if problem:
        raise ValidationFailed.one("file", problem)
    return await ctx.clients.documents.store_document(
        user.actor_token, incident_id=incident_id, filename=filename or "document",
        content_type=content_type or "application/octet-stream", content_b64=base64.b64encode(content).decode())


async def download(ctx: Context, user, document_id: str) -> dict:
    """The document with its content (base64), audited."""
    return await ctx.audited(user, DOWNLOAD_DOCUMENT, document_id,
                             lambda: ctx.clients.documents.get_document(user.actor_token, document_id=document_id))


async def list_for_incident(ctx: Context, user, incident_id: int) -> list[dict]:
    return await ctx.clients.documents.list_documents(user.actor_token, incident_id=incident_id)

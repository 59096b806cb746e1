from __future__ import annotations

import base64
from datetime import datetime
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from services.common.errors import HavenError, ValidationFailed

from .. import accounts
from ..deps import CurrentUser, Database, Rpc, Settings, client_ip
from ..models import StaffMember

router = APIRouter(prefix="/api/v1", tags=["incidents"])


class IncidentIn(BaseModel):
    pupil_id: int
    occurred_at: datetime | str = Field(description="ISO 8601; may be backdated, never in the future")
    account: str = Field("", description="The factual account: what was seen, heard or said")
    category_ids: list[int] = Field(default_factory=list, max_length=50)
    alert_user_ids: list[int] = Field(default_factory=list, max_length=200)
    alert_groups: list[str] = Field(default_factory=list, max_length=10)
    urgent: bool = False


def unknown_staff(session, school_id: int, ids: list[int]) -> list[int]:
    if not ids:
        return []
    found = set(session.scalars(select(StaffMember.id).where(
        StaffMember.id.in_(ids), StaffMember.school_id == school_id, StaffMember.active.is_(True))))
    return [i for i in ids if i not in found]


async def record(user, rpc, db, body: dict) -> dict:
    """Shared by the JSON API and the web form."""
    ids = body.get("alert_user_ids") or []
    if await db.run(unknown_staff, user.school_id, ids):
        raise ValidationFailed.one("alert_user_ids", "One of the staff chosen to alert is not an active member of staff.")
    return await rpc.call("incidents", "record_incident", user.actor_token, body)


async def audited(db, user, request, action: str, object_type: str, object_id, call):
    """Run a read and write the audit entry whatever its outcome (DESIGN: every read is audited)."""
    def write(session, outcome):
        accounts.audit(session, action=action, outcome=outcome, user_id=user.id, school_id=user.school_id,
                       object_type=object_type, object_id=object_id, ip=client_ip(request))
    try:
        result = await call()
    except HavenError as exc:
        await db.run(write, f"refused:{exc.status_code}")
        raise
    await db.run(write, "ok")
    return result


@router.post("/incidents", status_code=201, summary="Record a concern or incident")
async def record_incident(body: IncidentIn, user: CurrentUser, rpc: Rpc, db: Database):
    data = body.model_dump()
    if isinstance(data["occurred_at"], datetime):
        data["occurred_at"] = data["occurred_at"].isoformat()
    return await record(user, rpc, db, data)


@router.get("/incidents/{incident_id}", summary="Read an incident (audited)")
async def get_incident(incident_id: int, user: CurrentUser, rpc: Rpc, db: Database, request: Request):
    return await audited(db, user, request, "read_incident", "incident", incident_id,
                         lambda: rpc.call("incidents", "get_incident", user.actor_token, incident_id))


@router.post("/incidents/{incident_id}/documents", status_code=201, summary="Attach a file to an incident")
async def upload_document(incident_id: int, file: UploadFile, user: CurrentUser, rpc: Rpc, cfg: Settings):
    content = await file.read(cfg.max_upload_bytes + 1)
    if len(content) > cfg.max_upload_bytes:
        raise ValidationFailed.one("file", f"The file is larger than {cfg.max_upload_bytes // (1024 * 1024)} MB. "
                                           "Split it or reduce its size.")
    if not content:
        raise ValidationFailed.one("file", "The file is empty. Choose the file to attach.")
    return await rpc.call("documents", "store_document", user.actor_token, incident_id,
                          file.filename or "document", file.content_type or "application/octet-stream",
                          base64.b64encode(content).decode(), timeout=60)


@router.get("/documents/{document_id}", summary="Download a document (audited)",
            response_class=Response)
async def download_document(document_id: str, user: CurrentUser, rpc: Rpc, db: Database, request: Request):
    if len(document_id) > 64:
        raise HTTPException(404, "No such document.")
    doc = await audited(db, user, request, "download_document", "document", document_id,
                        lambda: rpc.call("documents", "get_document", user.actor_token, document_id, timeout=60))
    # RFC 6266/5987: an ASCII fallback plus the real (UTF-8) name, e.g. "Łukasz.pdf".
    ascii_name = doc["filename"].encode("ascii", "replace").decode().replace('"', "").replace("?", "_")
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(doc['filename'], safe='')}"
    return Response(base64.b64decode(doc["content_b64"]), media_type=doc["content_type"],
                    headers={"Content-Disposition": disposition,
                             "X-Content-SHA256": doc["sha256"], "Cache-Control": "no-store"})

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Header, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from services.common.actor import DSL
from services.common.errors import HavenError, ValidationFailed

from .. import accounts
from ..deps import CurrentUser, Database, Rpc, Settings, client_ip
from ..models import StaffMember

router = APIRouter(prefix="/api/v1", tags=["incidents"])


# The incidents service owns these lists and checks them; they are repeated here for the OpenAPI document.
RECORD_TYPES = ("observation", "disclosure", "phone_call", "meeting", "parent_conversation", "agency_note",
                "online_monitoring")
LINK_ROLES = ("victim", "alleged_perpetrator", "witness", "sibling", "other")
MARK_TYPES = ("bruise", "cut", "burn", "mark", "swelling", "other")
AMENDABLE_FIELDS = ("account", "childs_words", "location", "others_present", "occurred_at", "record_type")


class LinkedPupilIn(BaseModel):
    pupil_id: int = Field(description="Another pupil on roll at this school (not the pupil the record is about)")
    role: str = Field(description="This pupil's role in this incident only",
                      json_schema_extra={"enum": list(LINK_ROLES)})


class BodyMapMarkIn(BaseModel):
    side: str = Field(description="front or back", json_schema_extra={"enum": ["front", "back"]})
    x: float = Field(description="Across the outline's box, 0 (left edge) to 1 (right edge)")
    y: float = Field(description="Down the outline's box, 0 (top) to 1 (bottom); see GET /api/v1/body-map/outline")
    mark_type: str = Field(json_schema_extra={"enum": list(MARK_TYPES)})
    colour: str | None = Field(None, description="e.g. 'purple-yellow' (at most 60 characters)")
    shape: str | None = Field(None, description="e.g. 'oval', 'finger-tip pattern' (at most 60 characters)")
    size: str | None = Field(None, description="e.g. '3 cm' (at most 60 characters)")
    description: str | None = Field(None, description="Anything else about the mark (at most 2,000 characters)")


class IncidentIn(BaseModel):
    pupil_id: int
    occurred_at: datetime | str = Field(description="ISO 8601; may be backdated, never in the future")
    account: str = Field("", description="The factual account: what was seen, heard or said")
    category_ids: list[int] = Field(default_factory=list, max_length=50)
    alert_user_ids: list[int] = Field(default_factory=list, max_length=200)
    alert_groups: list[str] = Field(default_factory=list, max_length=10)
    urgent: bool = False
    record_type: str = Field("observation", description="What is being recorded",
                             json_schema_extra={"enum": list(RECORD_TYPES)})
    location: str | None = Field(None, description="Where it happened (at most 200 characters)")
    childs_words: str | None = Field(None, description="The child's own words, verbatim (at most 20,000 characters)")
    others_present: str | None = Field(None, description="Who else was present (at most 2,000 characters)")
    dsl_informed_verbally: bool = Field(False, description="Whether the recorder also told the DSL team in person")
    dsl_informed_user_id: int | None = Field(None, description="Who on the DSL team was told; required when "
                                                               "dsl_informed_verbally is true")
    linked_pupils: list[LinkedPupilIn] = Field(default_factory=list, max_length=100,
                                               description="Other pupils involved, each with their own role")
    body_map: list[BodyMapMarkIn] = Field(default_factory=list, max_length=200,
                                          description="Marks on the front and back outlines (at most 60)")
    client_token: str | None = Field(None, max_length=64, description=(
        "A token the client makes once per submission (8–64 letters, digits, - or _; the "
        "Idempotency-Key header does the same): sending it again returns the incident already "
        "recorded, with status 200, instead of recording it twice"))


class LinkedPupilRef(BaseModel):
    pupil_id: int
    role: str | None = None


class IncidentTextIn(BaseModel):
    account: str | None = None
    childs_words: str | None = None
    others_present: str | None = None
    linked_pupils: list[LinkedPupilRef] = Field(default_factory=list, max_length=100)


class AmendmentIn(BaseModel):
    field: str = Field(description="What to correct", json_schema_extra={"enum": list(AMENDABLE_FIELDS)})
    new_value: str | None = Field(None, description="The corrected value, checked like the original "
                                                    "(occurred_at as ISO 8601; empty clears an optional field)")
    reason: str = Field("", description="Why the record is being corrected (at least 5 characters)")


def unknown_staff(session, school_id: int, ids: list[int]) -> list[int]:
    if not ids:
        return []
    found = set(session.scalars(select(StaffMember.id).where(
        StaffMember.id.in_(ids), StaffMember.school_id == school_id, StaffMember.active.is_(True))))
    return [i for i in ids if i not in found]


def dsl_team_member(session, school_id: int, user_id) -> str | None:
    """The name of an active member of this school's DSL team, or None."""
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        return None
    member = session.get(StaffMember, user_id)
    if member is None or member.school_id != school_id or not member.active or DSL not in (member.roles or []):
        return None
    return member.name


async def record(user, rpc, db, body: dict) -> dict:
    """Shared by the JSON API and the web form. Staff ids are checked against the gateway's staff table;
    the name of the DSL told in person comes from it too, never from what was sent."""
    body = {k: v for k, v in body.items() if k != "dsl_informed_name"}

    def check(session):
        errors = []
        if unknown_staff(session, user.school_id, body.get("alert_user_ids") or []):
            errors.append({"field": "alert_user_ids",
                           "message": "One of the staff chosen to alert is not an active member of staff."})
        if body.get("dsl_informed_verbally") is True and body.get("dsl_informed_user_id") is not None:
            name = dsl_team_member(session, user.school_id, body["dsl_informed_user_id"])
            if name is None:
                errors.append({"field": "dsl_informed_user_id",
                               "message": "That person is not on the DSL team. Choose the DSL or deputy you told."})
            body["dsl_informed_name"] = name
        return errors

    errors = await db.run(check)
    if errors:
        raise ValidationFailed(errors)
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
async def record_incident(body: IncidentIn, user: CurrentUser, rpc: Rpc, db: Database,
                          idempotency_key: Annotated[str | None, Header(max_length=64)] = None):
    """Answers with the record as saved, plus `warnings` (e.g. a linked pupil named in full in the
    text): the record is saved; the warnings say what to correct with an amendment. A submission
    sent again with the same client token (or Idempotency-Key) answers 200 with the saved record."""
    data = body.model_dump()
    if isinstance(data["occurred_at"], datetime):
        data["occurred_at"] = data["occurred_at"].isoformat()
    data["client_token"] = data["client_token"] or idempotency_key
    saved = await record(user, rpc, db, data)
    if saved.pop("replayed", False):
        return JSONResponse(saved, status_code=200)
    return saved


@router.post("/incidents/check-text", summary="Check a record's text before saving (linked pupils named in full)")
async def check_incident_text(body: IncidentTextIn, user: CurrentUser, rpc: Rpc):
    """Answers `{"warnings": [{"field", "pupil_id", "message"}]}`; nothing is saved."""
    return await rpc.call("incidents", "check_incident_text", user.actor_token, body.model_dump())


@router.get("/body-map/outline", summary="The body map's front and back outlines (polygons in a 0–1 box)")
async def body_map_outline(user: CurrentUser, rpc: Rpc):
    return await rpc.call("incidents", "body_map_outline", user.actor_token)


@router.get("/incidents/{incident_id}", summary="Read an incident (audited)")
async def get_incident(incident_id: int, user: CurrentUser, rpc: Rpc, db: Database, request: Request):
    return await audited(db, user, request, "read_incident", "incident", incident_id,
                         lambda: rpc.call("incidents", "get_incident", user.actor_token, incident_id))


@router.get("/incidents/{incident_id}/body-map.svg", summary="Draw an incident's body map as SVG (audited)",
            response_class=Response, responses={200: {"content": {"image/svg+xml": {}}}})
async def body_map_svg(incident_id: int, user: CurrentUser, rpc: Rpc, db: Database, request: Request,
                       side: Literal["front", "back"] | None = None):
    svg = await audited(db, user, request, "read_body_map", "incident", incident_id,
                        lambda: rpc.call("incidents", "body_map_svg", user.actor_token, incident_id, side))
    # The drawing holds nothing active; forbid it everything anyway, in case it is opened on its own.
    return Response(svg, media_type="image/svg+xml",
                    headers={"Cache-Control": "no-store", "Content-Security-Policy": "default-src 'none'",
                             "Content-Disposition": f'inline; filename="incident-{incident_id}-body-map.svg"'})


@router.post("/incidents/{incident_id}/amendments", status_code=201, summary="Correct a saved record (with a reason)")
async def amend_incident(incident_id: int, body: AmendmentIn, user: CurrentUser, rpc: Rpc, db: Database,
                         request: Request):
    """For the member of staff who recorded it and the DSL team. The original is kept; answers
    `{"amendment": {...}, "incident": {...}}` with the record as this reader now sees it."""
    return await audited(db, user, request, "amend_incident", "incident", incident_id,
                         lambda: rpc.call("incidents", "amend_incident", user.actor_token, incident_id,
                                          body.model_dump()))


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

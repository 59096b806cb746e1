"""Files attached to incidents: upload, and download (audited)."""
from __future__ import annotations

import base64
import re
from urllib.parse import quote

from fastapi import HTTPException, UploadFile
from fastapi.responses import Response

from services.common.contracts.documents import DocumentView

from . import api_router
from ..deps import Ctx, CurrentUser, Recorder, audits
from ..schemas import PathId
from ..usecases import documents

router = api_router("/api/v1", "documents")

# A stored file is whatever someone uploaded. Served from Haven's origin it must never run there: no
# script, no plugin, no frame (sandbox) and never rendered in the tab. (No guessing a type from its bytes,
# and no keeping it in a cache: the app's header middleware sends nosniff and no-store on every answer.)
DOWNLOAD_HEADERS = {"Content-Security-Policy": "default-src 'none'; sandbox"}
_BARE_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
# Types a browser renders as a page or runs (HTML, SVG, any XML, script, saved web pages) go out opaque.
_ACTIVE_TYPE = re.compile(r"html|xml|svg|script|^multipart/|^message/")


def download_type(content_type: str | None) -> str:
    """The content type to serve a stored file under: as uploaded, unless a browser could run it."""
    value = (content_type or "").split(";", 1)[0].strip().lower()
    if not _BARE_TYPE.fullmatch(value) or _ACTIVE_TYPE.search(value):
        return "application/octet-stream"
    return value


@router.post("/incidents/{incident_id}/documents", status_code=201, response_model=DocumentView,
             summary="Attach a file to an incident")
async def upload_document(incident_id: PathId, file: UploadFile, user: Recorder, ctx: Ctx):
    content = await documents.read_upload(ctx, file)
    return await documents.attach(ctx, user, incident_id, file.filename, file.content_type, content)


@router.get("/documents/{document_id}", summary="Download a document (audited)", response_class=Response)
@audits(documents.DOWNLOAD_DOCUMENT, "document_id")
async def download_document(document_id: str, user: CurrentUser, ctx: Ctx):
    if len(document_id) > 64:
        raise HTTPException(404, "No such document.")
    doc = await documents.download(ctx, user, document_id)
    # RFC 6266/5987: an ASCII fallback plus the real (UTF-8) name, e.g. "Łukasz.pdf".
    ascii_name = doc["filename"].encode("ascii", "replace").decode().replace('"', "").replace("?", "_")
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(doc['filename'], safe='')}"
    return Response(base64.b64decode(doc["content_b64"]), media_type=download_type(doc["content_type"]),
                    headers={**DOWNLOAD_HEADERS, "Content-Disposition": disposition, "X-Content-SHA256": doc["sha256"]})

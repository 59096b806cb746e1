"""A stored document can never run in Haven's origin: whatever was uploaded (an HTML page, an SVG with a
script) comes back as an attachment under a sandboxing CSP, with nosniff and an opaque type. And the web
stack's own files survive a multi-range request (Starlette 0.46 answered one with a wrong Content-Length,
a server error under uvicorn; CVE-2025-62727 is in the same code), which the FastAPI/Starlette upgrade fixed."""
from __future__ import annotations

import base64
import hashlib

import pytest
from fastapi.testclient import TestClient

from services.gateway.routes.documents import download_type

HTML = b"<!doctype html><script>fetch('/api/v1/incidents').then(r => r.text()).then(alert)</script>"
SVG = (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script>'
       b'<rect width="10" height="10"/></svg>')


@pytest.fixture
def vault(rpc):
    """The documents service over the fake RPC client: keeps what is stored, hands it back on download."""
    stored: dict[str, dict] = {}

    def store(kwargs):
        content = base64.b64decode(kwargs["content_b64"])
        doc = {"id": f"doc{len(stored) + 1}", "incident_id": kwargs["incident_id"], "filename": kwargs["filename"],
               "content_type": kwargs["content_type"], "size": len(content),
               "sha256": hashlib.sha256(content).hexdigest(), "uploaded_at": "2026-11-30T09:00:00+00:00",
               "uploaded_by": {"id": 1, "name": None}}
        stored[doc["id"]] = {**doc, "content_b64": kwargs["content_b64"]}
        return doc

    rpc.answers["documents.store_document"] = store
    rpc.answers["documents.get_document"] = lambda kwargs: stored[kwargs["document_id"]]
    return stored


def upload_then_download(uploader, reader, filename: str, content: bytes, content_type: str):
    r = uploader.post("/api/v1/incidents/5/documents", files={"file": (filename, content, content_type)})
    assert r.status_code == 201, r.text
    return reader.get(f"/api/v1/documents/{r.json()['id']}")


@pytest.mark.parametrize("filename, content, content_type", [
    ("letter.html", HTML, "text/html"),
    ("letter.html", HTML, "text/html; charset=utf-8"),
    ("drawing.svg", SVG, "image/svg+xml"),
    ("page.xhtml", HTML, "application/xhtml+xml"),
])
def test_an_uploaded_page_or_drawing_comes_back_as_an_inert_attachment(vault, teacher, dsl, filename, content,
                                                                       content_type):
    r = upload_then_download(teacher, dsl, filename, content, content_type)
    assert r.status_code == 200 and r.content == content
    assert vault["doc1"]["content_type"] == content_type  # stored as uploaded; only the serving is made safe
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-disposition"].startswith(f'attachment; filename="{filename}"')
    assert r.headers["cache-control"] == "no-store"


def test_an_ordinary_document_keeps_its_type_and_gets_the_same_protection(vault, teacher, dsl):
    r = upload_then_download(teacher, dsl, "GP letter.pdf", b"%PDF-1.4 letter", "application/pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-disposition"].startswith("attachment;")


@pytest.mark.parametrize("uploaded, served", [
    ("application/pdf", "application/pdf"),
    ("image/png", "image/png"),
    ("Image/JPEG; name=x", "image/jpeg"),
    ("text/plain", "text/plain"),
    ("text/html", "application/octet-stream"),
    ("TEXT/HTML", "application/octet-stream"),
    ("image/svg+xml", "application/octet-stream"),
    ("application/xhtml+xml", "application/octet-stream"),
    ("text/xml", "application/octet-stream"),
    ("application/xml", "application/octet-stream"),
    ("text/javascript", "application/octet-stream"),
    ("application/javascript", "application/octet-stream"),
    ("multipart/related", "application/octet-stream"),
    ("message/rfc822", "application/octet-stream"),
    ("text/plain\r\nSet-Cookie: x=1", "application/octet-stream"),
    ("", "application/octet-stream"),
    (None, "application/octet-stream"),
    ("nonsense", "application/octet-stream"),
])
def test_the_type_a_document_is_served_under(uploaded, served):
    assert download_type(uploaded) == served


# --- the web stack's own files -----------------------------------------------------------------------

@pytest.mark.parametrize("ranges", ["bytes=0-1,3-4", "bytes=3-4,0-1", "bytes=0-1,1-2", "bytes=0-,0-",
                                    "bytes=" + ",".join(f"{i}-{i + 1}" for i in range(0, 200, 2)),
                                    "bytes=0-1,999999999-1000000000", "bytes=1-0,3-4"])
def test_a_multi_range_request_for_a_static_file_never_breaks_the_server(app, ranges):
    client = TestClient(app, raise_server_exceptions=False)
    whole = client.get("/static/haven.js")
    assert whole.status_code == 200 and len(whole.content) > 300
    r = client.get("/static/haven.js", headers={"Range": ranges})
    assert r.status_code in (200, 206, 400, 416), r.status_code  # a malformed range is the client's error
    # Starlette 0.46 declared one byte fewer than it sent for a multi-range answer, and the server (uvicorn)
    # fails on that with "Response content longer than Content-Length".
    assert int(r.headers["content-length"]) == len(r.content)
    if r.status_code == 206 and ranges == "bytes=0-1,3-4":
        assert r.headers["content-type"].startswith("multipart/byteranges")
        assert whole.content[0:2] in r.content and whole.content[3:5] in r.content


def test_a_single_range_request_for_a_static_file_is_answered(app):
    client = TestClient(app)
    whole = client.get("/static/haven.js").content
    r = client.get("/static/haven.js", headers={"Range": "bytes=2-9"})
    assert r.status_code == 206 and r.content == whole[2:10]

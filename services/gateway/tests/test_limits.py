"""Request limits and the input guard (services/gateway/limits.py, input_guard.py), as pure ASGI: a tiny
FastAPI app behind the middleware, driven with hand-made ASGI messages so that every chunk the
application pulls is counted, and through httpx's ASGI transport."""
from __future__ import annotations

import asyncio
import json
import re
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, HTTPException, Request, UploadFile
from pydantic import BaseModel

from services.common.testing import TEST_SECRETS_KEY, key_settings
from services.gateway import input_guard
from services.gateway.limits import DEFAULT_BODY_BYTES, MB, BodyLimit, RequestLimits, upload_limits
from services.gateway.settings import GatewaySettings

LIMIT, UPLOAD_LIMIT, CHUNK = 1000, 5000, 100


class Item(BaseModel):
    name: str
    tags: list[str] = []


def signed_in(request: Request):
    if request.headers.get("authorization") != "yes":
        raise HTTPException(401, "Please sign in.")


def tiny_app(**limits) -> RequestLimits:
    app = FastAPI()

    @app.post("/api/items")
    async def items(item: Item):
        return {"name": item.name, "tags": item.tags}

    @app.post("/api/private")
    async def private(item: Item, _: Annotated[None, Depends(signed_in)]):
        return {"name": item.name}

    @app.post("/api/files/{n}/documents")
    async def upload(n: int, file: UploadFile):
        return {"size": len(await file.read())}

    @app.post("/page")
    async def page(request: Request):
        form = await request.form()
        return {"fields": {k: v for k, v in form.items() if isinstance(v, str)}}

    @app.get("/api/search")
    async def search(q: str = ""):
        return {"q": q}

    @app.post("/api/stream-first")
    async def stream_first(request: Request):
        return {"read": len(await request.body())}

    limits.setdefault("default_bytes", LIMIT)
    limits.setdefault("limits", [BodyLimit("POST", re.compile(r"/api/files/[^/]+/documents"), UPLOAD_LIMIT,
                                           "A file")])
    return RequestLimits(app, **limits)


class Sent:
    def __init__(self, messages):
        start = next(m for m in messages if m["type"] == "http.response.start")
        self.status = start["status"]
        self.headers = {k.decode(): v.decode() for k, v in start["headers"]}
        self.body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")

    def json(self):
        return json.loads(self.body)


def call(app, method: str, path: str, *, headers=(), chunks=(), endless: bytes | None = None,
         query: bytes = b"", raw_path: bytes | None = None) -> tuple[Sent, list[int]]:
    """One request through `app`; returns the answer and the size of every chunk the app pulled.
    `endless`: a chunked body that never ends (the same chunk forever)."""
    pulled: list[int] = []
    queue = list(chunks)

    async def receive():
        if endless is not None:
            pulled.append(len(endless))
            if len(pulled) > 10_000:
                raise AssertionError("the application read on and on")
            return {"type": "http.request", "body": endless, "more_body": True}
        if not queue:
            await asyncio.sleep(3600)  # a client that sends nothing more
        chunk = queue.pop(0)
        pulled.append(len(chunk))
        return {"type": "http.request", "body": chunk, "more_body": bool(queue)}

    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": raw_path if raw_path is not None else path.encode(),
             "query_string": query, "root_path": "", "server": ("testserver", 80), "client": ("127.0.0.1", 1),
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers]}
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 10))
    return Sent(sent), pulled



def asgi(coro):
    return asyncio.run(coro)


async def post(app, path, **kwargs) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        return await c.post(path, **kwargs)


async def get(app, path, **kwargs) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        return await c.get(path, **kwargs)


# --- size: Content-Length -------------------------------------------------------------------------

def test_a_body_within_the_limit_is_read_as_usual():
    r = asgi(post(tiny_app(), "/api/items", json={"name": "x" * 500}))
    assert r.status_code == 200 and r.json()["name"] == "x" * 500


def test_a_declared_length_over_the_limit_is_refused_before_anything_is_read():
    sent, pulled = call(tiny_app(), "POST", "/api/private",
                        headers=[("content-type", "application/json"), ("content-length", str(60 * MB))],
                        endless=b"x" * CHUNK)
    assert sent.status == 413 and pulled == []  # not one byte: neither the 401 nor a 422 came first
    assert sent.json()["detail"] == "The request body is larger than 1000 bytes, the most this address takes."
    assert sent.headers["content-type"] == "application/json"
    assert "connection" not in sent.headers  # the server discards the rest: the client reads the 413


def test_the_limit_itself_is_allowed_and_one_byte_more_is_not():
    body = json.dumps({"name": "x"}).encode().ljust(LIMIT)
    r = asgi(post(tiny_app(), "/api/items", content=body, headers={"content-type": "application/json"}))
    assert r.status_code == 200
    r = asgi(post(tiny_app(), "/api/items", content=body + b" ", headers={"content-type": "application/json"}))
    assert r.status_code == 413


def test_a_content_length_that_is_not_a_number_is_a_400():
    sent, pulled = call(tiny_app(), "POST", "/api/items", headers=[("content-length", "12abc")], chunks=[b"{}"])
    assert sent.status == 400 and pulled == [] and "Content-Length" in sent.json()["detail"]


# --- size: chunked bodies -------------------------------------------------------------------------

@pytest.mark.parametrize("path, content_type", [("/api/private", "application/json"),
                                                ("/api/items", "application/json"),
                                                ("/api/stream-first", "application/octet-stream"),
                                                ("/page", "application/x-www-form-urlencoded")])
def test_a_chunked_body_is_refused_once_it_passes_the_limit_and_not_read_further(path, content_type):
    sent, pulled = call(tiny_app(), "POST", path, headers=[("content-type", content_type)], endless=b"x" * CHUNK)
    assert sent.status == 413 and sent.headers["connection"] == "close"  # a body without an end
    assert sum(pulled) == LIMIT + CHUNK  # the chunk that went over the limit, and not one more
    if path.startswith("/api/"):
        assert sent.json() == {"detail": "The request body is larger than 1000 bytes, the most this address takes."}
    else:  # a web page's form: a page, not JSON
        assert sent.headers["content-type"] == "text/html; charset=utf-8"
        assert b"larger than 1000 bytes" in sent.body


def test_a_chunked_body_within_the_limit_is_passed_on_whole():
    body = json.dumps({"name": "y" * 400, "tags": ["a", "b"]}).encode()
    parts = [body[i:i + CHUNK] for i in range(0, len(body), CHUNK)]
    sent, pulled = call(tiny_app(), "POST", "/api/items", headers=[("content-type", "application/json")],
                        chunks=parts)
    assert sent.status == 200 and sent.json() == {"name": "y" * 400, "tags": ["a", "b"]}
    assert sum(pulled) == len(body)


def test_a_multipart_form_over_the_limit_is_refused_while_it_streams():
    boundary = "b0undary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    sent, pulled = call(tiny_app(), "POST", "/api/files/1/documents",
                        headers=[("content-type", f"multipart/form-data; boundary={boundary}")],
                        chunks=[head] + [b"z" * CHUNK] * 10_000)
    assert sent.status == 413 and sent.json()["detail"] == ("A file can be at most 4.88 KB with the rest of "
                                                            "the form. Send a smaller one.")
    assert sum(pulled) <= UPLOAD_LIMIT + CHUNK


# --- uploads get their own limit ------------------------------------------------------------------

def test_an_upload_endpoint_takes_more_than_the_default_limit():
    r = asgi(post(tiny_app(), "/api/files/7/documents", files={"file": ("a.bin", b"z" * 3000)}))
    assert r.status_code == 200 and r.json() == {"size": 3000}
    r = asgi(post(tiny_app(), "/api/files/7/documents", files={"file": ("a.bin", b"z" * 6000)}))
    assert r.status_code == 413


def test_only_the_upload_method_and_path_get_the_upload_limit():
    app = tiny_app()
    assert app.limit_for("POST", "/api/files/7/documents")[1] == UPLOAD_LIMIT
    assert app.limit_for("PUT", "/api/files/7/documents")[1] == LIMIT
    assert app.limit_for("POST", "/api/files/7/documents/x")[1] == LIMIT
    assert app.limit_for("POST", "/api/items")[1] == LIMIT


def test_the_gateways_upload_limits():
    settings = GatewaySettings(env="test", **key_settings("gateway"), secrets_key=TEST_SECRETS_KEY, max_upload_bytes=20 * MB)
    app = RequestLimits(None, settings=settings)
    assert app.default_bytes == DEFAULT_BODY_BYTES == MB
    for path in ("/api/v1/incidents/12/documents", "/incidents/12/documents", "/incidents/new"):
        assert 20 * MB < app.limit_for("POST", path)[1] <= 22 * MB, path
    for path in ("/api/v1/roll/import", "/roll/import"):
        assert 5 * MB < app.limit_for("POST", path)[1] <= 7 * MB, path
    for method, path in (("POST", "/api/v1/incidents"), ("POST", "/api/v1/session"),
                         ("POST", "/api/v1/tray/alerts"), ("GET", "/api/v1/incidents/12/documents")):
        assert app.limit_for(method, path)[1] == MB, path
    assert len(upload_limits(settings)) == len(app.limits)


# --- through a real server: the client reads the 413 --------------------------------------------

@pytest.fixture(scope="module")
def served():
    """tiny_app() behind uvicorn on a free port of the loopback, in a thread."""
    import socket
    import threading

    import uvicorn
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(tiny_app(), host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(1000):
        if server.started:
            break
        threading.Event().wait(0.01)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_a_client_that_sends_its_whole_body_before_reading_gets_the_413_and_can_go_on(served):
    with httpx.Client(base_url=served, timeout=30) as c:
        r = c.post("/api/private", content=b"x" * (8 * MB), headers={"content-type": "application/json"})
        assert r.status_code == 413 and "1000 bytes" in r.json()["detail"]
        r = c.post("/api/items", json={"name": "after"})  # the same connection, if the server kept it
        assert r.status_code == 200 and r.json()["name"] == "after"


# --- refused after the application has answered: its answer stands --------------------------------

def test_a_non_http_scope_is_passed_through():
    seen = []

    async def inner(scope, receive, send):
        seen.append(scope["type"])

    asyncio.run(RequestLimits(inner, default_bytes=1, limits=[])({"type": "lifespan"}, None, None))
    assert seen == ["lifespan"]


def test_an_answer_begun_before_the_body_passed_the_limit_is_left_alone():
    async def early(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            while True:
                await receive()
        except Exception:
            await send({"type": "http.response.body", "body": b"stopped"})

    sent, pulled = call(RequestLimits(early, default_bytes=LIMIT, limits=[]), "POST", "/api/x",
                        endless=b"x" * CHUNK)
    assert sent.status == 200 and sent.body == b"stopped" and sum(pulled) == LIMIT + CHUNK


# --- the input guard: JSON bodies -----------------------------------------------------------------

@pytest.mark.parametrize("raw, field", [
    (b'{"name": "\\ud800"}', "name"),
    (b'{"name": "ok \\uDFFF ok"}', "name"),
    (b'{"name": "x", "tags": ["fine", "\\udc00\\ud800"]}', "tags.1"),  # low then high: not a pair
    (b'{"name": "\\ud83d"}', "name"),  # half an emoji
    (b'{"name": "\\ud83d\\u0041"}', "name"),
    (b'{"name": "x", "\\ud800": 1}', "\\ud800"),  # a key: its name is sent back escaped
    (b'{"name": "x", "deep": [[{"a": ["\\ud800"]}]]}', "deep.0.0.a.0"),
    (b'"\\ud800"', "body"),
])
def test_a_json_string_with_an_unpaired_surrogate_is_a_422_naming_the_field(raw, field):
    r = asgi(post(tiny_app(), "/api/items", content=raw, headers={"content-type": "application/json"}))
    assert r.status_code == 422
    assert r.json() == {"detail": "Some fields need correcting.",
                        "errors": [{"field": field, "message": input_guard.SURROGATE_MESSAGE}]}


@pytest.mark.parametrize("raw, field", [
    (b'{"name": "a\\u0000b"}', "name"),
    (b'{"name": "x", "tags": ["\\u0000"]}', "tags.0"),
    (b'{"name": "x", "a\\u0000": 1}', "a\\x00"),
])
def test_a_json_string_with_nul_is_a_422_naming_the_field(raw, field):
    r = asgi(post(tiny_app(), "/api/items", content=raw, headers={"content-type": "application/json"}))
    assert r.status_code == 422
    assert r.json()["errors"] == [{"field": field, "message": input_guard.NUL_MESSAGE}]


@pytest.mark.parametrize("raw, name", [
    (b'{"name": "\\ud83d\\ude00"}', "\U0001F600"),  # a pair, as json.dumps(ensure_ascii=True) writes an emoji
    (b'{"name": "\\\\ud800"}', "\\ud800"),  # an escaped backslash: the text "\ud800", no surrogate
    (b'{"name": "\\\\u0000"}', "\\u0000"),
    ('{"name": "caf\u00e9 \U0001F600"}'.encode(), "caf\u00e9 \U0001F600"),
])
def test_paired_surrogates_and_lookalikes_pass(raw, name):
    r = asgi(post(tiny_app(), "/api/items", content=raw, headers={"content-type": "application/json"}))
    assert r.status_code == 200 and r.json()["name"] == name


@pytest.mark.parametrize("content_type", [None, "application/json; charset=utf-8", "application/merge-patch+json"])
def test_every_body_fastapi_reads_as_json_is_guarded(content_type):
    headers = [("content-type", content_type)] if content_type else []
    sent, _ = call(tiny_app(), "POST", "/api/items", headers=headers, chunks=[b'{"name": "\\ud800"}'])
    assert sent.status == 422 and sent.json()["errors"][0]["field"] == "name"


def test_a_surrogate_escape_split_across_chunks_is_found():
    sent, _ = call(tiny_app(), "POST", "/api/items", headers=[("content-type", "application/json")],
                   chunks=[b'{"name": "ab\\u', b"d8", b'00cd"}'])
    assert sent.status == 422 and sent.json()["errors"][0]["field"] == "name"


def test_a_json_body_that_is_not_utf8_is_a_422():
    # UTF-8-encoded surrogate bytes: json.loads(bytes) would decode them to a lone surrogate.
    for raw in (b'{"name": "\xed\xa0\x80"}', b'{"name": "\xff"}'):
        r = asgi(post(tiny_app(), "/api/items", content=raw, headers={"content-type": "application/json"}))
        assert r.status_code == 422 and r.json()["errors"] == [
            {"field": "body", "message": input_guard.BODY_NOT_UTF8_MESSAGE}]


def test_a_refused_body_is_refused_before_authentication_too():
    r = asgi(post(tiny_app(), "/api/private", content=b'{"name": "\\ud800"}',
                  headers={"content-type": "application/json"}))
    assert r.status_code == 422


def test_invalid_json_is_left_to_fastapi():
    r = asgi(post(tiny_app(), "/api/items", content=b'{"name": "\\ud800', headers={"content-type": "application/json"}))
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"


def test_deeply_nested_json_with_a_surrogate_escape_is_no_500():
    raw = b'{"name": "\\ud800", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    r = asgi(post(tiny_app(default_bytes=MB), "/api/items", content=raw, headers={"content-type": "application/json"}))
    assert r.status_code < 500


# --- the input guard: forms, query strings, paths -------------------------------------------------

def test_a_urlencoded_form_value_that_is_not_utf8_is_a_422_page():
    for raw in (b"note=%ED%A0%80", b"a=1&note=%FF", b"note=caf\xe9"):
        r = asgi(post(tiny_app(), "/page", content=raw, headers={"content-type": "application/x-www-form-urlencoded"}))
        assert r.status_code == 422 and r.headers["content-type"].startswith("text/html"), raw
        assert b"note: " + input_guard.NOT_UTF8_MESSAGE.encode() in r.content


def test_a_good_urlencoded_form_passes():
    r = asgi(post(tiny_app(), "/page", data={"note": "caf\u00e9 \U0001F600", "a": "1+2"}))
    assert r.status_code == 200 and r.json() == {"fields": {"note": "caf\u00e9 \U0001F600", "a": "1+2"}}


@pytest.mark.parametrize("query, field", [(b"q=%ED%A0%80", "q"), (b"x=1&q=%C3", "q"), (b"%FF=1", "\ufffd"),
                                          (b"q=\xff", "q")])
def test_a_query_parameter_that_is_not_utf8_is_a_422(query, field):
    sent, pulled = call(tiny_app(), "GET", "/api/search", query=query)
    assert sent.status == 422 and pulled == []
    assert sent.json()["errors"] == [{"field": field, "message": input_guard.NOT_UTF8_MESSAGE}]


@pytest.mark.parametrize("query, field", [(b"q=%00", "q"), (b"x=1&q=a%00b", "q"), (b"a%00=1", "a\\x00"),
                                          (b"q=\x00", "q")])
def test_a_query_parameter_with_nul_is_a_422(query, field):
    sent, pulled = call(tiny_app(), "GET", "/api/search", query=query)
    assert sent.status == 422 and pulled == []
    assert sent.json()["errors"] == [{"field": field, "message": input_guard.NUL_MESSAGE}]


def test_a_form_or_path_with_nul_is_a_422():
    r = asgi(post(tiny_app(), "/page", content=b"note=a%00b", headers={"content-type": "application/x-www-form-urlencoded"}))
    assert r.status_code == 422 and b"note: " + input_guard.NUL_MESSAGE.encode() in r.content
    sent, _ = call(tiny_app(), "GET", "/api/search/a\x00", raw_path=b"/api/search/a%00")
    assert sent.status == 422 and sent.json()["errors"] == [{"field": "path", "message": input_guard.NUL_MESSAGE}]


def test_a_good_query_passes():
    r = asgi(get(tiny_app(), "/api/search", params={"q": "caf\u00e9 + \U0001F600 %ED"}))
    assert r.status_code == 200 and r.json() == {"q": "caf\u00e9 + \U0001F600 %ED"}


def test_a_path_that_is_not_utf8_is_a_422():
    sent, pulled = call(tiny_app(), "POST", "/api/files/\ufffd\ufffd\ufffd/documents",
                        raw_path=b"/api/files/%ED%A0%80/documents", chunks=[b""])
    assert sent.status == 422 and pulled == []
    assert sent.json()["errors"] == [{"field": "path", "message": input_guard.NOT_UTF8_MESSAGE}]


def test_a_path_holding_a_lone_surrogate_is_a_422():
    sent, _ = call(tiny_app(), "GET", "/api/search/\ud800", raw_path=b"/api/search/x")
    assert sent.status == 422 and sent.json()["errors"][0] == {"field": "path",
                                                                "message": input_guard.SURROGATE_MESSAGE}


def test_a_multipart_form_is_not_buffered_for_the_guard():
    r = asgi(post(tiny_app(), "/api/files/7/documents", files={"file": ("a.bin", b"\xed\xa0\x80" * 1000)}))
    assert r.status_code == 200 and r.json() == {"size": 3000}


# --- the gateway: wired in ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    from services.common.db import migrate
    from services.gateway.app import MIGRATIONS, create_app
    url = f"sqlite:///{tmp_path_factory.mktemp('gateway')}/gateway.sqlite3"
    migrate(url, MIGRATIONS)  # a refused write is audited (write_audit.py): the log must be there
    settings = GatewaySettings(env="test", **key_settings("gateway"), secrets_key=TEST_SECRETS_KEY, gateway_database_url=url,
                               cookie_secure=False, amqp_uri="amqp://guest:guest@127.0.0.1:1/")
    return create_app(settings)  # its lifespan is not run: nothing here reaches the bus


def test_the_gateway_refuses_a_big_body_before_reading_it(gateway):
    sent, pulled = call(gateway, "POST", "/api/v1/incidents",
                        headers=[("content-type", "application/json"), ("content-length", str(60 * MB))],
                        endless=b"x" * 65536)
    assert sent.status == 413 and pulled == []
    assert sent.headers["x-content-type-options"] == "nosniff"  # inside the security headers


def test_the_gateway_refuses_a_big_chunked_body_before_reading_it_all(gateway):
    sent, pulled = call(gateway, "POST", "/api/v1/session", headers=[("content-type", "application/json")],
                        endless=b"x" * 65536)
    assert sent.status == 413 and MB < sum(pulled) <= MB + 65536


def test_the_gateway_refuses_a_lone_surrogate(gateway):
    r = asgi(post(gateway, "/api/v1/session", content=b'{"email": "a\\udfff@b.c", "password": "p"}',
                  headers={"content-type": "application/json"}))
    assert r.status_code == 422 and r.json()["errors"] == [{"field": "email",
                                                            "message": input_guard.SURROGATE_MESSAGE}]

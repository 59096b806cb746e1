"""Every write and every refusal is audited: a pure ASGI middleware that writes one audit entry for
each POST, PUT, PATCH and DELETE — the JSON API and the web forms alike — and for each GET refused
with 401 or 403, with who sent it, from where, the route, the ids in its path and how it ended (ok,
invalid:422, refused:403, failed:503…). Reads that are let through have their own entries, written
by their use cases (`Context.audited`).

Never the request's body: it can hold a child's account. A use case that writes its own entry for
the request (`Context.audited`, the session's sign-in, second-factor and sign-out entries) is the
write's entry, and this one is then not written; entries for reads written while handling a write (a
form shown again with its errors reads the record) do not count. The entry is written before the
answer's first byte leaves, so a client that has its answer finds the entry.
"""
from __future__ import annotations

import hashlib
import json

from sqlalchemy import func, select
from starlette.requests import HTTPConnection

from . import audit, integrations
from .deps import SESSION_COOKIE
from .models import Integration, LoginSession, StaffMember
from .usecases.context import outcome_of, pupil_of

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
AUDITED_METHODS = UNSAFE_METHODS | {"GET"}  # a GET only when it is refused (REFUSALS)
REFUSALS = {401, 403}
READ_ACTIONS = ("read_", "list_", "download_", "search_")
# Endpoints whose function name is not the word the audit log uses for the act.
ACTION_NAMES = {"create_session": "sign_in", "sign_in_submit": "sign_in", "delete_session": "sign_out",
                "sign_out_submit": "sign_out", "code_submit": "second_factor"}
CREATED_BODY_LIMIT = 256 * 1024  # a created record's answer is read (for its id) only up to this size


def already_written(method: str, status: int, written: list[str]) -> bool:
    """Whether this request needs no entry of ours: a write whose use case wrote its own entry (an
    entry for a read made on the way does not count), or a read that was not refused, or whose
    refusal a use case or a tier already wrote."""
    if method == "GET":
        return status not in REFUSALS or bool(written)
    return any(not action.startswith(READ_ACTIONS) for action in written)


def route_label(scope, status: int) -> tuple[str, str]:
    """(short action, "METHOD /route/{template}") for the route that answered."""
    route, endpoint = scope.get("route"), scope.get("endpoint")
    template = getattr(route, "path", None)
    if endpoint is None or template is None:  # no route, or refused before routing (413 by the limits)
        return "no_such_route" if status == 404 else "request", f"{scope['method']} {scope['path'][:200]}"
    name = getattr(endpoint, "__name__", "write")
    return ACTION_NAMES.get(name, name), f"{scope['method']} {template}"


def touched(path_params: dict) -> tuple[str | None, str | None, int | None, str]:
    """(object type, object id, pupil id, the other ids) from the path: the last id is what was acted on
    (/incidents/{incident_id}/actions/{action_id}/complete → the action, incident_id=… beside it)."""
    ids = [(name, str(value)[:20]) for name, value in path_params.items() if name.endswith("_id")]
    if not ids:
        return None, None, None, ""
    name, value = ids[-1]
    others = "".join(f" {other}={other_value}" for other, other_value in ids[:-1])
    return name[:-3], value, _as_id(dict(ids).get("pupil_id")), others


def _text_id(value) -> str | None:
    return None if value is None else str(value)[:20]


def _as_id(value) -> int | None:
    """A path's or an answer's id as a number the log's columns hold, or None (true is not 1)."""
    text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    return int(text) if text.isdigit() and 0 < len(text) < 10 and int(text) > 0 else None


def _caller(session, cookie: str | None, bearer: str | None) -> tuple[int | None, int | None, str | None]:
    """(user id, school id, detail) of whoever sent the request, looked up without touching their
    session: a session that has just ended (sign-out) or expired still names its holder."""
    if cookie:
        # The school the session works in (a trust's member may be at another school than home).
        school_id = func.coalesce(LoginSession.school_id, StaffMember.school_id).label("school_id")
        found = session.execute(select(StaffMember.id, school_id)
                                .join(LoginSession, LoginSession.user_id == StaffMember.id)
                                .where(LoginSession.token_hash == hashlib.sha256(cookie.encode()).hexdigest())).first()
        if found is not None:
            return found.id, found.school_id, None
    if bearer and integrations.looks_like_key(bearer):
        found = session.scalar(select(Integration).where(Integration.key_hash == integrations.hash_key(bearer)))
        if found is not None:
            return None, found.school_id, f"integration {found.id}"
    return None, None, None


class WriteAudit:
    """Registered in app.py outside the body limits, so a refused oversized upload is written too."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in AUDITED_METHODS or scope["path"].startswith("/static/"):
            return await self.app(scope, receive, send)
        written, token = audit.track_request()
        held: list = []  # a 201's answer, held back until its id is read
        state = {"status": None, "done": False}

        async def record(status: int, created_id=None, created_pupil_id=None):
            if not state["done"]:
                state["done"] = True
                if not already_written(scope["method"], status, written):
                    await self._write(scope, status, created_id, created_pupil_id)

        async def send_after_audit(message):
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                if message["status"] == 201 and _is_json(message):
                    held.append(message)
                    return
                await record(_refused_as_page(scope, message) or message["status"])
            elif message["type"] == "http.response.body" and held:
                held.append(message)
                if message.get("more_body") and sum(len(m.get("body", b"")) for m in held[1:]) < CREATED_BODY_LIMIT:
                    return
                await record(201, *_created(held[1:]))
                for waiting in held:
                    await send(waiting)
                held.clear()
                return
            await send(message)

        try:
            await self.app(scope, receive, send_after_audit)
        except Exception:
            await record(500)
            raise
        finally:
            audit.untrack(token)

    async def _write(self, scope, status: int, created_id, created_pupil_id) -> None:
        action, route = route_label(scope, status)
        object_type, object_id, pupil_id, other_ids = touched(scope.get("path_params") or {})
        marked = getattr(scope.get("endpoint"), "__haven_audit__", None)
        if marked:  # a route marked @audits(label, id_param): the use case's own words for the act
            label, id_param = marked
            action, object_type = label.action, label.object_type
            object_id = _text_id((scope.get("path_params") or {}).get(id_param)) if id_param else None
            pupil_id = pupil_id or pupil_of(label, object_id, None)
        pupil_id = pupil_id or created_pupil_id
        if created_id is not None and object_id is None:
            object_id = str(created_id)
            object_type = object_type or _resource(scope)
        connection = HTTPConnection(scope)
        cookie = connection.cookies.get(SESSION_COOKIE)
        authorization = connection.headers.get("authorization", "")
        bearer = authorization[7:].strip() if authorization[:7].lower() == "bearer " else None
        ip = connection.client.host if connection.client else None

        known = (scope.get("state") or {}).get("haven_caller")  # deps._signed_in resolved the session

        def write(session):
            user_id, school_id, who = (*known, None) if known else _caller(session, cookie, bearer)
            audit.write(session, action=action, outcome=outcome_of(status), user_id=user_id, school_id=school_id,
                        object_type=object_type, object_id=object_id, pupil_id=pupil_id, ip=ip,
                        detail=f"{route}{other_ids}{' by ' + who if who else ''}")
        await scope["app"].state.db.run(write)


def _refused_as_page(scope, start_message) -> int | None:
    """401 when a form was sent without a live session: the page's answer is a redirect to sign in
    (the form kept for later, web/resume.py), but the write was refused. Signing out ends there too,
    and is not a refusal."""
    if scope["method"] not in UNSAFE_METHODS or not 300 <= start_message["status"] < 400:
        return None
    location = dict(start_message.get("headers") or []).get(b"location", b"").decode("latin-1")
    if location.split("?", 1)[0] != "/sign-in" or location.startswith("/sign-in?signed_out"):
        return None
    return 401


def _is_json(start_message) -> bool:
    headers = dict(start_message.get("headers") or [])
    return headers.get(b"content-type", b"").startswith(b"application/json")


def _created(body_messages) -> tuple[int | None, int | None]:
    """(the new record's id, its pupil's id) from a 201 answer, or None for either: nothing else of the
    answer is kept."""
    try:
        answer = json.loads(b"".join(m.get("body", b"") for m in body_messages))
    except ValueError:
        return None, None
    if not isinstance(answer, dict):
        return None, None
    return _as_id(answer.get("id")), _as_id(answer.get("pupil_id"))


def _resource(scope) -> str | None:
    """What a POST to a collection made: /api/v1/incidents → incident."""
    template = getattr(scope.get("route"), "path", "") or ""
    last = template.rstrip("/").rsplit("/", 1)[-1]
    if not last or "{" in last:
        return None
    return last[:-1] if last.endswith("s") else last

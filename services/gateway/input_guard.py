"""Text that is not text, refused with 422 before an endpoint sees it (applied by `limits.RequestLimits`).

- A JSON string may hold the escape of an unpaired UTF-16 surrogate (`"\\ud800"`): `json.loads()`
  returns it as a lone surrogate, which passes pydantic's `str` and fails later, wherever it is encoded
  as UTF-8 (a database driver, an AMQP body, a response): a 500. Bytes that are not UTF-8 in a JSON body
  come out the same way (`json.loads(bytes)` decodes with "surrogatepass").
- Percent-encoded bytes that are not UTF-8 (`%ED%A0%80`, `%FF`) in the path, the query string or a
  urlencoded form never reach an endpoint as surrogates: uvicorn and Starlette decode them with
  errors="replace" (U+FFFD). Nor are they what the sender meant, so they are refused too, with the
  parameter's name. (A multipart field that is not UTF-8 is decoded as Latin-1 by Starlette: no surrogate.)

The contracts check each field again; this guard is the gateway-wide net under them."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

SURROGATE_MESSAGE = ("Holds an unpaired UTF-16 surrogate (such as \\ud800), which is not a character. "
                     "Send the text as valid Unicode.")
NOT_UTF8_MESSAGE = "Is not valid UTF-8 once its %-escapes are decoded."
BODY_NOT_UTF8_MESSAGE = "The request body is not valid UTF-8."

# A \u escape of a surrogate, either half: only then is a JSON body parsed again to look for a lone one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATES = re.compile("[\ud800-\udfff]")


@dataclass
class Refusal:
    """An answer given instead of the application's (the JSON body of the API's own 4xx answers)."""
    status: int
    detail: str
    errors: list[dict] = field(default_factory=list)

    def body(self) -> dict:
        return {"detail": self.detail, "errors": self.errors} if self.errors else {"detail": self.detail}


def invalid(field_name: str, message: str) -> Refusal:
    return Refusal(422, "Some fields need correcting.", [{"field": printable(field_name), "message": message}])


def printable(text: str) -> str:
    """`text` with any lone surrogate written as an escape, so that it can be sent back as UTF-8."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def has_surrogate(text: str) -> bool:
    return not text.isascii() and _SURROGATES.search(text) is not None


def _utf8(raw: bytes) -> bool:
    """Whether %-encoded `raw` decodes to UTF-8."""
    try:
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _pairs_problem(raw: bytes) -> Refusal | None:
    """A query string or urlencoded form with a value (or name) that is not UTF-8 once decoded."""
    if raw.isascii() and b"%" not in raw:
        return None
    for pair in raw.split(b"&"):
        name, _, value = pair.partition(b"=")
        if not _utf8(name) or not _utf8(value):
            return invalid(unquote_to_bytes(name).decode("utf-8", "replace").replace("+", " ") or "query",
                           NOT_UTF8_MESSAGE)
    return None


def target_problem(scope) -> Refusal | None:
    """The path and the query string of an HTTP request."""
    raw_path = scope.get("raw_path") or b""
    if (b"%" in raw_path or not raw_path.isascii()) and not _utf8(raw_path):
        return invalid("path", NOT_UTF8_MESSAGE)
    if has_surrogate(scope.get("path", "")):
        return invalid("path", SURROGATE_MESSAGE)
    return _pairs_problem(scope.get("query_string") or b"")


def body_kind(content_type: str | None) -> str | None:
    """'json' or 'form' for the bodies this guard reads (as FastAPI decides what is JSON), else None."""
    if not content_type:
        return "json"  # FastAPI parses a body without a Content-Type as JSON
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime == "application/json" or (mime.startswith("application/") and mime.endswith("+json")):
        return "json"
    if mime == "application/x-www-form-urlencoded":
        return "form"
    return None


def body_problem(kind: str | None, body: bytes) -> Refusal | None:
    if not body or kind is None:
        return None
    if kind == "form":
        return _pairs_problem(body)
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return invalid("body", BODY_NOT_UTF8_MESSAGE)
    if _SURROGATE_ESCAPE.search(body) is None:
        return None
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None  # not JSON at all: FastAPI says so
    where = _lone_surrogate_at(document)
    return None if where is None else invalid(where, SURROGATE_MESSAGE)


def _lone_surrogate_at(document) -> str | None:
    """The dotted path ('alert_user_ids.0', 'body' for the whole) of the first string or key holding a
    lone surrogate in a parsed JSON document, or None. Iterative: a deeply nested document is no risk."""
    stack: list[tuple[object, tuple]] = [(document, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if has_surrogate(value):
                return ".".join(map(str, path)) or "body"
        elif isinstance(value, dict):
            for key, item in reversed(list(value.items())):
                if has_surrogate(key):
                    return ".".join(map(str, (*path, key)))
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, i)) for i, item in reversed(list(enumerate(value))))
    return None

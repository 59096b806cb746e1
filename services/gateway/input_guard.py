"""Text that is not text, refused with 422 before an endpoint sees it (applied by `limits.RequestLimits`).

- A JSON string may hold the escape of an unpaired UTF-16 surrogate (`"\\ud800"`): `json.loads()`
  returns it as a lone surrogate, which passes pydantic's `str` and fails later, wherever it is encoded
  as UTF-8 (a database driver, an AMQP body, a response): a 500. Bytes that are not UTF-8 in a JSON body
  come out the same way (`json.loads(bytes)` decodes with "surrogatepass").
- Percent-encoded bytes that are not UTF-8 (`%ED%A0%80`, `%FF`) in the path, the query string or a
  urlencoded form never reach an endpoint as surrogates: uvicorn and Starlette decode them with
  errors="replace" (U+FFFD). Nor are they what the sender meant, so they are refused too, with the
  parameter's name. (A multipart field that is not UTF-8 is decoded as Latin-1 by Starlette: no surrogate.)
- NUL (`"\u0000"`, `%00`) is a character PostgreSQL cannot store in text: the query fails (a 500),
  whether it stores the text or only looks it up. Refused in the same places.

The contracts check each field again; this guard is the gateway-wide net under them."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

SURROGATE_MESSAGE = ("Holds an unpaired UTF-16 surrogate (such as \\ud800), which is not a character. "
                     "Send the text as valid Unicode.")
NOT_UTF8_MESSAGE = "Is not valid UTF-8 once its %-escapes are decoded."
NUL_MESSAGE = "Holds a NUL character (\\u0000 or %00), which no text may hold."
BODY_NOT_UTF8_MESSAGE = "The request body is not valid UTF-8."

# A \u escape of a surrogate (either half) or of NUL: only then is a JSON body parsed again to find it.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:[dD][89a-fA-F]|0000)")
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
    """`text` with any lone surrogate or NUL written as an escape, so that it can be sent back."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def has_surrogate(text: str) -> bool:
    return not text.isascii() and _SURROGATES.search(text) is not None


def _text_problem(raw: bytes) -> str | None:
    """What is wrong with %-encoded `raw` as text, or None."""
    decoded = unquote_to_bytes(raw)
    try:
        decoded.decode("utf-8")
    except UnicodeDecodeError:
        return NOT_UTF8_MESSAGE
    return NUL_MESSAGE if b"\x00" in decoded else None


def _pairs_problem(raw: bytes) -> Refusal | None:
    """A query string or urlencoded form with a value (or name) that is not UTF-8 once decoded."""
    if raw.isascii() and b"%" not in raw and b"\x00" not in raw:
        return None
    for pair in raw.split(b"&"):
        name, _, value = pair.partition(b"=")
        problem = _text_problem(name) or _text_problem(value)
        if problem:
            return invalid(unquote_to_bytes(name).decode("utf-8", "replace").replace("+", " ") or "query", problem)
    return None


def target_problem(scope) -> Refusal | None:
    """The path and the query string of an HTTP request."""
    raw_path = scope.get("raw_path") or b""
    problem = _text_problem(raw_path) if b"%" in raw_path or not raw_path.isascii() else None
    if problem:
        return invalid("path", problem)
    path = scope.get("path", "")
    if has_surrogate(path) or "\x00" in path:
        return invalid("path", SURROGATE_MESSAGE if has_surrogate(path) else NUL_MESSAGE)
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
    if _SUSPECT_ESCAPE.search(body) is None:
        return None
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None  # not JSON at all: FastAPI says so
    found = _bad_text_in(document)
    return None if found is None else invalid(*found)


def _string_problem(text: str) -> str | None:
    if has_surrogate(text):
        return SURROGATE_MESSAGE
    return NUL_MESSAGE if "\x00" in text else None


def _bad_text_in(document) -> tuple[str, str] | None:
    """(the dotted path — 'alert_user_ids.0', 'body' for the whole —, the message) of the first string or
    key in a parsed JSON document holding a lone surrogate or NUL, or None. Iterative: a deeply nested
    document is no risk."""
    stack: list[tuple[object, tuple]] = [(document, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            problem = _string_problem(value)
            if problem:
                return ".".join(map(str, path)) or "body", problem
        elif isinstance(value, dict):
            for key, item in reversed(list(value.items())):
                problem = _string_problem(key)
                if problem:
                    return ".".join(map(str, (*path, key))), problem
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, i)) for i, item in reversed(list(enumerate(value))))
    return None

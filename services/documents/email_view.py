"""An e-mail kept in the vault, made readable inside Haven: its headers, its body and its attachments' names.

Schools keep "sensitive home/school e-mails" with a child's record. Opening the file itself would run
its HTML (tracking pixels, links, scripts) in a browser that holds a DSL's session, so Haven shows it
as text only: an HTML-only body is reduced to its words here, and never returned as HTML. Everything
is bounded so a huge or hostile message cannot fill a page or the memory of the service.
"""
from __future__ import annotations

import io
import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html.parser import HTMLParser

import extract_msg

from .exceptions import ValidationFailed
from .filetypes import clean_filename, detect

MAX_BODY_CHARS = 100_000
MAX_HTML_CHARS = 2_000_000  # more markup than this is not read: the words shown stop there
MAX_HEADER_CHARS = 2_000
MAX_ATTACHMENTS = 200
TRUNCATED = ("\n\n[The rest of this e-mail is not shown here: it is longer than {limit:,} characters. "
             "Download the file to read all of it.]")
HEADERS = ("from", "to", "cc", "date", "subject")


def render_email(content: bytes) -> dict:
    """{"headers": {from, to, cc, date, subject}, "body": plain text, "attachments": [...]}.

    Each attachment is {"filename", "content_type", "size"}. `content` is an .eml or an Outlook .msg,
    told apart by its content (ValidationFailed otherwise).
    """
    kind = detect(content, "", None).kind
    if kind not in ("eml", "msg"):
        raise ValidationFailed.one("file", "This document is not an e-mail, so it cannot be shown as one.")
    try:
        return _render_msg(content) if kind == "msg" else _render_eml(content)
    except Exception:  # both parsers raise many kinds of error on a damaged message; all mean the same
        raise ValidationFailed.one("file", "This e-mail is damaged and cannot be shown. Download it to "
                                           "open it in your e-mail program.") from None


def _render_eml(content: bytes) -> dict:
    message = BytesParser(policy=policy.default).parsebytes(content)
    headers = {name: _header(message, name) for name in HEADERS}
    body_part = message.get_body(preferencelist=("plain", "html"))
    body = ""
    if body_part is not None:
        text = _part_text(body_part)
        body = _from_html(text) if body_part.get_content_type() == "text/html" else _bounded(text)
    return {"headers": headers, "body": body, "attachments": _eml_attachments(message, body_part)}


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except Exception:  # a malformed header can make the parser raise; show it raw instead
        value = next((v for k, v in message.raw_items() if k.lower() == name), None)
    return _one_line(str(value)) if value is not None else ""


def _one_line(value: str) -> str:
    return " ".join(value.split())[:MAX_HEADER_CHARS]


def _part_text(part) -> str:
    try:
        return part.get_content()
    except (LookupError, UnicodeError, AssertionError):  # an unknown or lying charset
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", "replace")


def _eml_attachments(message: EmailMessage, body_part) -> list[dict]:
    found, parts = [], [message]
    while parts and len(found) < MAX_ATTACHMENTS:
        part = parts.pop(0)
        if part is not message and part is not body_part and (part.is_attachment() or part.get_filename()):
            # An attached e-mail counts as one attachment: what is inside it is not listed.
            found.append({"filename": _attachment_name(part.get_filename()),
                          "content_type": part.get_content_type(), "size": _part_size(part)})
        elif part.is_multipart():
            parts.extend(part.iter_parts())
    return found


def _part_size(part) -> int:
    payload = part.get_payload(decode=True)
    return len(payload) if payload is not None else len(part.as_bytes())


def _render_msg(content: bytes) -> dict:
    # A file object, never bytes: like olefile, extract-msg opens short bytes as a path.
    message = extract_msg.openMsg(io.BytesIO(content), strict=False)
    try:
        date = getattr(message, "date", None)
        headers = {"from": getattr(message, "sender", None), "to": getattr(message, "to", None),
                   "cc": getattr(message, "cc", None), "date": date.isoformat() if date else None,
                   "subject": getattr(message, "subject", None)}
        body = _bounded((getattr(message, "body", None) or "").replace("\r\n", "\n"))
        if not body:
            html = getattr(message, "htmlBody", None)
            body = _from_html(html.decode("utf-8", "replace")) if html else ""
        attachments = [{"filename": _attachment_name(getattr(a, "longFilename", None)
                                                     or getattr(a, "shortFilename", None)),
                        "content_type": getattr(a, "mimetype", None) or "application/octet-stream",
                        "size": len(a.data) if isinstance(a.data, bytes) else 0}
                       for a in message.attachments[:MAX_ATTACHMENTS]]
    finally:
        message.close()
    return {"headers": {name: _one_line(value or "") for name, value in headers.items()},
            "body": body, "attachments": attachments}


def _attachment_name(name) -> str:
    return clean_filename(name) or "(no name)"


def _bounded(body: str, cut: bool = False) -> str:
    if len(body) > MAX_BODY_CHARS or cut:
        return body[:MAX_BODY_CHARS] + TRUNCATED.format(limit=MAX_BODY_CHARS)
    return body


def _from_html(html: str) -> str:
    return _bounded(html_to_text(html[:MAX_HTML_CHARS]), cut=len(html) > MAX_HTML_CHARS)


class _TextOnly(HTMLParser):
    """Collects an HTML body's words, line breaks where blocks end, and nothing that could run or load."""

    _SKIPPED = {"script", "style", "head", "title", "template", "noscript"}
    _BREAKS = {"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table",
               "ul", "ol", "hr", "pre"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self._SKIPPED:
            self.skipping += 1
        elif tag in self._BREAKS:
            self.pieces.append("\n")

    def handle_endtag(self, tag):
        if tag in self._SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self._BREAKS:
            self.pieces.append("\n")

    def handle_data(self, data):
        if not self.skipping:
            self.pieces.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """The words of an HTML body as plain text: tags, scripts and styles dropped, entities decoded."""
    parser = _TextOnly()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.pieces).split("\n"))
    text, blank = [], False
    for line in lines:
        if line or not blank:
            text.append(line)
        blank = not line
    return "\n".join(text).strip()

"""The documents service's rules, in plain Python over a SQLAlchemy session (DESIGN rule 1).

Who may attach to, or read, an incident is the incidents service's answer: every function here
takes `check_access(incident_id, purpose)`, which returns {"incident_id", "pupil_id", "school_id"}
or raises Forbidden / NotFound. Documents are append-only: there is no update or delete.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import uuid
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.actor import Actor
from services.common.events import add_to_outbox, make_event

from . import schemas
from .exceptions import Forbidden, IntegrityFailed, NotFound, ValidationFailed
from .filetypes import clean_filename, detect
from .models import Document, OutboxEvent
from .orphans import forget_intent, record_intent
from .vault import Vault

log = logging.getLogger(__name__)

ATTACH, READ = "attach", "read"
AccessCheck = Callable[[int, str], dict]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def describe_size(size: int) -> str:
    for unit, scale in (("GB", 1024 ** 3), ("MB", 1024 ** 2), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def decode_content(content_b64, max_bytes: int) -> tuple[bytes | None, str | None]:
    """(content, None), or (None, a message for the "file" field)."""
    limit = describe_size(max_bytes)
    if not isinstance(content_b64, str):
        return None, "The file could not be read. Choose the file again."
    # Refuse an obviously oversized upload before spending memory on decoding it.
    if len(content_b64) > 4 * (-(-max_bytes // 3)):
        return None, f"The file is larger than {limit}. Split it or reduce its size."
    try:
        content = base64.b64decode(content_b64, validate=True)
    except (binascii.Error, ValueError):
        return None, "The file could not be read. Choose the file again."
    if not content:
        return None, "The file is empty. Choose the file to attach."
    if len(content) > max_bytes:
        return None, f"The file is larger than {limit}. Split it or reduce its size."
    return content, None


def _checked(check_access: AccessCheck, actor: Actor, incident_id: int, purpose: str) -> dict:
    access = check_access(incident_id, purpose)
    if access.get("school_id") != actor.school_id:  # incidents already refuses this; be sure
        raise Forbidden("You do not have permission to do that to this incident.")
    return access


def store_document(session: Session, actor: Actor, vault: Vault, check_access: AccessCheck,
                   incident_id, filename, content_type, content_b64, max_bytes: int) -> dict:
    if not _is_int(incident_id):
        raise ValidationFailed.one("incident_id", "Choose the incident to attach this file to.")
    # Permission first: someone who may not attach learns nothing more, and nothing is stored.
    _checked(check_access, actor, incident_id, ATTACH)

    errors = []
    name = clean_filename(filename)
    if not name:
        errors.append({"field": "filename", "message": "The file needs a name, e.g. letter-from-parent.pdf."})
    content, problem = decode_content(content_b64, max_bytes)
    if problem:
        errors.append({"field": "file", "message": problem})
    if errors:
        raise ValidationFailed(errors)
    # The content decides what the file is; the name and the browser's claim only have to agree.
    detected = detect(content, name, content_type)
    if not name.lower().endswith(detected.extension):
        name = clean_filename(name + detected.extension)

    document_id = str(uuid.uuid4())
    storage_key = f"school-{actor.school_id}/{document_id}"
    # The ciphertext is written before the row, so no row ever points at nothing; the intent is
    # committed before either, so an object whose row never commits is found and deleted (orphans.py).
    record_intent(session, storage_key)
    sealed = vault.put(storage_key, document_id, content)
    document = Document(id=document_id, school_id=actor.school_id, incident_id=incident_id, filename=name,
                        content_type=detected.content_type, size=len(content),
                        sha256=hashlib.sha256(content).hexdigest(), storage_key=storage_key,
                        wrapped_key=sealed.wrapped_key, key_id=sealed.key_id, nonce=sealed.nonce,
                        uploaded_by=actor.user_id, uploaded_by_name=actor.name)
    session.add(document)
    forget_intent(session, storage_key)
    # Ids only (never the file's name): incidents adds the document to the pupil's chronology.
    add_to_outbox(session, OutboxEvent, make_event(
        "document_stored", actor.school_id, document_id=document_id, incident_id=incident_id,
        uploaded_by=actor.user_id))
    session.flush()
    session.refresh(document)
    return schemas.document(document)


def _load_document(session: Session, actor: Actor, document_id) -> Document:
    try:
        key = str(uuid.UUID(document_id)) if isinstance(document_id, str) else None
    except ValueError:
        key = None
    document = session.get(Document, key) if key else None
    if document is None or document.school_id != actor.school_id:
        raise NotFound("No such document.")
    return document


def get_document(session: Session, actor: Actor, vault: Vault, check_access: AccessCheck,
                 document_id) -> dict:
    """The document with its content, once the actor may read its incident and it checks out."""
    document = _load_document(session, actor, document_id)
    _checked(check_access, actor, document.incident_id, READ)
    content = vault.get(document.storage_key, document.id, document.wrapped_key, document.nonce,
                        document.key_id)
    digest = hashlib.sha256(content).hexdigest()
    if len(content) != document.size or not hmac.compare_digest(digest, document.sha256):
        log.error("document %s: content does not match its recorded size and sha256", document.id)
        raise IntegrityFailed()
    return {**schemas.document(document), "content_b64": base64.b64encode(content).decode()}


def list_documents(session: Session, actor: Actor, check_access: AccessCheck, incident_id) -> list[dict]:
    if not _is_int(incident_id):
        raise NotFound("No such incident.")
    _checked(check_access, actor, incident_id, READ)
    query = (select(Document)
             .where(Document.school_id == actor.school_id, Document.incident_id == incident_id)
             .order_by(Document.uploaded_at, Document.id))
    return [schemas.document(d) for d in session.scalars(query)]

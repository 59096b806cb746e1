"""The documents service's contract: the vault's commands and queries, and document_stored."""
from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from .base import Contract, Event, Id, NoArguments, ServiceContract, Text, View

contract = ServiceContract("documents")

DOCUMENT_ID = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class StoreDocument(Contract):
    incident_id: Id
    filename: Text(255, min_length=1)
    content_type: Text(200, min_length=1)
    # base64 of the file; its size is checked against the service's own limit once decoded
    content_b64: Annotated[str, StringConstraints(min_length=1)]


class DocumentRef(Contract):
    document_id: DOCUMENT_ID


class IncidentDocuments(Contract):
    incident_id: Id


class UploaderRef(View):
    id: int
    name: str | None = None


class DocumentView(View):
    id: str
    incident_id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: str
    uploaded_by: UploaderRef


class DocumentContent(DocumentView):
    content_b64: str


class DocumentStored(Event):
    document_id: DOCUMENT_ID
    incident_id: Id
    uploaded_by: Id


health = contract.method("health", NoArguments, str, actor=False)
# Each asks the incidents service, with the caller's own context, whether the caller may see the incident.
ASKS_INCIDENTS = ("incidents.check_incident_access",)
store_document = contract.method("store_document", StoreDocument, DocumentView, timeout=60, delegates=ASKS_INCIDENTS)
get_document = contract.method("get_document", DocumentRef, DocumentContent, timeout=60, delegates=ASKS_INCIDENTS)
list_documents = contract.method("list_documents", IncidentDocuments, list[DocumentView], delegates=ASKS_INCIDENTS)

document_stored = contract.event("document_stored", DocumentStored)

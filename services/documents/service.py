"""The documents service's Nameko adapter: contract → use case, nothing else."""
from __future__ import annotations

from services.common.adapter import Service, Setting, UnitOfWork, health
from services.common.contracts import documents

from . import domain
from .dependencies import DocumentVault, IncidentAccess
from .models import OutboxEvent, SpentToken



class DocumentsService(Service):
    name = "documents"

    unit_of_work = UnitOfWork(OutboxEvent, spent_model=SpentToken)
    vault = DocumentVault()
    check_access = IncidentAccess()
    max_bytes = Setting("max_document_bytes")

    methods = {
        documents.health: health,
        documents.store_document: domain.store_document,
        documents.get_document: domain.get_document,
        documents.list_documents: domain.list_documents,
    }

"""The documents service's Nameko adapter: contract → use case, and the orphan sweeper."""
from __future__ import annotations

from datetime import timedelta

from nameko.extensions import DependencyProvider

from services.common.adapter import Service, Setting, Sweeper, UnitOfWork, health
from services.common.contracts import documents
from services.common.db import make_engine, session_factory, transaction

from . import domain
from .dependencies import DocumentVault, IncidentAccess
from .models import OutboxEvent, SpentToken
from .orphans import sweep_orphans

SWEEP_SECONDS = 60.0  # failed uploads are rare, and only deleted minutes after they failed anyway


class OrphanSweeper(DependencyProvider):
    """One sweeper per process deletes the objects of uploads whose row was never committed
    (orphans.py). Its own database connection, so sweeping never waits for the workers' pool."""

    def setup(self):
        settings = self.container.config["SETTINGS"]
        self.older_than = timedelta(minutes=settings.pending_upload_minutes)
        self.store = settings.open_store()
        self.engine = make_engine(settings.database_url, pool_size=1, max_overflow=1)
        self.sessions = session_factory(self.engine)
        self.sweeper = Sweeper(self.sweep_once, SWEEP_SECONDS, "orphan sweeper")

    def start(self):
        self.sweeper.start(self.container, "orphan-sweeper")

    def stop(self):
        self.sweeper.stop()
        self.engine.dispose()

    def kill(self):
        self.stop()

    def sweep_once(self) -> int:
        with transaction(self.sessions) as session:
            return sweep_orphans(session, self.store, self.older_than)


class DocumentsService(Service):
    name = "documents"

    unit_of_work = UnitOfWork(OutboxEvent, spent_model=SpentToken)
    vault = DocumentVault()
    check_access = IncidentAccess()
    max_bytes = Setting("max_document_bytes")
    orphan_sweeper = OrphanSweeper()

    methods = {
        documents.health: health,
        documents.store_document: domain.store_document,
        documents.get_document: domain.get_document,
        documents.list_documents: domain.list_documents,
    }

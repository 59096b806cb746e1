"""The documents service's Nameko adapter: entrypoints and dependencies, nothing else."""
from __future__ import annotations

import logging

from nameko.dependency_providers import Config
from nameko.rpc import RpcProxy
from nameko.timer import timer

from services.common.events import relay_outbox
from services.common.nameko_ext import Actors, Database, Events, rpc

from . import domain
from .dependencies import DocumentVault, incident_access
from .models import OutboxEvent

log = logging.getLogger(__name__)


class DocumentsService:
    name = "documents"

    config = Config()
    db = Database()
    actors = Actors()
    events = Events()
    vault = DocumentVault()
    incidents = RpcProxy("incidents")

    def _access(self, actor_token):
        return incident_access(self.incidents, actor_token, float(self.config.get("RPC_TIMEOUT_SECONDS", 10)))

    @rpc
    def health(self):
        return "ok"

    @rpc
    def store_document(self, actor, incident_id, filename, content_type, content_b64):
        who = self.actors.verify(actor)
        with self.db.transaction() as session:
            stored = domain.store_document(session, who, self.vault, self._access(actor), incident_id, filename,
                                           content_type, content_b64, int(self.config["MAX_DOCUMENT_BYTES"]))
        try:
            self.relay_events()  # publish now rather than at the next sweep
        except Exception:
            # The document and its event are saved; the timer will publish it. Do not fail the upload.
            log.exception("could not relay events straight away; the timer will retry")
        return stored

    @rpc
    def get_document(self, actor, document_id):
        who = self.actors.verify(actor)
        with self.db.transaction() as session:
            return domain.get_document(session, who, self.vault, self._access(actor), document_id)

    @rpc
    def list_documents(self, actor, incident_id):
        who = self.actors.verify(actor)
        with self.db.transaction() as session:
            return domain.list_documents(session, who, self._access(actor), incident_id)

    @timer(interval=1)
    def relay_events(self):
        with self.db.transaction() as session:
            relay_outbox(session, OutboxEvent, self.events)

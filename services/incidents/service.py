"""The incidents service's Nameko adapter: entrypoints and dependencies, nothing else."""
from __future__ import annotations

from nameko.timer import timer
from sqlalchemy.exc import IntegrityError

from services.common.errors import Conflict
from services.common.events import relay_outbox
from services.common.nameko_ext import Actors, Database, Events, rpc

from . import amendments, bodymap, domain
from .entrypoints.chronology import ChronologyEntrypoints
from .entrypoints.events import EventEntrypoints
from .entrypoints.records import RecordsEntrypoints
from .entrypoints.roll import RollEntrypoints
from .entrypoints.tray import TrayEntrypoints
from .models import OutboxEvent


class IncidentsService(RollEntrypoints, RecordsEntrypoints, ChronologyEntrypoints, TrayEntrypoints,
                       EventEntrypoints):
    name = "incidents"

    db = Database()
    actors = Actors()
    events = Events()

    @rpc
    def health(self):
        return "ok"

    @rpc
    def search_pupils(self, actor, q="", limit=20):
        with self.db.transaction() as session:
            return domain.search_pupils(session, self.actors.verify(actor), q, limit)

    @rpc
    def list_categories(self, actor):
        with self.db.transaction() as session:
            return domain.list_categories(session, self.actors.verify(actor))

    @rpc
    def record_incident(self, actor, incident):
        try:
            with self.db.transaction() as session:
                result = domain.record_incident(session, self.actors.verify(actor), incident)
        except IntegrityError:
            # Two copies of one submission at the same instant: the other one is being saved.
            raise Conflict("This concern is already being saved from another click or tab. "
                           "Check your alerts before recording it again.") from None
        self.relay_events()  # publish now rather than at the next sweep
        return result

    @rpc
    def get_incident(self, actor, incident_id):
        with self.db.transaction() as session:
            return domain.get_incident(session, self.actors.verify(actor), incident_id)

    @rpc
    def amend_incident(self, actor, incident_id, amendment):
        who = self.actors.verify(actor)
        with self.db.transaction() as session:
            result = amendments.amend_incident(session, who, incident_id, amendment)
        self.relay_events()
        return result

    @rpc
    def check_incident_text(self, actor, texts):
        who = self.actors.verify(actor)
        with self.db.transaction() as session:
            return domain.check_incident_text(session, who, texts)

    @rpc
    def body_map_svg(self, actor, incident_id, side=None):
        who = self.actors.verify(actor)
        with self.db.transaction() as session:
            return domain.body_map_svg(session, who, incident_id, side)

    @rpc
    def body_map_outline(self, actor):
        self.actors.verify(actor)
        return bodymap.outline()

    @rpc
    def check_incident_access(self, actor, incident_id, purpose="read"):
        with self.db.transaction() as session:
            return domain.check_incident_access(session, self.actors.verify(actor), incident_id, purpose)

    @timer(interval=1)
    def relay_events(self):
        with self.db.transaction() as session:
            relay_outbox(session, OutboxEvent, self.events)

"""RPC entrypoints for the chronology area (see entrypoints/__init__.py): a pupil's chronology,
the significant-event flag and the front sheet."""
from __future__ import annotations

import base64
import gzip

from services.common.nameko_ext import rpc

from .. import chronology, frontsheet


def _filters(filters) -> dict:
    filters = filters if isinstance(filters, dict) else {}
    return {"category_id": filters.get("category_id"), "date_from": filters.get("from"),
            "date_to": filters.get("to"), "entry_type": filters.get("type"),
            "significant": filters.get("significant")}


class ChronologyEntrypoints:
    """Mixed into IncidentsService; uses its `db` and `actors` dependencies."""

    @rpc
    def get_chronology(self, actor, pupil_id, filters=None):
        """`filters`: category_id, from, to, type, significant (see chronology.read_chronology)."""
        who = self.actors.verify(actor)
        with self.db.transaction() as session:
            return chronology.read_chronology(session, who, pupil_id, **_filters(filters))

    @rpc
    def get_chronology_gzip(self, actor, pupil_id, filters=None):
        """The same as JSON, gzipped (base64 on the wire): {"gzip_b64": ...}. For the HTTP API, which
        passes the body on as it is. A chronology of thousands of lines is about a megabyte of JSON and
        a tenth of that gzipped: smaller on the bus, and for the browser."""
        who = self.actors.verify(actor)
        with self.db.transaction() as session:
            body = chronology.read_chronology_json(session, who, pupil_id, **_filters(filters))
        return {"gzip_b64": base64.b64encode(gzip.compress(body.encode(), compresslevel=1, mtime=0)).decode()}

    @rpc
    def set_significant(self, actor, entry_id, significant):
        with self.db.transaction() as session:
            return chronology.set_significant(session, self.actors.verify(actor), entry_id, significant)

    @rpc
    def get_front_sheet(self, actor, pupil_id):
        with self.db.transaction() as session:
            return frontsheet.front_sheet(session, self.actors.verify(actor), pupil_id)

    @rpc
    def add_household_member(self, actor, pupil_id, member):
        with self.db.transaction() as session:
            return frontsheet.add_household_member(session, self.actors.verify(actor), pupil_id, member)

    @rpc
    def add_agency_involvement(self, actor, pupil_id, involvement):
        with self.db.transaction() as session:
            return frontsheet.add_agency_involvement(session, self.actors.verify(actor), pupil_id, involvement)

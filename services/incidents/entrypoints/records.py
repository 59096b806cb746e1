"""RPC entrypoints for the records area (see entrypoints/__init__.py): actions, decisions, outcomes
and cases."""
from __future__ import annotations

from services.common.nameko_ext import rpc

from .. import cases, records


class RecordsEntrypoints:
    """Mixed into IncidentsService; uses its `db` and `actors` dependencies."""

    # --- actions ---
    @rpc
    def add_action(self, actor, incident_id, action):
        with self.db.transaction() as session:
            result = records.add_action(session, self.actors.verify(actor), incident_id, action)
        self.relay_events()  # tell the assignee now rather than at the next sweep
        return result

    @rpc
    def complete_action(self, actor, action_id, completion):
        with self.db.transaction() as session:
            return records.complete_action(session, self.actors.verify(actor), action_id, completion)

    @rpc
    def list_my_actions(self, actor, open_only=True):
        with self.db.transaction() as session:
            return records.list_my_actions(session, self.actors.verify(actor), open_only)

    @rpc
    def list_school_actions(self, actor, open_only=True):
        with self.db.transaction() as session:
            return records.list_school_actions(session, self.actors.verify(actor), open_only)

    @rpc
    def list_incident_actions(self, actor, incident_id):
        with self.db.transaction() as session:
            return records.list_incident_actions(session, self.actors.verify(actor), incident_id)

    # --- decisions and outcomes ---
    @rpc
    def record_decision(self, actor, incident_id, decision):
        with self.db.transaction() as session:
            return records.record_decision(session, self.actors.verify(actor), incident_id, decision)

    @rpc
    def list_decisions(self, actor, incident_id):
        with self.db.transaction() as session:
            return records.list_decisions(session, self.actors.verify(actor), incident_id)

    @rpc
    def record_outcome(self, actor, incident_id, outcome):
        with self.db.transaction() as session:
            return records.record_outcome(session, self.actors.verify(actor), incident_id, outcome)

    @rpc
    def list_outcomes(self, actor, incident_id):
        with self.db.transaction() as session:
            return records.list_outcomes(session, self.actors.verify(actor), incident_id)

    # --- cases ---
    @rpc
    def open_case(self, actor, case):
        with self.db.transaction() as session:
            return cases.open_case(session, self.actors.verify(actor), case)

    @rpc
    def add_incident_to_case(self, actor, case_id, incident_id):
        with self.db.transaction() as session:
            return cases.add_incident(session, self.actors.verify(actor), case_id, incident_id)

    @rpc
    def change_case_owner(self, actor, case_id, owner):
        with self.db.transaction() as session:
            return cases.change_owner(session, self.actors.verify(actor), case_id, owner)

    @rpc
    def set_case_status(self, actor, case_id, change):
        with self.db.transaction() as session:
            return cases.set_status(session, self.actors.verify(actor), case_id, change)

    @rpc
    def list_cases(self, actor, status=None, pupil_id=None):
        with self.db.transaction() as session:
            return cases.list_cases(session, self.actors.verify(actor), status, pupil_id)

    @rpc
    def get_case(self, actor, case_id):
        with self.db.transaction() as session:
            return cases.get_case(session, self.actors.verify(actor), case_id)

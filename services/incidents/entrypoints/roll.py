"""RPC entrypoints for the roll area (see entrypoints/__init__.py): importing the roll, a pupil's
details, family links and the school's categories. The picker's `search_pupils` is on the service."""
from __future__ import annotations

from services.common.nameko_ext import rpc

from .. import categories, roll
from .. import search  # noqa: F401  (registers the hook that keeps the picker's index fresh)


class RollEntrypoints:
    """Mixed into IncidentsService; uses its `db` and `actors` dependencies."""

    @rpc
    def import_roll(self, actor, content_b64, file_format, mode="update", dry_run=False):
        who = self.actors.verify(actor)
        content = roll.decode_upload(content_b64)
        with self.db.transaction() as session:
            result = roll.import_roll(session, who, content, file_format=file_format, mode=mode, dry_run=dry_run)
        if not dry_run:
            self.relay_events()
        return result

    @rpc
    def get_pupil(self, actor, pupil_id):
        with self.db.transaction() as session:
            return roll.get_pupil(session, self.actors.verify(actor), pupil_id)

    @rpc
    def list_siblings(self, actor, pupil_id):
        with self.db.transaction() as session:
            return roll.list_siblings(session, self.actors.verify(actor), pupil_id)

    @rpc
    def link_siblings(self, actor, pupil_id, other_pupil_id):
        with self.db.transaction() as session:
            return roll.link_siblings(session, self.actors.verify(actor), pupil_id, other_pupil_id)

    @rpc
    def unlink_siblings(self, actor, pupil_id, other_pupil_id):
        with self.db.transaction() as session:
            return roll.unlink_siblings(session, self.actors.verify(actor), pupil_id, other_pupil_id)

    @rpc
    def list_category_tree(self, actor, include_inactive=False):
        with self.db.transaction() as session:
            return categories.list_categories(session, self.actors.verify(actor), include_inactive)

    @rpc
    def create_category(self, actor, category):
        with self.db.transaction() as session:
            return categories.create_category(session, self.actors.verify(actor), category)

    @rpc
    def update_category(self, actor, category_id, changes):
        with self.db.transaction() as session:
            return categories.update_category(session, self.actors.verify(actor), category_id, changes)

"""The alerts service's Nameko adapter: entrypoints and dependencies, nothing else."""
from __future__ import annotations

import logging

from nameko.dependency_providers import Config
from nameko.extensions import DependencyProvider
from nameko.timer import timer

from services.common.db import utcnow
from services.common.nameko_ext import Actors, Database, event_handler, rpc

from . import domain
from .mailer import SmtpMailer

log = logging.getLogger(__name__)


class Mailer(DependencyProvider):
    """`self.mailer.send(to, subject, body)`, configured from the SMTP_* settings."""

    def setup(self):
        config = self.container.config
        self.mailer = SmtpMailer(host=config["SMTP_HOST"], port=int(config["SMTP_PORT"]),
                                 mail_from=config["MAIL_FROM"], username=config.get("SMTP_USERNAME"),
                                 password=config.get("SMTP_PASSWORD"),
                                 starttls=bool(config.get("SMTP_STARTTLS", False)))

    def get_dependency(self, worker_ctx):
        return self.mailer


class AlertsService:
    name = "alerts"

    db = Database()
    actors = Actors()
    mailer = Mailer()
    config = Config()

    @rpc
    def health(self):
        return "ok"

    @event_handler("gateway", "staff_member_saved")
    def on_staff_member_saved(self, event):
        with self.db.transaction() as session:
            domain.save_staff_member(session, event)

    @event_handler("incidents", "incident_recorded")
    def on_incident_recorded(self, event):
        with self.db.transaction() as session:
            domain.raise_alerts(session, event, self.config["PUBLIC_URL"])
        self._send_now()

    @event_handler("incidents", "tray_item_received")
    def on_tray_item_received(self, event):
        with self.db.transaction() as session:
            domain.raise_tray_alerts(session, event, self.config["PUBLIC_URL"])
        self._send_now()

    @event_handler("incidents", "action_assigned")
    def on_action_assigned(self, event):
        with self.db.transaction() as session:
            domain.raise_action_alert(session, event, self.config["PUBLIC_URL"])
        self._send_now()

    def _send_now(self):
        try:
            self.send_pending_mail()  # now, rather than at the next tick
        except Exception:
            # The alerts are saved; the timer will send them. Do not fail (and retry) the event.
            log.exception("could not send alert mail straight away; the timer will retry")

    @rpc
    def list_alerts(self, actor, unread_only=False, limit=100):
        with self.db.transaction() as session:
            return domain.list_alerts(session, self.actors.verify(actor), unread_only, limit)

    @rpc
    def mark_alert_read(self, actor, alert_id):
        with self.db.transaction() as session:
            return domain.mark_alert_read(session, self.actors.verify(actor), alert_id)

    @rpc
    def failed_mail(self, actor):
        with self.db.transaction() as session:
            return domain.failed_mail(session, self.actors.verify(actor))

    @timer(interval=1)
    def send_pending_mail(self):
        with self.db.transaction() as session:
            domain.send_pending_mail(session, self.mailer, utcnow())

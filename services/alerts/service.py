"""The alerts service's Nameko adapter: contract → use case, and the mail sender's timer."""
from __future__ import annotations

import logging

from nameko.extensions import DependencyProvider
from nameko.timer import timer

from services.common.adapter import Service, Setting, UnitOfWork, health
from services.common.contracts import alerts
from services.common.db import utcnow

from . import domain
from .mailer import SmtpMailer

log = logging.getLogger(__name__)


class Mailer(DependencyProvider):
    """`self.mailer.send(to, subject, body)`, configured from the SMTP settings."""

    def setup(self):
        settings = self.container.config["SETTINGS"]
        self.mailer = SmtpMailer(host=settings.smtp_host, port=settings.smtp_port, mail_from=settings.mail_from,
                                 username=settings.smtp_username, password=settings.smtp_password,
                                 starttls=settings.smtp_starttls)

    def get_dependency(self, worker_ctx):
        return self.mailer



class AlertsService(Service):
    name = "alerts"

    unit_of_work = UnitOfWork()
    mailer = Mailer()
    public_url = Setting("public_url")

    methods = {
        alerts.health: health,
        alerts.list_alerts: domain.list_alerts,
        alerts.mark_alert_read: domain.mark_alert_read,
        alerts.failed_mail: domain.failed_mail,
    }
    handlers = {
        alerts.on_staff_member_saved: domain.save_staff_member,
        alerts.on_incident_recorded: domain.raise_alerts,
        alerts.on_tray_item_received: domain.raise_tray_alerts,
        alerts.on_action_assigned: domain.raise_action_alert,
    }

    def after_event(self, subscription, raised):
        if subscription is alerts.on_staff_member_saved or not raised:
            return  # nothing was queued (a redelivery, or an incident that alerts nobody)
        try:
            self.send_pending_mail()  # now, rather than at the next tick
        except Exception:
            # The alerts are saved; the timer will send them. Do not fail (and retry) the event.
            log.exception("could not send alert mail straight away; the timer will retry")

    @timer(interval=1)
    def send_pending_mail(self):
        with self.unit_of_work.transaction() as session:
            domain.send_pending_mail(session, self.mailer, utcnow())

"""The alerts service's Nameko adapter: contract → use case, the mail sender's and the schedule's timers."""
from __future__ import annotations

import logging
from datetime import timedelta

from nameko.extensions import DependencyProvider
from nameko.timer import timer

from services.common.adapter import Service, Setting, UnitOfWork, health
from services.common.contracts import alerts
from services.common.db import utcnow
from services.common.smtp import SmtpMailer

from . import domain, mail, queries, schedule

log = logging.getLogger(__name__)


class Mailer(DependencyProvider):
    """`self.mailer.send(...)` / `self.mailer.connection()`, configured from the SMTP settings."""

    def setup(self):
        self.mailer = SmtpMailer.from_settings(self.container.config["SETTINGS"])

    def get_dependency(self, worker_ctx):
        return self.mailer


class AlertsService(Service):
    name = "alerts"

    unit_of_work = UnitOfWork()
    mailer = Mailer()
    public_url = Setting("public_url")

    methods = {
        alerts.health: health,
        alerts.list_alerts: queries.list_alerts,
        alerts.mark_alert_read: queries.mark_alert_read,
        alerts.failed_mail: queries.failed_mail,
        alerts.retry_mail: queries.retry_mail,
        alerts.incident_alerts: queries.incident_alerts,
        alerts.unopened_incidents: queries.unopened_incidents,
        alerts.get_school_settings: queries.get_school_settings,
        alerts.save_school_settings: queries.save_school_settings,
        alerts.get_preferences: queries.get_preferences,
        alerts.save_preferences: queries.save_preferences,
    }
    handlers = {
        alerts.on_staff_member_saved: domain.save_staff_member,
        alerts.on_incident_recorded: domain.raise_alerts,
        alerts.on_tray_item_received: domain.raise_tray_alerts,
        alerts.on_action_assigned: domain.raise_action_alert,
        alerts.on_action_completed: domain.note_action_completed,
        alerts.on_incident_amended: domain.raise_amendment_alert,
        alerts.on_incident_opened: domain.note_incident_opened,
    }

    def after_event(self, subscription, raised):
        if not raised or subscription is alerts.on_staff_member_saved:
            return  # nothing was queued (a redelivery, a receipt, or an incident that alerts nobody)
        try:
            self.send_pending_mail()  # now, rather than at the next tick
        except Exception:
            # The alerts are saved; the timer will send them. Do not fail (and retry) the event.
            log.exception("could not send alert mail straight away; the timer will retry")

    @timer(interval=1)
    def send_pending_mail(self):
        settings = self.unit_of_work.settings
        with self.unit_of_work.transaction() as session:
            mail.send_pending_mail(session, self.mailer, utcnow(),
                                   lease=timedelta(seconds=settings.mail_lease_seconds),
                                   give_up=timedelta(seconds=settings.mail_give_up_after_seconds))

    @timer(interval=5)
    def run_schedule(self):
        """Escalations, due-date reminders and daily digests; then send what they queued."""
        zone = self.unit_of_work.settings.school_timezone
        with self.unit_of_work.transaction() as session:
            queued = schedule.escalate_due(session, utcnow(), self.public_url)
        with self.unit_of_work.transaction() as session:
            queued += schedule.send_reminders(session, utcnow(), self.public_url, zone)
        with self.unit_of_work.transaction() as session:
            queued += schedule.send_digests(session, utcnow(), self.public_url, zone)
        if queued:
            self.send_pending_mail()

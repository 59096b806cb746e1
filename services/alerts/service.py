"""The alerts service's Nameko adapter: contract → use case, the mail sender's and the schedule's timers."""
from __future__ import annotations

import logging
import time
from datetime import timedelta

from nameko.extensions import DependencyProvider
from nameko.timer import timer

from services.common import metrics
from services.common.adapter import Service, Setting, Sweeper, UnitOfWork, health
from services.common.contracts import alerts
from services.common.db import make_engine, session_factory, transaction, utcnow
from services.common.smtp import SmtpMailer

from . import domain, mail, queries, schedule
from .models import SpentToken

log = logging.getLogger(__name__)

SWEEP_SECONDS = 1.0  # the sender looks at the queue this often even when nothing wakes it
IDLE_SECONDS = 5.0   # an SMTP connection unused this long is closed


class MailSender(DependencyProvider):
    """One sweeper per process sends queued alert mail, in order, over one SMTP connection it keeps open
    while mail keeps coming (closed after IDLE_SECONDS without any). Woken (`wake()`) after each event
    that queued mail, and sweeping every second anyway (retries, and messages a sender that died had
    claimed). Event handlers never wait for the mail relay: a slow relay delays e-mail, not alerts. Its own
    database connection, so sending never waits for the workers' pool; the metrics' count of the mail
    queue (haven_mail_queue) reads through it too."""

    def setup(self):
        settings = self.container.config["SETTINGS"]
        self.lease = timedelta(seconds=settings.mail_lease_seconds)
        self.give_up = timedelta(seconds=settings.mail_give_up_after_seconds)
        self.relay = mail.Relay(SmtpMailer.from_settings(settings))
        self.engine = make_engine(settings.database_url, pool_size=1, max_overflow=1)
        self.sessions = session_factory(self.engine)
        metrics.watch_mail(self.sessions, mail.queue_sizes)
        self.sweeper = Sweeper(self.send_once, SWEEP_SECONDS, "alert mail sender")
        self._last_sent = 0.0

    def start(self):
        self.sweeper.start(self.container, "mail-sender")

    def stop(self):
        self.sweeper.stop()
        self.relay.idle()
        self.engine.dispose()

    def kill(self):
        self.stop()

    def get_dependency(self, worker_ctx):
        return self.sweeper  # `.wake()`

    def send_once(self) -> int:
        with transaction(self.sessions) as session:
            sent = mail.send_pending_mail(session, self.relay, utcnow(), lease=self.lease, give_up=self.give_up)
        if sent:
            self._last_sent = time.monotonic()
        elif time.monotonic() - self._last_sent > IDLE_SECONDS:
            self.relay.idle()
        return sent


class AlertsService(Service):
    name = "alerts"

    unit_of_work = UnitOfWork(spent_model=SpentToken)
    mail_sender = MailSender()
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
        if raised and subscription is not alerts.on_staff_member_saved:
            self.mail_sender.wake()  # send now, rather than at the next sweep

    @timer(interval=5)
    def run_schedule(self):
        """Escalations, due-date reminders and daily digests; then send what they queued."""
        with self.unit_of_work.transaction() as session:
            queued = schedule.escalate_due(session, utcnow(), self.public_url)
        with self.unit_of_work.transaction() as session:
            queued += schedule.send_reminders(session, utcnow(), self.public_url)
        with self.unit_of_work.transaction() as session:
            queued += schedule.send_digests(session, utcnow(), self.public_url)
        if queued:
            self.mail_sender.wake()

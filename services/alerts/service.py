"""The alerts service's Nameko adapter: contract → use case, the mail sender's and the schedule's timers."""
from __future__ import annotations

import logging
import time
from datetime import timedelta

import eventlet
from eventlet.event import Event as GreenEvent
from nameko.extensions import DependencyProvider
from nameko.timer import timer

from services.common.adapter import Service, Setting, UnitOfWork, health
from services.common.contracts import alerts
from services.common.db import make_engine, session_factory, transaction, utcnow
from services.common.smtp import SmtpMailer

from . import domain, mail, queries, schedule

log = logging.getLogger(__name__)

SWEEP_SECONDS = 1.0  # the sender looks at the queue this often even when nothing wakes it
IDLE_SECONDS = 5.0   # an SMTP connection unused this long is closed


class MailSender(DependencyProvider):
    """One green thread per process sends queued alert mail, in order, over one SMTP connection it keeps
    open while mail keeps coming. Woken (`wake()`) after each event that queued mail, and sweeping every
    second anyway (retries, and messages a sender that died had claimed). Event handlers never wait for
    the mail relay: a slow relay delays e-mail, not alerts."""

    def setup(self):
        settings = self.container.config["SETTINGS"]
        self.lease = timedelta(seconds=settings.mail_lease_seconds)
        self.give_up = timedelta(seconds=settings.mail_give_up_after_seconds)
        self.relay = mail.Relay(SmtpMailer.from_settings(settings))
        self.engine = make_engine(settings.database_url, pool_size=1, max_overflow=1)
        self.sessions = session_factory(self.engine)
        self._wake, self._thread, self._last_sent = GreenEvent(), None, 0.0

    def start(self):
        self._thread = self.container.spawn_managed_thread(self._run, identifier="mail-sender")

    def stop(self):
        if self._thread is not None:
            self._thread.kill()
            self._thread = None
        self.relay.idle()
        self.engine.dispose()

    def kill(self):
        self.stop()

    def get_dependency(self, worker_ctx):
        return self

    def wake(self) -> None:
        if not self._wake.ready():
            self._wake.send(True)

    def send_once(self) -> int:
        with transaction(self.sessions) as session:
            return mail.send_pending_mail(session, self.relay, utcnow(), lease=self.lease, give_up=self.give_up)

    def _run(self):
        while True:
            with eventlet.Timeout(SWEEP_SECONDS, False):
                self._wake.wait()
            self._wake = GreenEvent()
            try:
                while self.send_once():
                    self._last_sent = time.monotonic()
            except Exception as exc:  # the database is away: the messages wait for the next sweep
                log.warning("alert mail sender paused (%s); retrying", type(exc).__name__)
                self.relay.idle()
                eventlet.sleep(SWEEP_SECONDS)
            if time.monotonic() - self._last_sent > IDLE_SECONDS:
                self.relay.idle()


class AlertsService(Service):
    name = "alerts"

    unit_of_work = UnitOfWork()
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
        zone = self.unit_of_work.settings.school_timezone
        with self.unit_of_work.transaction() as session:
            queued = schedule.escalate_due(session, utcnow(), self.public_url)
        with self.unit_of_work.transaction() as session:
            queued += schedule.send_reminders(session, utcnow(), self.public_url, zone)
        with self.unit_of_work.transaction() as session:
            queued += schedule.send_digests(session, utcnow(), self.public_url, zone)
        if queued:
            self.mail_sender.wake()

"""The alerts service's metrics: e-mail sent and not taken, the mail queue, escalations (README "Metrics").
Real PostgreSQL and a real SMTP server; the counters are the process's own, so each test reads how much
they moved."""
from __future__ import annotations

from datetime import datetime, timedelta

from prometheus_client import REGISTRY, generate_latest

from services.alerts import domain, mail, schedule
from services.common import metrics
from services.common.db import utcnow
from services.common.smtp import SmtpMailer

from .conftest import PUBLIC_URL, free_port, incident_event, staff_event

TEACHER, DSL, DEPUTY, HEAD = 10, 20, 21, 30
RECORDED = datetime(2026, 1, 6, 10, 0)  # incident_event's occurred_at


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def mailer(port: int) -> SmtpMailer:
    return SmtpMailer("127.0.0.1", port, mail_from="Haven <haven@school.test>", security="none", timeout=5)


def school(sessions) -> None:
    with sessions.begin() as session:
        for event in (staff_event(TEACHER, "Tess Teacher"), staff_event(DSL, "Dana Lead", roles=["dsl"]),
                      staff_event(DEPUTY, "Dev Deputy", roles=["dsl"]),
                      staff_event(HEAD, "Sam Head", roles=["slt"])):
            domain.save_staff_member(session, event)


def record(sessions, urgent: bool = False) -> dict:
    event = incident_event(TEACHER, alert_groups=["dsl"], urgent=urgent)
    with sessions.begin() as session:
        domain.raise_alerts(session, event, PUBLIC_URL)
    return event


def send(sessions, relay, now, **kwargs) -> int:
    with sessions() as session:
        return mail.send_pending_mail(session, relay, now, **kwargs)


def test_mail_sent_and_not_taken_are_counted_where_they_happen(sessions, inbox, smtp_port):
    school(sessions)
    record(sessions)  # two e-mails: the DSL and the deputy
    sent, retrying, gave_up = (value("haven_mail_sent_total"), value("haven_mail_failures_total", outcome="retrying"),
                               value("haven_mail_failures_total", outcome="gave_up"))
    inbox.refuse_next = 3
    start = utcnow()
    assert send(sessions, mailer(smtp_port), start) == 0
    assert send(sessions, mailer(smtp_port), start + timedelta(seconds=5)) == 1
    assert value("haven_mail_sent_total") - sent == 1
    assert value("haven_mail_failures_total", outcome="retrying") - retrying == 3

    # The relay stays away past the give-up time: the last one is given up on, counted apart.
    assert send(sessions, mailer(free_port()), start + timedelta(hours=3), give_up=timedelta(hours=1)) == 0
    assert value("haven_mail_failures_total", outcome="gave_up") - gave_up == 1
    assert value("haven_mail_failures_total", outcome="retrying") - retrying == 3


def test_the_mail_queue_by_state(sessions):
    school(sessions)
    metrics.watch_mail(sessions, mail.queue_sizes)
    assert (value("haven_mail_queue", state="pending"), value("haven_mail_queue", state="failed")) == (0, 0)
    record(sessions)
    record(sessions)
    assert value("haven_mail_queue", state="pending") == 4
    nowhere = mailer(free_port())
    assert send(sessions, nowhere, utcnow() + timedelta(hours=3), batch=3, give_up=timedelta(hours=1)) == 0
    assert (value("haven_mail_queue", state="pending"), value("haven_mail_queue", state="failed")) == (1, 3)


def test_escalations_are_counted_by_whom_they_went_to_and_no_label_names_anyone(sessions, inbox, smtp_port):
    school(sessions)
    record(sessions, urgent=True)
    before = {group: value("haven_escalations_total", to_group=group) for group in schedule.LADDER_WORDS}
    with sessions() as session:
        assert schedule.escalate_due(session, RECORDED + timedelta(minutes=15), PUBLIC_URL) == 1
    with sessions() as session:
        assert schedule.escalate_due(session, RECORDED + timedelta(minutes=30), PUBLIC_URL) == 1
    moved = {group: value("haven_escalations_total", to_group=group) - before[group]
             for group in schedule.LADDER_WORDS}
    assert moved == {"dsl_team": 1, "slt": 1, "dsl_team_and_slt": 0}

    assert send(sessions, mailer(smtp_port), utcnow()) > 0
    scrape = generate_latest(REGISTRY).decode()
    for private in ("Tess", "Dana", "Dev Deputy", "Sam Head", "@school.test", "Safeguarding"):
        assert private not in scrape, private

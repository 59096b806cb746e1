"""Sending alert e-mail through a real SMTP server (aiosmtpd), with the queue in real PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

import pytest

from sqlalchemy import select

from services.alerts import domain, mail, queries
from services.common.smtp import SmtpMailer
from services.alerts.models import Mail
from services.common.actor import Actor
from services.common.db import make_engine, migrate, session_factory, utcnow

from .conftest import MIGRATIONS, PUBLIC_URL, free_port, incident_event, staff_event

TEACHER, DSL, DEPUTY = 10, 20, 21


def mailer(port: int) -> SmtpMailer:
    return SmtpMailer("127.0.0.1", port, mail_from="Haven <haven@school.test>", security="none", timeout=5)


def setup_school(sessions, urgent=False, **extra) -> dict:
    with sessions.begin() as session:
        for event in (staff_event(TEACHER, "Tess Teacher"), staff_event(DSL, "Dana Lead", roles=["dsl"]),
                      staff_event(DEPUTY, "Dev Deputy", roles=["dsl"])):
            domain.save_staff_member(session, event)
    event = incident_event(TEACHER, alert_groups=["dsl"], urgent=urgent, **extra)
    with sessions.begin() as session:
        domain.raise_alerts(session, event, PUBLIC_URL)
    return event


def mail_rows(sessions) -> list[Mail]:
    with sessions() as session:
        return session.scalars(select(Mail).order_by(Mail.id)).all()


def send(sessions, mailer, now) -> int:
    with sessions() as session:
        return mail.send_pending_mail(session, mailer, now)


def test_the_mailer_delivers_a_plain_text_message(inbox, smtp_port):
    mailer(smtp_port).send("dana@school.test", "Haven alert: test", "Hello\n", message_id="<m1@haven.test>")
    [message] = inbox.messages
    assert (message["To"], message["From"], message["Subject"], message["Message-ID"]) == \
        ("dana@school.test", "Haven <haven@school.test>", "Haven alert: test", "<m1@haven.test>")
    assert message.get_content().replace("\r\n", "\n") == "Hello\n"


def test_queued_alert_mail_is_sent_once_and_says_nothing_about_the_child(sessions, inbox, smtp_port):
    event = setup_school(sessions, urgent=True, account="SECRET-ACCOUNT")
    now = utcnow()
    assert send(sessions, mailer(smtp_port), now) == 2
    assert send(sessions, mailer(smtp_port), now + timedelta(hours=1)) == 0
    assert sorted(m["To"] for m in inbox.messages) == ["user20@school.test", "user21@school.test"]
    for message in inbox.messages:
        assert message["Subject"] == "URGENT: Haven: a new alert for you"
        text, html = (message.get_body(preferencelist=(kind,)).get_content() for kind in ("plain", "html"))
        for part in (text, html):
            assert f"{PUBLIC_URL}/incidents/{event['incident_id']}" in part and "Tess Teacher" in part
            assert "URGENT" in part
            assert "Safeguarding" not in part  # the category only when the school allows it (off by default)
        assert "SECRET" not in message.as_string()
    assert [(m.status, m.attempts, m.sent_at) for m in mail_rows(sessions)] == [("sent", 1, now)] * 2


def test_a_refused_message_backs_off_and_is_sent_on_a_later_attempt(sessions, inbox, smtp_port):
    setup_school(sessions)
    inbox.refuse_next = 3  # both messages on the first sweep, then one of them again
    start = utcnow()
    assert send(sessions, mailer(smtp_port), start) == 0
    rows = mail_rows(sessions)
    assert [(m.status, m.attempts, m.next_attempt_at) for m in rows] == \
        [("pending", 1, start + timedelta(seconds=5))] * 2
    assert all(m.last_error.startswith("SMTPDataError") and "Tess" not in m.last_error for m in rows)

    assert send(sessions, mailer(smtp_port), start + timedelta(seconds=4)) == 0  # not due yet
    assert send(sessions, mailer(smtp_port), start + timedelta(seconds=5)) == 1  # one refused again
    retried = [m for m in mail_rows(sessions) if m.status == "pending"]
    assert [(m.attempts, m.next_attempt_at) for m in retried] == [(2, start + timedelta(seconds=20))]
    assert send(sessions, mailer(smtp_port), start + timedelta(seconds=20)) == 1
    assert [m.status for m in mail_rows(sessions)] == ["sent", "sent"]
    assert sorted(m["To"] for m in inbox.messages) == ["user20@school.test", "user21@school.test"]


def test_retried_with_back_off_until_the_give_up_time_then_failed_for_the_dsl_to_see_and_retry(sessions, inbox,
                                                                                               smtp_port):
    setup_school(sessions)
    nowhere = mailer(free_port())  # nothing listens there: connection refused
    queued = mail_rows(sessions)[0].queued_at
    now, attempts = queued, 0
    while {m.status for m in mail_rows(sessions)} == {"pending"}:
        with sessions() as session:
            assert mail.send_pending_mail(session, nowhere, now, give_up=timedelta(hours=1)) == 0
        attempts += 1
        now += timedelta(minutes=15)
    assert attempts == 5  # at 0, 15, 30, 45 minutes, then at 60 it gives up
    rows = mail_rows(sessions)
    assert {(m.status, m.attempts) for m in rows} == {("failed", 5)}
    assert all(m.last_error.startswith("ConnectionRefusedError") for m in rows)
    assert send(sessions, nowhere, now + timedelta(days=1)) == 0  # never tried again by itself
    dsl = Actor(user_id=DSL, school_id=1, name="Dana Lead", roles=("dsl",), second_factor_at=1.0)
    with sessions() as session:
        failed = queries.failed_mail(session, dsl)
    assert [(f["to_address"], f["attempts"], f["recipient"]["name"]) for f in failed] == \
        [("user21@school.test", 5, "Dev Deputy"), ("user20@school.test", 5, "Dana Lead")]
    assert "subject" not in failed[0] and "body" not in failed[0]

    with sessions.begin() as session:  # the relay is fixed: the DSL retries one from the list
        assert queries.retry_mail(session, dsl, failed[0]["id"], now=now)["status"] == "pending"
    assert send(sessions, mailer(smtp_port), now) == 1
    assert [m["To"] for m in inbox.messages] == ["user21@school.test"]
    assert inbox.messages[0]["Message-ID"] == mail_rows(sessions)[1].message_id  # the same message as before


@pytest.mark.parametrize("batch", [1, 50])
def test_two_senders_at_once_never_send_the_same_message_twice(sessions, inbox, smtp_port, batch):
    """A sender claims its batch before sending: another sender (another worker or instance) sweeping
    meanwhile takes only what is left (the other message with a batch of one; nothing with fifty)."""
    setup_school(sessions)
    smtp = mailer(smtp_port)
    now = utcnow()
    second_sender_sent = []

    class FirstSender:
        """Mid-way through its first message, a second sender (another worker) sweeps the queue."""

        def connection(self):
            return self

        def close(self):
            pass

        def send(self, *args, **kwargs):
            if not second_sender_sent:
                second_sender_sent.append(send(sessions, smtp, now))
            smtp.send(*args, **kwargs)

    with sessions() as session:
        assert mail.send_pending_mail(session, FirstSender(), now, batch=batch) == (1 if batch == 1 else 2)
    assert second_sender_sent == [1 if batch == 1 else 0]
    assert len(inbox.messages) == 2
    assert sorted(m["To"] for m in inbox.messages) == ["user20@school.test", "user21@school.test"]


def test_the_embedded_sqlite_database_works_too(tmp_path, inbox, smtp_port):
    url = f"sqlite:///{tmp_path}/alerts.sqlite3"
    migrate(url, MIGRATIONS)
    engine = make_engine(url)
    try:
        sessions = session_factory(engine)
        setup_school(sessions)
        assert send(sessions, mailer(smtp_port), utcnow()) == 2
        assert send(sessions, mailer(smtp_port), utcnow() + timedelta(hours=1)) == 0
        assert len(inbox.messages) == 2
    finally:
        engine.dispose()

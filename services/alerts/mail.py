"""Alert e-mail: what it says (nothing about the pupil), the queue, sending once, and daily digests.

- `compose`: subject, plain text and HTML for one kind of alert (DESIGN rule 7): who raised it, urgency,
  the category only when the school allows it, and a link; never the pupil, never the account.
- `queue_mail`: one queued message per (alert, recipient), its Message-ID fixed when queued.
- `send_pending_mail`: claim, send, mark sent, one commit each; back-off on failure for
  `mail_give_up_after_seconds`, then failed (listed for the DSL team and administrators, who may retry).
- `queue_digest`: one e-mail for the alerts held for someone who chose the daily digest (schedule.py
  decides when).

Sent once as the recipient sees it: a message is marked sent in its own commit straight after the SMTP
server accepts it. If the sender dies between the two, the message is sent again when its claim lapses,
with the same Message-ID, and a mail client shows the two as one.
"""
from __future__ import annotations

import logging
import smtplib
import textwrap
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import make_msgid
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from services.common import metrics
from services.common.db import skip_locked
from services.common.smtp import html_from_text, mail_text

from .models import MAIL_FAILED, MAIL_PENDING, MAIL_SENT, Alert, Mail, StaffMember

log = logging.getLogger(__name__)

# Seconds to wait after the 1st, 2nd… failed attempt; the last figure repeats until the give-up time.
MAIL_BACKOFF_SECONDS = (5, 15, 60, 300, 900)
DEFAULT_LEASE = timedelta(seconds=60)
DEFAULT_GIVE_UP = timedelta(hours=2)

SUBJECT = "Haven: a new alert for you"
URGENT_SUBJECT = "URGENT: Haven: a new alert for you"
DIGEST_SUBJECT = "Haven: your alerts today"
NOTHING_ABOUT_THE_PUPIL = ("This e-mail deliberately says nothing about the pupil or what happened. Please do not "
                           "reply with details; record anything you know in Haven.")


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str


def compose(recipient_name: str, lines: list[str], link: str, urgent: bool = False,
            subject: str | None = None) -> Message:
    """An alert e-mail from sentences about who and when (never what): a greeting, the lines, the link.

    Every name in `lines` must already have been through `mail_text` (the allow-list)."""
    greeting = f"{mail_text(recipient_name) or 'Hello'},"
    subject = subject or (URGENT_SUBJECT if urgent else SUBJECT)
    lines = (["URGENT: please read it as soon as you can."] if urgent else []) + lines
    text = "\n\n".join([greeting, *(textwrap.fill(line, 72) for line in lines),
                        f"Open it in Haven (you will be asked to sign in):\n{link}",
                        textwrap.fill(NOTHING_ABOUT_THE_PUPIL, 72)]) + "\n"
    return Message(subject, text, html_from_text(text))


def category_line(category_names: list[str], allowed: bool) -> list[str]:
    """"Category: …" when the school has chosen to name categories in e-mails (off by default). Through the
    allow-list, and without full stops, so a category name cannot carry an address ("go to evil.example")."""
    names = [" ".join(mail_text(n, 100).replace(".", " ").split()) for n in category_names or []]
    return [f"Category: {', '.join(n for n in names if n)}"] if allowed and any(names) else []


def link_to(public_url: str, path: str) -> str:
    return f"{public_url.rstrip('/')}{path}"


def queue_mail(session: Session, staff: StaffMember, message: Message, public_url: str, now: datetime,
               alert: Alert | None = None) -> Mail | None:
    """Queue one e-mail to `staff` (for `alert`, or a digest of several); its Message-ID is fixed now and
    reused on every try. None when they have no address: the alert is in the app only."""
    if not staff.email:
        log.warning("staff member %s has no e-mail address; their alert is in the app only", staff.user_id)
        return None
    mail = Mail(alert=alert, user_id=staff.user_id, school_id=staff.school_id, to_address=staff.email,
                message_id=make_msgid(domain=urlsplit(public_url).hostname or "haven.local"),
                subject=message.subject, body=message.text, html=message.html, status=MAIL_PENDING, attempts=0,
                queued_at=now, next_attempt_at=now)
    session.add(mail)
    return mail


# --- sending ----------------------------------------------------------------------------------

def retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=MAIL_BACKOFF_SECONDS[min(attempts, len(MAIL_BACKOFF_SECONDS)) - 1])


def _due(now: datetime):
    return (Mail.status == MAIL_PENDING, Mail.next_attempt_at <= now,
            or_(Mail.claimed_until.is_(None), Mail.claimed_until < now))


def _claim(session: Session, now: datetime, lease: timedelta, batch: int) -> list[Mail]:
    """Take up to `batch` due messages for this sender alone, and commit that before any SMTP traffic.

    PostgreSQL skips rows another sender has locked (the rows stay locked until the claim commits); the
    conditional update is what makes the claim safe on SQLite too. Committing the claim first keeps no
    transaction open across the network.
    """
    ids = session.scalars(skip_locked(select(Mail.id).where(*_due(now)).order_by(Mail.next_attempt_at, Mail.id)
                                      .limit(batch), session)).all()
    claimed = session.scalars(update(Mail).where(Mail.id.in_(ids), *_due(now)).values(claimed_until=now + lease)
                              .returning(Mail).execution_options(synchronize_session=False)).all() if ids else []
    session.commit()
    return sorted(claimed, key=lambda m: (m.next_attempt_at, m.id))


class Relay:
    """One SMTP connection to the mail relay, kept open from one message to the next while mail keeps
    coming (`idle()` closes it); a kept connection the relay has since dropped is reopened once."""

    def __init__(self, mailer):
        self.mailer, self.connection = mailer, None
        # Set when a message could not be handed over; the next one that is brings the others forward.
        self.trouble = False

    def send(self, mail: Mail) -> None:
        fresh = self.connection is None
        if fresh:
            self.connection = self.mailer.connection()
        try:
            self.connection.send(mail.to_address, mail.subject, mail.body, html=mail.html,
                                 message_id=mail.message_id)
        except (smtplib.SMTPServerDisconnected, ConnectionError):
            self.idle()
            if fresh:
                raise
            self.send(mail)  # the kept connection had gone stale: once more on a new one
        except Exception:
            self.idle()  # refused mid-conversation: start the next message on a clean connection
            raise

    def idle(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            except Exception:  # a connection that broke mid-send cannot be closed politely; it is gone anyway
                pass
            self.connection = None


def _failed(session: Session, mail: Mail, exc: Exception, now: datetime, give_up: timedelta) -> None:
    mail.attempts += 1
    mail.claimed_until = None
    mail.last_error = f"{type(exc).__name__}: {exc}"[:500]
    gave_up = now - (mail.queued_at or now) >= give_up
    if gave_up:
        mail.status = MAIL_FAILED
        log.warning("alert mail %s not delivered after %d attempts; marked failed", mail.id, mail.attempts)
    else:
        mail.next_attempt_at = now + retry_delay(mail.attempts)
        log.info("alert mail %s not sent (%s); attempt %d, retrying later", mail.id, type(exc).__name__,
                 mail.attempts)
    session.commit()
    metrics.MAIL_FAILURES.labels("gave_up" if gave_up else "retrying").inc()


def _sent(session: Session, mail: Mail, now: datetime) -> None:
    mail.attempts += 1
    mail.status, mail.sent_at, mail.last_error, mail.claimed_until = MAIL_SENT, now, None, None
    session.commit()  # straight away: a crash after this point never sends it again
    metrics.MAIL_SENT.inc()
    log.info("alert mail %s sent", mail.id)


# Failures that mean the relay could not be reached at all (not that it refused one message).
UNREACHABLE = ("ConnectionRefusedError", "ConnectionResetError", "ConnectionAbortedError", "SMTPServerDisconnected",
               "SMTPConnectError", "TimeoutError", "OSError")


def _bring_forward_retries(session: Session, now: datetime) -> None:
    """The relay took a message, so it is back: what waits in back-off from its outage goes now (a message
    the relay itself refused keeps its back-off)."""
    session.execute(update(Mail).where(Mail.status == MAIL_PENDING, Mail.attempts > 0, Mail.next_attempt_at > now,
                                       or_(*(Mail.last_error.like(f"{name}:%") for name in UNREACHABLE)))
                    .values(next_attempt_at=now))
    session.commit()


def send_pending_mail(session: Session, relay, now: datetime, batch: int = 50, lease: timedelta = DEFAULT_LEASE,
                      give_up: timedelta = DEFAULT_GIVE_UP) -> int:
    """Send the due messages (up to `batch`), committing each as sent; returns how many were sent.

    `relay` is a `Relay` the caller keeps between calls, or a mailer (then a connection for this call)."""
    own = not isinstance(relay, Relay)
    relay = Relay(relay) if own else relay
    sent = 0
    try:
        for mail in _claim(session, now, lease, batch):
            try:
                relay.send(mail)
            except Exception as exc:  # any failure to hand over is a failed attempt, never a lost message
                relay.trouble = True
                _failed(session, mail, exc, now, give_up)
                continue
            _sent(session, mail, now)
            sent += 1
        if sent and relay.trouble:
            relay.trouble = False
            _bring_forward_retries(session, now)
    finally:
        if own:
            relay.idle()
    return sent


def queue_sizes(session: Session) -> dict[str, int]:
    """How many e-mails wait to go (or to be retried) and how many were given up on (metrics.watch_mail)."""
    counts = dict(session.execute(select(Mail.status, func.count()).where(Mail.status.in_((MAIL_PENDING, MAIL_FAILED)))
                                  .group_by(Mail.status)).all())
    return {state: counts.get(state, 0) for state in (MAIL_PENDING, MAIL_FAILED)}


def retry_failed(session: Session, mail: Mail, now: datetime) -> Mail:
    """Queue a failed message again (someone fixed the address or the relay): a fresh give-up clock, the
    same Message-ID."""
    mail.status, mail.queued_at, mail.next_attempt_at, mail.claimed_until = MAIL_PENDING, now, now, None
    return mail


# --- the daily digest -------------------------------------------------------------------------

def queue_digest(session: Session, staff: StaffMember, alerts: list[Alert], public_url: str, now: datetime) -> Mail | None:
    """One e-mail for a day's non-urgent alerts: how many, and a link to the alerts page."""
    for alert in alerts:
        alert.digest_pending = False
    if not alerts:
        return None
    count = len(alerts)
    message = compose(staff.name, [f"You have {count} new alert{'s' if count != 1 else ''} in Haven since your "
                                   "last daily e-mail. Urgent alerts are always e-mailed at once."],
                      link_to(public_url, "/alerts"), subject=DIGEST_SUBJECT)
    mail = queue_mail(session, staff, message, public_url, now)
    if mail is not None:
        session.flush()
        for alert in alerts:
            alert.digest_mail_id = mail.id
    return mail

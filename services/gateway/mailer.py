"""The gateway's own mail: set-password links, and nothing else.

Sent over the settings' SMTP relay (the one the alerts service uses) through Haven's one SMTP transport
(services/common/smtp.py: STARTTLS by default, certificates verified), in a worker thread so the event
loop never waits on a mail server. A message says who it is for, the school and the link: never anything
about a pupil or a record (DESIGN rule 7).
"""
from __future__ import annotations

import asyncio
import logging
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from services.common.smtp import SmtpMailer, mail_text

from .settings import GatewaySettings

log = logging.getLogger("haven.gateway.mail")

__all__ = ["deliver", "mail_text", "send", "set_password_message"]


def set_password_message(cfg: GatewaySettings, *, to: str, name: str, school: str, link: str,
                         hours: int, first: bool) -> EmailMessage:
    """The e-mail carrying a set-password link: the person's name, the school's, the link, its expiry."""
    message = EmailMessage()
    message["From"], message["To"] = cfg.mail_from, to
    message["Subject"] = "Set your Haven password" if first else "Choose a new Haven password"
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain="haven")
    name, school = mail_text(name), mail_text(school)
    opening = (f"An account on Haven, {school}'s safeguarding record system, has been made for you."
               if first else f"You have been sent a link to choose a new password for Haven at {school}.")
    message.set_content(
        f"Dear {name},\n\n{opening}\n\nChoose your password here (the link works once, for {hours} hours):\n\n"
        f"{link}\n\nThen sign in with this e-mail address and your new password. If you were not expecting "
        "this e-mail, do not use the link: tell your school's Haven administrator.\n\nHaven\n")
    return message


def send(cfg: GatewaySettings, message: EmailMessage) -> None:
    """Deliver one message (blocking), as the settings' HAVEN_SMTP_SECURITY and login say."""
    with SmtpMailer.from_settings(cfg).connection() as conn:
        conn.send_message(message)


async def deliver(cfg: GatewaySettings, message: EmailMessage) -> bool:
    """Send in a worker thread; False (logged without the address or the link) when the relay fails, so
    the caller can say the link was not sent and offer to send another."""
    try:
        await asyncio.to_thread(send, cfg, message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("set-password e-mail not sent: %s", type(exc).__name__)
        return False
    return True

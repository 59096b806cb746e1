"""The gateway's own mail: set-password links, and nothing else.

Sent with smtplib over the settings' SMTP relay (the one the alerts service uses), in a worker thread so
the event loop never waits on a mail server. A message says who it is for, the school and the link:
never anything about a pupil or a record (DESIGN rule 7).
"""
from __future__ import annotations

import asyncio
import logging
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

from .settings import GatewaySettings

log = logging.getLogger("haven.gateway.mail")
SMTP_TIMEOUT_SECONDS = 15
# What a person's or a school's name may bring into an e-mail (DESIGN: text that reaches an e-mail is
# checked against an allow-list): letters and digits of any script, spaces and the punctuation names use.
# Anything else (a colon, a slash, angle brackets: the makings of a link or markup) is dropped, so a name
# cannot put a link of its own beside ours.
_NOT_IN_NAMES = re.compile(r"[^\w .,'\u2019&()-]")


def mail_text(text: str, limit: int = 200) -> str:
    """A name as an e-mail may show it: on one line, only allowed characters."""
    return " ".join(_NOT_IN_NAMES.sub(" ", text or "").split())[:limit]


def set_password_message(cfg: GatewaySettings, *, to: str, name: str, school: str, link: str,
                         hours: int, first: bool) -> EmailMessage:
    """The e-mail carrying a set-password link: the person's name, the school's, the link, its expiry."""
    message = EmailMessage()
    message["From"], message["To"] = cfg.mail_from, to
    message["Subject"] = "Set your Haven password" if first else "Choose a new Haven password"
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
    """Deliver one message (blocking): STARTTLS and a login when the settings ask for them."""
    with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
        if cfg.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if cfg.smtp_username:
            smtp.login(cfg.smtp_username, cfg.smtp_password or "")
        smtp.send_message(message)


async def deliver(cfg: GatewaySettings, message: EmailMessage) -> bool:
    """Send in a worker thread; False (logged without the address or the link) when the relay fails, so
    the caller can say the link was not sent and offer to send another."""
    try:
        await asyncio.to_thread(send, cfg, message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("set-password e-mail not sent: %s", type(exc).__name__)
        return False
    return True

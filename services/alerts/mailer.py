"""Sending one e-mail over SMTP with the standard library; no Nameko, no knowledge of alerts."""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate


class SmtpMailer:
    """`send(to, subject, body)` delivers one plain-text message or raises (smtplib/OSError)."""

    def __init__(self, host: str, port: int, mail_from: str, username: str | None = None,
                 password: str | None = None, starttls: bool = False, timeout: float = 30.0):
        self.host, self.port, self.mail_from = host, port, mail_from
        self.username, self.password, self.starttls = username, password, starttls
        self.timeout = timeout

    def send(self, to: str, subject: str, body: str, message_id: str | None = None) -> None:
        message = EmailMessage()
        message["From"] = self.mail_from
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(usegmt=True)
        if message_id:
            # Stable per queued message, so a mail client can fold the rare duplicate left by a
            # crash between the server accepting a message and us recording it as sent.
            message["Message-ID"] = message_id
        message.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)

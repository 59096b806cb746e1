"""Haven's one way of handing e-mail to a mail relay: text and HTML parts, over TLS or STARTTLS.

Standard library only, no Nameko and no knowledge of alerts or accounts: the alerts service sends its
alerts through it, the gateway its set-password links. STARTTLS is the default; a relay that does not
offer it is refused rather than used in plain text, certificates are always verified, and a password is
never sent over an unencrypted connection. Every failure raises (smtplib, OSError, ssl errors): the
caller records the attempt and tries again later.
"""
from __future__ import annotations

import html
import re
import smtplib
import socket
import ssl
from email import charset
from email.policy import compat32
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid, parseaddr
from functools import cached_property
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    from .settings import MailSettings

Security = Literal["starttls", "tls", "none"]
SECURITY_CHOICES: tuple[str, ...] = get_args(Security)
PLAIN_TEXT_LOGIN_REFUSED = ("SMTP authentication over plain text is refused: "
                            "set HAVEN_SMTP_SECURITY to starttls or tls")

# What a person's or a school's name may bring into an e-mail (DESIGN: text that reaches an e-mail is
# checked against an allow-list): letters and digits of any script, spaces and the punctuation names use.
# Anything else (a colon, a slash, an @, angle brackets: the makings of a link, an address or markup) is
# dropped, so a name cannot put a link of its own beside ours. A full stop between letters gets a space
# after it: mail clients turn "www.evil.example" into a link even without "https://" ("J.R. Smith" reads
# as "J. R. Smith").
_NOT_IN_NAMES = re.compile(r"[^\w .,'\u2019&()-]")
_DOTTED = re.compile(r"(?<=\w)\.(?=\w)")
_LINK = re.compile(r"https?://[^\s<>\"']+")
# Non-ASCII text goes quoted-printable (readable in the raw message), not base64.
_UTF8_QP = charset.Charset("utf-8")
_UTF8_QP.body_encoding = charset.QP
_WIRE = compat32.clone(linesep="\r\n")  # SMTP's line ending (smtplib leaves a bytes message as it is)


def mail_text(text: str, limit: int = 200) -> str:
    """A name as an e-mail may show it: on one line, only allowed characters, nothing a mail client
    would make a link of, at most `limit` characters."""
    return " ".join(_DOTTED.sub(". ", _NOT_IN_NAMES.sub(" ", text or "")).split())[:limit]


def html_from_text(text: str) -> str:
    """The HTML part for a plain-text body: every character escaped, blank lines as paragraphs, and our
    own http(s) links (already in the text) made clickable."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()):
        lines = []
        for line in block.split("\n"):
            out, at = [], 0
            for link in _LINK.finditer(line):
                url = html.escape(link.group(0))
                out += [html.escape(line[at:link.start()]), f'<a href="{url}">{url}</a>']
                at = link.end()
            lines.append("".join(out) + html.escape(line[at:]))
        paragraphs.append("<p>" + "<br>\n".join(lines) + "</p>")
    return ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
            '<body style="font-family: sans-serif; line-height: 1.4">\n' + "\n".join(paragraphs) + "\n</body></html>\n")


def _part(body: str, subtype: str) -> MIMEText:
    """7-bit when the text is ASCII in short lines (links stay whole in the raw message), else QP UTF-8."""
    if body.isascii() and all(len(line) <= 998 for line in body.splitlines()):
        return MIMEText(body, subtype, "us-ascii")
    return MIMEText(body, subtype, _UTF8_QP)


def _header(value: str) -> str | Header:
    return value if value.isascii() else Header(value, "utf-8")


class SmtpSecurityError(smtplib.SMTPException):
    """The relay cannot be used safely (no STARTTLS offered, or a login that would go out in clear)."""


class SmtpConnection:
    """One open, ready connection to the relay; several messages may go over it. A context manager:
    leaving it says goodbye to the relay (QUIT), or just closes the socket when the relay is gone."""

    def __init__(self, mailer: SmtpMailer, smtp: smtplib.SMTP):
        self._mailer, self._smtp = mailer, smtp

    def send(self, to: str, subject: str, text: str, html: str | None = None,
             message_id: str | None = None) -> None:
        message = self._mailer.message(to, subject, text, html=html, message_id=message_id)
        self._smtp.sendmail(self._mailer.envelope_from, [to], message.as_bytes(policy=_WIRE))

    def send_message(self, message: EmailMessage) -> None:
        """Hand over a message built elsewhere (it gets a Date if it has none)."""
        if "Date" not in message:
            message["Date"] = formatdate(usegmt=True)
        self._smtp.send_message(message)

    def close(self) -> None:
        try:
            self._smtp.quit()
        except (smtplib.SMTPException, OSError):
            self._smtp.close()  # what was accepted stays accepted; a failed goodbye is no failure

    def __enter__(self) -> SmtpConnection:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class SmtpMailer:
    """`send(to, subject, text, html=None, message_id=None)` delivers one message over one connection;
    `with mailer.connection() as conn: conn.send(...)` several over one."""

    def __init__(self, host: str, port: int, mail_from: str, *, security: Security = "starttls",
                 username: str | None = None, password: str | None = None, ca_file: str | None = None,
                 timeout: float = 20.0):
        if security not in SECURITY_CHOICES:
            raise ValueError(f"SMTP security must be one of {', '.join(SECURITY_CHOICES)}, not {security!r}")
        if username and security == "none":
            raise ValueError(PLAIN_TEXT_LOGIN_REFUSED)
        self.host, self.port, self.mail_from = host, port, mail_from
        self.security, self.username, self.password = security, username, password
        self.ca_file, self.timeout = ca_file, timeout

    @classmethod
    def from_settings(cls, settings: MailSettings) -> SmtpMailer:
        return cls(settings.smtp_host, settings.smtp_port, settings.mail_from, security=settings.smtp_security,
                   username=settings.smtp_username, password=settings.smtp_password,
                   ca_file=settings.smtp_ca_file, timeout=settings.smtp_timeout_seconds)

    # Built once per mailer: loading the system's CA certificates costs milliseconds on every message
    # otherwise, and a slow DNS can make smtplib's own getfqdn() per connection cost seconds.
    @cached_property
    def tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()  # verifies the chain and the host name
        if self.ca_file:
            context.load_verify_locations(cafile=self.ca_file)  # in addition to the system's CAs
        return context

    @cached_property
    def local_hostname(self) -> str:
        return socket.getfqdn()

    @cached_property
    def envelope_from(self) -> str:
        return parseaddr(self.mail_from)[1] or self.mail_from

    def message(self, to: str, subject: str, text: str, html: str | None = None,
                message_id: str | None = None) -> Message:
        """The message as sent: text/plain, or multipart/alternative with an HTML part when given.

        `message_id` should be stable per queued message, so a mail client folds the rare duplicate left
        by a crash between the relay accepting a message and the sender recording it as sent. Built with
        the email package's classic classes: a quarter of the time of `EmailMessage`, which matters when
        alerts go out by the hundred."""
        if html is None:
            message = _part(text, "plain")
        else:
            message = MIMEMultipart("alternative")
            message.attach(_part(text, "plain"))
            message.attach(_part(html, "html"))
        message["From"] = _header(self.mail_from)
        message["To"] = _header(to)
        message["Subject"] = _header(subject)
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = message_id or make_msgid(domain="haven")
        return message

    def send(self, to: str, subject: str, text: str, html: str | None = None,
             message_id: str | None = None) -> None:
        with self.connection() as conn:
            conn.send(to, subject, text, html=html, message_id=message_id)

    def connection(self) -> SmtpConnection:
        """An open connection (TLS and login done), to use as `with mailer.connection() as conn:`."""
        return SmtpConnection(self, self._open())

    def _open(self) -> smtplib.SMTP:
        if self.security == "tls":
            smtp = smtplib.SMTP_SSL(self.host, self.port, local_hostname=self.local_hostname,
                                    timeout=self.timeout, context=self.tls_context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout)
        try:
            encrypted = self.security == "tls"
            if self.security == "starttls":
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    # Never fall back to plain text: an attacker on the path can strip the offer.
                    raise SmtpSecurityError("the mail relay does not offer STARTTLS; "
                                            "nothing was sent in plain text")
                smtp.starttls(context=self.tls_context)
                encrypted = True
            if self.username:
                if not encrypted:
                    raise SmtpSecurityError(PLAIN_TEXT_LOGIN_REFUSED)
                smtp.login(self.username, self.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

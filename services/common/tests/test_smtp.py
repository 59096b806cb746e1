"""services/common/smtp.py against a real SMTP server (aiosmtpd): text and HTML parts, STARTTLS and
implicit TLS with certificates made here, a login only over TLS, and several messages on one connection."""
from __future__ import annotations

import datetime
import ipaddress
import re
import smtplib
import socket
import ssl
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import ValidationError

from services.common.settings import MailSettings
from services.common.smtp import SmtpMailer, SmtpSecurityError, html_from_text, mail_text
from services.common.testing import key_settings

FROM = "Haven <haven@school.test>"
USER, PASSWORD = "haven-relay", "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- certificates: a private CA, and server certificates it signs -------------------------------

def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path, *pems: bytes) -> str:
    path.write_bytes(b"".join(pems))
    return str(path)


def _certificate(subject, issuer, public_key, signing_key, extensions) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2)))
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(signing_key, hashes.SHA256())


class CertificateAuthority:
    def __init__(self, directory, name: str):
        self.directory, self.name = directory, name
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = _certificate(_name(name), _name(name), self.key.public_key(), self.key, [
            (x509.BasicConstraints(ca=True, path_length=None), True),
            (x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                           key_encipherment=False, data_encipherment=False, key_agreement=False,
                           encipher_only=False, decipher_only=False), True),
            (x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), False),
        ])
        self.ca_file = _write(directory / f"{name}-ca.pem", self.cert.public_bytes(serialization.Encoding.PEM))

    def server_context(self, *names: str) -> ssl.SSLContext:
        """A server's TLS context with a certificate for `names` (host names or IP addresses)."""
        key = ec.generate_private_key(ec.SECP256R1())
        alt = [x509.IPAddress(ipaddress.ip_address(n)) if n[0].isdigit() else x509.DNSName(n) for n in names]
        cert = _certificate(_name(names[0]), self.cert.subject, key.public_key(), self.key, [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (x509.SubjectAlternativeName(alt), False),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
            (x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False),
        ])
        stem = self.directory / f"{self.name}-{names[0]}"
        certfile = _write(stem.with_suffix(".crt"), cert.public_bytes(serialization.Encoding.PEM))
        keyfile = _write(stem.with_suffix(".key"), key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        return context


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return CertificateAuthority(tmp_path_factory.mktemp("pki"), "school-relay")


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory):
    return CertificateAuthority(tmp_path_factory.mktemp("pki-other"), "stranger")


# --- the relay ------------------------------------------------------------------------------

class Relay:
    """An aiosmtpd server that keeps what it received, over which connection, and whether encrypted."""

    def __init__(self, login: bool = False, **smtp_options):
        self.port = free_port()  # Controller(port=0) would not report the real port
        self.messages, self.logins = [], []
        if login:
            smtp_options["authenticator"] = self.authenticator
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **smtp_options)

    async def handle_DATA(self, server, session, envelope):
        self.messages.append({
            "message": message_from_bytes(envelope.content, policy=policy.default),
            "peer": session.peer,
            "encrypted": server.transport.get_extra_info("ssl_object") is not None,
            "login": session.auth_data.login.decode() if session.authenticated else None,
        })
        return "250 OK"

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        self.logins.append((auth_data.login.decode(), encrypted))
        return AuthResult(success=(auth_data.login.decode(), auth_data.password.decode()) == (USER, PASSWORD),
                          handled=False, auth_data=auth_data)


@pytest.fixture
def relay():
    """relay(login=False, **aiosmtpd options) starts a relay; each is stopped after the test."""
    started = []

    def start(**options) -> Relay:
        server = Relay(**options)
        server.controller.start()
        started.append(server)
        return server
    yield start
    for server in started:
        server.controller.stop()


def mailer(port: int, **options) -> SmtpMailer:
    return SmtpMailer("127.0.0.1", port, FROM, timeout=5, **options)


# --- what a message holds ---------------------------------------------------------------------

def test_a_message_with_html_has_a_text_part_and_an_escaped_html_part(relay):
    server = relay()
    text = "Dear <b>Dana</b> & co,\n\nOpen it in Haven:\nhttps://haven.test/alerts/7?from=mail&x=\"1\"\n"
    mailer(server.port, security="none").send("dana@school.test", "Haven: a new alert for you", text,
                                               html=html_from_text(text), message_id="<alert-7-20@haven.test>")
    [received] = server.messages
    message = received["message"]
    assert message.get_content_type() == "multipart/alternative"
    assert (message["From"], message["To"], message["Subject"], message["Message-ID"]) == \
        (FROM, "dana@school.test", "Haven: a new alert for you", "<alert-7-20@haven.test>")
    assert message["Date"]
    assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == text
    html = message.get_body(("html",)).get_content()
    assert "<b>" not in html and "&lt;b&gt;Dana&lt;/b&gt; &amp; co" in html
    assert '<a href="https://haven.test/alerts/7?from=mail&amp;x=">' in html  # the quote ends the link
    assert "&quot;1&quot;" in html


def test_a_message_without_html_is_plain_text_and_gets_a_message_id(relay):
    server = relay()
    mailer(server.port, security="none").send("dana@school.test", "Subject", "Hello\n")
    [received] = server.messages
    assert received["message"].get_content_type() == "text/plain"
    assert received["message"]["Message-ID"].endswith("@haven>")


def test_names_reach_an_email_only_through_the_allow_list():
    assert mail_text("Dana <a href='https://evil.test'>Lead</a>\nSchool") == \
        "Dana a href 'https evil. test' Lead a School"
    assert mail_text("Siân O’Brien-Smith (Head)") == "Siân O’Brien-Smith (Head)"
    assert len(mail_text("x" * 500)) == 200


def test_a_name_cannot_bring_an_address_a_mail_client_would_link():
    for crafted in ("Re-verify your login at https://evil.example", "Visit www.evil.example today",
                    "Mail reset@evil.example", "St Mary's\r\nBcc: x@evil.example", "evil.example/login",
                    "Dana\u2028www.evil.example", "evil．example"):
        shown = mail_text(crafted)
        assert not re.search(r"://|@|\w\.\w|[\r\n\u2028]", shown), (crafted, shown)
    assert mail_text("J.R. Smith, St. Mary's C.E. Primary") == "J. R. Smith, St. Mary's C. E. Primary"
    assert mail_text("Zoë d’Arcy-Núñez & Co (Year 6)") == "Zoë d’Arcy-Núñez & Co (Year 6)"


def test_several_messages_go_over_one_connection_and_one_login(relay, ca):
    server = relay(login=True, tls_context=ca.server_context("127.0.0.1"), require_starttls=True)
    smtp = mailer(server.port, ca_file=ca.ca_file, username=USER, password=PASSWORD)
    with smtp.connection() as conn:
        for n in range(3):
            conn.send(f"user{n}@school.test", "Haven: a new alert for you", f"Message {n}\n")
    smtp.send("user9@school.test", "Haven: a new alert for you", "On its own\n")
    assert [m["message"]["To"] for m in server.messages] == \
        ["user0@school.test", "user1@school.test", "user2@school.test", "user9@school.test"]
    assert len({m["peer"] for m in server.messages[:3]}) == 1
    assert server.messages[3]["peer"] != server.messages[0]["peer"]
    assert server.logins == [(USER, True), (USER, True)]


# --- STARTTLS (the default) -------------------------------------------------------------------

def test_starttls_encrypts_and_then_logs_in(relay, ca):
    server = relay(login=True, tls_context=ca.server_context("127.0.0.1"), require_starttls=True,
                         auth_require_tls=True)
    mailer(server.port, ca_file=ca.ca_file, username=USER, password=PASSWORD).send(
        "dana@school.test", "Subject", "Hello\n")
    [received] = server.messages
    assert received["encrypted"] and received["login"] == USER
    assert server.logins == [(USER, True)]


def test_a_wrong_password_is_an_error_and_nothing_is_sent(relay, ca):
    server = relay(login=True, tls_context=ca.server_context("127.0.0.1"), require_starttls=True)
    with pytest.raises(smtplib.SMTPAuthenticationError):
        mailer(server.port, ca_file=ca.ca_file, username=USER, password="wrong").send("d@school.test", "S", "x\n")
    assert server.messages == []
    assert server.logins and all(encrypted for _, encrypted in server.logins)  # smtplib tries each mechanism


def test_starttls_is_the_default_and_a_relay_without_it_is_refused(relay):
    server = relay()  # plain SMTP only: no STARTTLS offered
    with pytest.raises(SmtpSecurityError, match="does not offer STARTTLS"):
        SmtpMailer("127.0.0.1", server.port, FROM, timeout=5).send("dana@school.test", "Subject", "Hello\n")
    assert server.messages == []


def test_without_starttls_the_password_never_goes_out_in_plain_text(relay):
    server = relay(login=True, auth_require_tls=False)  # would take a login in plain text
    with pytest.raises(SmtpSecurityError):
        mailer(server.port, username=USER, password=PASSWORD).send("dana@school.test", "Subject", "Hello\n")
    assert server.logins == [] and server.messages == []


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_a_certificate_from_an_untrusted_authority_is_refused(relay, ca, other_ca, security):
    context = other_ca.server_context("127.0.0.1")
    server = relay(tls_context=context) if security == "starttls" else relay(ssl_context=context)
    for ca_file in (None, ca.ca_file):  # neither the system's authorities nor our relay's own
        with pytest.raises(ssl.SSLCertVerificationError):
            mailer(server.port, security=security, ca_file=ca_file).send("dana@school.test", "Subject", "Hi\n")
    assert server.messages == []


def test_a_certificate_for_another_host_is_refused(relay, ca):
    server = relay(tls_context=ca.server_context("mail.elsewhere.test"))
    with pytest.raises(ssl.SSLCertVerificationError, match="(?i)hostname|IP address mismatch"):
        mailer(server.port, ca_file=ca.ca_file).send("dana@school.test", "Subject", "Hello\n")
    assert server.messages == []


# --- implicit TLS -----------------------------------------------------------------------------

def test_implicit_tls_sends_and_logs_in(relay, ca):
    # aiosmtpd does not count implicit TLS as TLS for its auth_require_tls: the connection is encrypted
    # from the first byte, which the handler checks.
    server = relay(login=True, ssl_context=ca.server_context("127.0.0.1"), auth_require_tls=False)
    mailer(server.port, security="tls", ca_file=ca.ca_file, username=USER, password=PASSWORD).send(
        "dana@school.test", "Subject", "Hello\n", html="<p>Hello</p>")
    [received] = server.messages
    assert received["encrypted"] and received["login"] == USER
    assert server.logins == [(USER, True)]


# --- refusing a login over plain text, in the settings and in the mailer -----------------------

def test_the_mailer_refuses_a_login_over_plain_text_before_connecting(relay):
    server = relay(login=True, auth_require_tls=False)
    with pytest.raises(ValueError, match="authentication over plain text is refused"):
        mailer(server.port, security="none", username=USER, password=PASSWORD)
    with pytest.raises(ValueError, match="security must be one of"):
        mailer(server.port, security="ssl")
    assert server.logins == []


def test_settings_refuse_a_login_over_plain_text_without_showing_the_password(monkeypatch):
    monkeypatch.delenv("HAVEN_SMTP_SECURITY", raising=False)
    monkeypatch.delenv("HAVEN_SMTP_STARTTLS", raising=False)
    with pytest.raises(ValidationError, match="HAVEN_SMTP_SECURITY to starttls or tls") as refused:
        MailSettings(**key_settings(), smtp_security="none", smtp_username=USER, smtp_password=PASSWORD)
    assert PASSWORD not in str(refused.value)
    assert MailSettings(**key_settings()).smtp_security == "starttls"
    assert MailSettings(**key_settings(), smtp_security="tls", smtp_username=USER).smtp_security == "tls"


def test_the_old_starttls_false_setting_still_means_plain_text(monkeypatch):
    monkeypatch.delenv("HAVEN_SMTP_SECURITY", raising=False)
    monkeypatch.setenv("HAVEN_SMTP_STARTTLS", "false")
    assert MailSettings(**key_settings()).smtp_security == "none"
    monkeypatch.setenv("HAVEN_SMTP_SECURITY", "tls")  # the new setting wins
    assert MailSettings(**key_settings()).smtp_security == "tls"
    monkeypatch.setenv("HAVEN_SMTP_STARTTLS", "true")
    monkeypatch.delenv("HAVEN_SMTP_SECURITY")
    assert MailSettings(**key_settings()).smtp_security == "starttls"


def test_the_mailer_is_built_from_the_settings(relay, ca, monkeypatch):
    monkeypatch.delenv("HAVEN_SMTP_STARTTLS", raising=False)
    server = relay(login=True, tls_context=ca.server_context("127.0.0.1"), require_starttls=True)
    settings = MailSettings(**key_settings(), smtp_host="127.0.0.1", smtp_port=server.port, mail_from=FROM,
                            smtp_username=USER, smtp_password=PASSWORD, smtp_ca_file=ca.ca_file,
                            smtp_timeout_seconds=5)
    SmtpMailer.from_settings(settings).send("dana@school.test", "Subject", "Hello\n")
    [received] = server.messages
    assert received["encrypted"] and received["login"] == USER and received["message"]["From"] == FROM

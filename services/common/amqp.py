"""How every Haven process reaches RabbitMQ, over TLS when HAVEN_AMQP_URI says amqps://.

    amqps://haven:<password>@rabbitmq:5671/?cacertfile=/certs/ca.pem

The TLS options are RabbitMQ's own URI query parameters (`cacertfile`, `certfile` and `keyfile` for
a client certificate, `server_name_indication` for the name the certificate must carry when it is not
the host's), so they travel with the URI: every connection made from it — Nameko's consumers and
replies, the outbox relay, retries and dead letters, the topology step, the gateway's RPC client and
dead-letter pages — is checked the same way, wherever the URI is handed. Each connection is made
here (kombu for the services, pika for the gateway); kombu and pika never see the options themselves.

Over amqps:// the broker's certificate must chain to `cacertfile` (the system's CAs when it is not
given) and name the host (services/common/tls.py). `verify=verify_none` is refused, not obeyed.
"""
from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pika
from kombu import Connection

from .tls import MINIMUM_VERSION, TlsSetupError, client_context, require_files

TLS_OPTIONS = ("cacertfile", "certfile", "keyfile", "server_name_indication", "verify")
# Beside Nameko's AMQP_URI (the URI without TLS options) and AMQP_SSL: the URI as configured, for our
# own extensions' connections (nameko_ext).
FULL_URI_KEY = "HAVEN_AMQP_URI"


class BadBrokerUri(TlsSetupError):
    """HAVEN_AMQP_URI cannot be used as written (the message never repeats the URI: it holds a password)."""


@dataclass(frozen=True)
class Broker:
    uri: str  # without the TLS options: what kombu and pika are given
    host: str
    tls: bool
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None

    @property
    def verified_name(self) -> str:
        return self.server_name or self.host


def broker(uri: str) -> Broker:
    """Read HAVEN_AMQP_URI; raises BadBrokerUri for TLS options that would not verify or not apply."""
    parts = urlsplit(uri)
    if parts.scheme not in ("amqp", "amqps"):
        raise BadBrokerUri("HAVEN_AMQP_URI must start amqp:// or amqps://")
    query = parse_qsl(parts.query, keep_blank_values=True)
    options = {name: value for name, value in query if name in TLS_OPTIONS}
    rest = [(name, value) for name, value in query if name not in TLS_OPTIONS]
    if options and parts.scheme == "amqp":
        raise BadBrokerUri(f"HAVEN_AMQP_URI: {', '.join(sorted(options))} given for a plain amqp:// "
                           "connection; write amqps:// to use TLS")
    if options.get("verify", "verify_peer") != "verify_peer":
        raise BadBrokerUri("HAVEN_AMQP_URI: Haven always verifies the broker's certificate; "
                           "remove verify=, or give cacertfile= for a private CA")
    if options.get("keyfile") and not options.get("certfile"):
        raise BadBrokerUri("HAVEN_AMQP_URI: keyfile= needs certfile= (the client certificate)")
    plain = urlunsplit(parts._replace(query=urlencode(rest)))
    return Broker(plain, parts.hostname or "localhost", parts.scheme == "amqps",
                  options.get("cacertfile") or None, options.get("certfile") or None,
                  options.get("keyfile") or None, options.get("server_name_indication") or None)


def ssl_context(uri: str) -> ssl.SSLContext | None:
    """The verifying client context for an amqps:// URI; None for amqp://."""
    b = broker(uri)
    return client_context(b.ca_file, b.cert_file, b.key_file) if b.tls else None


def kombu_ssl(uri: str) -> dict | None:
    """kombu's `ssl` for this URI (py-amqp takes options, not a context): the same checks as
    ssl_context — the certificate required, chained to the CA file (or the system's), naming the host."""
    b = broker(uri)
    if not b.tls:
        return None
    require_files(cacertfile=b.ca_file, certfile=b.cert_file, keyfile=b.key_file)
    options = {"cert_reqs": ssl.CERT_REQUIRED, "server_hostname": b.verified_name,
               "tls_minimum_version": MINIMUM_VERSION}
    for key, value in (("ca_certs", b.ca_file), ("certfile", b.cert_file), ("keyfile", b.key_file)):
        if value:
            options[key] = value
    return options


def connection(uri: str, **kwargs):
    """A kombu Connection to the broker (lazy, as kombu's are)."""
    return Connection(broker(uri).uri, ssl=kombu_ssl(uri) or False, **kwargs)


def nameko_config(uri: str) -> dict:
    """The broker's part of a ServiceRunner's config."""
    return {"AMQP_URI": broker(uri).uri, "AMQP_SSL": kombu_ssl(uri), FULL_URI_KEY: uri}


def pika_parameters(uri: str):
    """pika's connection parameters, with the verifying context over amqps://."""
    b = broker(uri)
    parameters = pika.URLParameters(b.uri)
    parameters.ssl_options = pika.SSLOptions(ssl_context(uri), b.verified_name) if b.tls else None
    return parameters

"""TLS for Haven's own connections (RabbitMQ, PostgreSQL): whoever answers is always checked.

One place builds the client side, so the broker and the databases are verified alike: the server's
certificate must chain to the CA file given (only that CA: a private one for the deployment) or, when
none is given, to the system's CAs, and it must name the host connected to. There is no switch that
turns the check off; PostgreSQL's `verify-ca` (chain only) is the one loosening, and it is asked for
by name.
"""
from __future__ import annotations

import os
import ssl

MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2


class TlsSetupError(ValueError):
    """A TLS option that cannot be used: a file that is not there, a mode that would not verify. The
    message names the option, never a password."""


def require_files(**paths: str | None) -> None:
    for option, path in paths.items():
        if path and not os.path.isfile(path):
            raise TlsSetupError(f"{option}: {path} is not a readable file")


def client_context(ca_file: str | None = None, cert_file: str | None = None, key_file: str | None = None,
                   check_hostname: bool = True) -> ssl.SSLContext:
    """A client context that requires a certificate from the server (and, with a client certificate,
    presents it). `check_hostname=False` only for PostgreSQL's verify-ca."""
    require_files(ca_file=ca_file, cert_file=cert_file, key_file=key_file)
    if key_file and not cert_file:
        raise TlsSetupError("a client key was given without its certificate")
    context = ssl.create_default_context(cafile=ca_file)  # CERT_REQUIRED; the CA file alone when given
    context.minimum_version = MINIMUM_VERSION
    context.check_hostname = check_hostname
    if cert_file:
        context.load_cert_chain(cert_file, key_file)
    return context

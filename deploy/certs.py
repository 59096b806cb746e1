"""A private CA and a certificate for each server, for the compose stack's TLS (README "TLS").

    python -m deploy.certs --out /certs --hosts rabbitmq postgres --key-group 999

writes `ca.pem` (what every Haven process trusts: HAVEN_AMQP_URI's cacertfile=, a database URL's
sslrootcert=) and `<host>.pem` / `<host>.key` for each host, the certificate naming that host. The
CA's private key is never written: it signs the servers' certificates and is gone, so nothing in the
volume can mint another certificate Haven would trust. To renew, or to add a host, run again with
--force: a new CA and new certificates replace the old, and each process picks them up when it
restarts. Without --force a run that finds valid files (for more than RENEW_BEFORE) changes nothing,
so the step can run on every `docker compose up`.

Private keys are 0600, or 0640 with --key-group: the servers (the rabbitmq and postgres images run
as gid 999) read their key through the group, and PostgreSQL accepts a root-owned key only so.
"""
from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
SERVER_DAYS = 825
RENEW_BEFORE = dt.timedelta(days=30)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Haven"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def make_ca(common_name: str = "Haven private CA", days: int = CA_DAYS):
    """(private key, certificate) of a CA that can sign server certificates only (path length 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(_name(common_name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def issue(ca_key, ca_cert, hosts: list[str], days: int = SERVER_DAYS, client: bool = False):
    """(private key, certificate) for a server named by each of `hosts` (DNS names or IP addresses);
    `client=True` for a client certificate instead."""
    key = ec.generate_private_key(ec.SECP256R1())
    names = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    now = _now()
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    cert = (x509.CertificateBuilder().subject_name(_name(hosts[0])).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def cert_pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def write_file(path: str, data: bytes, mode: int, group: int | None = None) -> None:
    """Written under a temporary name with its final mode from the start, then moved into place."""
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        if group is not None:
            os.fchown(fd, -1, group)
        os.fchmod(fd, mode)  # whatever the umask took away
    finally:
        os.close(fd)
    os.replace(tmp, path)


def still_valid(out: str, hosts: list[str]) -> bool:
    paths = [os.path.join(out, "ca.pem")] + [os.path.join(out, f"{h}.pem") for h in hosts]
    if not all(os.path.isfile(p) for p in paths) or \
            not all(os.path.isfile(os.path.join(out, f"{h}.key")) for h in hosts):
        return False
    for path in paths:
        with open(path, "rb") as f:
            if x509.load_pem_x509_certificate(f.read()).not_valid_after_utc - RENEW_BEFORE < _now():
                return False
    return True


def write(out: str, hosts: list[str], key_group: int | None = None, force: bool = False) -> bool:
    """Write the CA certificate and each host's certificate and key into `out`; False when valid files
    were already there (and not forced)."""
    os.makedirs(out, exist_ok=True)
    if not force and still_valid(out, hosts):
        return False
    ca_key, ca_cert = make_ca()
    for host in hosts:
        key, cert = issue(ca_key, ca_cert, [host])
        write_file(os.path.join(out, f"{host}.key"), key_pem(key), 0o640 if key_group is not None else 0o600,
                   key_group)
        write_file(os.path.join(out, f"{host}.pem"), cert_pem(cert), 0o644)
    write_file(os.path.join(out, "ca.pem"), cert_pem(ca_cert), 0o644)  # last: a complete set, or none new
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.certs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="the directory to write into (a volume)")
    parser.add_argument("--hosts", nargs="+", required=True, help="a certificate for each of these server names")
    parser.add_argument("--key-group", type=int, help="the group id that may read the private keys (0640)")
    parser.add_argument("--force", action="store_true", help="a new CA and certificates even if valid ones exist")
    args = parser.parse_args(argv)
    if write(args.out, args.hosts, args.key_group, args.force):
        print(f"wrote a new private CA and certificates for {', '.join(args.hosts)} into {args.out}")
    else:
        print(f"certificates in {args.out} are valid; nothing changed (--force to renew)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

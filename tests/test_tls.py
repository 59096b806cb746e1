"""AMQP and PostgreSQL over TLS (issue 9), against a RabbitMQ node and a PostgreSQL cluster this module
starts with TLS listeners on their own ports, using certificates from deploy/certs.py.

The server certificates name `localhost` only. Each refusal is a broker or database that is not who
Haven was told to expect: one whose certificate a different CA signed (an impostor), or one reached by a
name its certificate does not carry. Haven must refuse it before sending anything, say why, and the
real server must show that nothing arrived.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import uuid

import pika
import pika.exceptions
import pytest
import sqlalchemy as sa
from kombu import Connection, Exchange, Producer, Queue

from deploy import certs
from services.common import amqp, dlq
from services.common.db import make_engine, migrate, postgres_tls
from services.common.settings import CommonSettings
from services.common.startup import wait_for_broker
from services.common.testing import PG_HOST, PG_PORT, key_settings
from services.common.tls import TlsSetupError
from services.gateway.rpc_client import RpcClient

START_TIMEOUT = 45  # seconds a server may take to start before the fixture gives up
RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
ALERTS_MIGRATIONS = os.path.join(os.path.dirname(__file__), "..", "services", "alerts", "migrations")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_listening(port: int, proc: subprocess.Popen, log_path: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    with open(log_path, errors="replace") as f:
        tail = f.read()[-3000:]
    raise RuntimeError(f"the server did not start listening on {port}:\n{tail}")


def stop(proc: subprocess.Popen) -> None:
    """The process group this module started, and nothing else."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def write(path: str, data: bytes, mode: int = 0o644) -> str:
    certs.write_file(path, data, mode)
    return path


@pytest.fixture(scope="module")
def pki():
    """Haven's CA and the servers' certificate (for `localhost`), and an impostor's CA and certificate."""
    root = tempfile.mkdtemp(prefix="haven-tls-")
    os.chmod(root, 0o755)  # the PostgreSQL cluster, run as its own user, reads its certificate here
    ca_key, ca_cert = certs.make_ca()
    server_key, server_cert = certs.issue(ca_key, ca_cert, ["localhost"])
    other_key, other_cert = certs.make_ca("Somebody else's CA")
    paths = {
        "ca": write(f"{root}/ca.pem", certs.cert_pem(ca_cert)),
        "server_cert": write(f"{root}/server.pem", certs.cert_pem(server_cert)),
        "server_key": write(f"{root}/server.key", certs.key_pem(server_key), 0o600),
        "other_ca": write(f"{root}/other-ca.pem", certs.cert_pem(other_cert)),
        "root": root,
    }
    yield paths
    shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def serving(command: list[str], home: str, port: int, env: dict | None = None):
    """A server of the test's own, logging into `home`, until it listens on `port`; stopped (its whole
    process group) and `home` removed afterwards."""
    log_path = f"{home}/server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_listening(port, proc, log_path)
        yield proc
    finally:
        stop(proc)
        shutil.rmtree(home, ignore_errors=True)


# --- the broker -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_broker(pki):
    """A RabbitMQ node of its own (own name, ports and data), listening for TLS only, on 127.0.0.1."""
    home = tempfile.mkdtemp(prefix="haven-tls-rabbit-")
    port, dist_port = free_port(), free_port()
    with open(f"{home}/rabbitmq.conf", "w") as f:
        f.write(f"listeners.tcp = none\nlisteners.ssl.default = 127.0.0.1:{port}\n"
                f"ssl_options.cacertfile = {pki['ca']}\nssl_options.certfile = {pki['server_cert']}\n"
                f"ssl_options.keyfile = {pki['server_key']}\n")
    with open(f"{home}/enabled_plugins", "w") as f:
        f.write("[].\n")  # no management plugin: its port belongs to the machine's own broker
    open(f"{home}/rabbitmq-env.conf", "w").close()  # not the machine's (its node name and flags)
    env = {**os.environ, "HOME": home, "RABBITMQ_CONF_ENV_FILE": f"{home}/rabbitmq-env.conf",
           "RABBITMQ_NODENAME": f"haven-tls-{port}@localhost", "RABBITMQ_NODE_PORT": str(free_port()),
           "RABBITMQ_DIST_PORT": str(dist_port), "RABBITMQ_MNESIA_BASE": f"{home}/mnesia",
           "RABBITMQ_LOG_BASE": f"{home}/log", "RABBITMQ_LOGS": "-",
           "RABBITMQ_CONFIG_FILE": f"{home}/rabbitmq.conf",
           "RABBITMQ_ENABLED_PLUGINS_FILE": f"{home}/enabled_plugins",
           "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}"}
    with serving([RABBITMQ_SERVER], home, port, env=env):
        yield port


def broker_uri(port: int, host: str = "localhost", **options: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in options.items())
    return f"amqps://guest:guest@{host}:{port}/" + (f"?{query}" if query else "")


@pytest.fixture
def trusted(tls_broker, pki):
    return broker_uri(tls_broker, cacertfile=pki["ca"])


@pytest.fixture
def impostors(tls_broker, pki):
    """A broker whose certificate Haven's CA did not sign, or that the system's CAs do not know; and
    the real one reached by a name its certificate does not carry."""
    return {"another CA": broker_uri(tls_broker, cacertfile=pki["other_ca"]),
            "the system's CAs": broker_uri(tls_broker),
            "another name": broker_uri(tls_broker, host="127.0.0.1", cacertfile=pki["ca"])}


def messages_in(uri: str, queue: str) -> int | None:
    """How many messages wait in `queue` (None: it does not exist), asked over a trusted connection."""
    with amqp.connection(uri) as conn:
        try:
            return conn.default_channel.queue_declare(queue, passive=True).message_count
        except Exception as exc:  # NOT_FOUND closes the channel
            if "NOT_FOUND" in str(exc):
                return None
            raise


def test_a_service_connection_reaches_the_broker_over_verified_tls(trusted):
    wait_for_broker(trusted, timeout=10)
    queue = Queue(f"haven-tls-{uuid.uuid4().hex}", exchange=Exchange(""), durable=False)
    with amqp.connection(trusted, transport_options={"confirm_publish": True}) as conn:
        assert conn.ssl["cert_reqs"] == ssl.CERT_REQUIRED
        Producer(conn.default_channel).publish(b"{}", routing_key=queue.name, declare=[queue])
        assert conn.connection.transport.sock.version() in ("TLSv1.2", "TLSv1.3")
    assert messages_in(trusted, queue.name) == 1


def test_nameko_is_given_the_same_checks(trusted, pki):
    """Nameko's consumers and replies connect with AMQP_URI and AMQP_SSL, as kombu reads them."""
    config = amqp.nameko_config(trusted)
    assert "cacertfile" not in config["AMQP_URI"] and config[amqp.FULL_URI_KEY] == trusted
    assert config["AMQP_SSL"]["ca_certs"] == pki["ca"] and config["AMQP_SSL"]["server_hostname"] == "localhost"
    with Connection(config["AMQP_URI"], ssl=config["AMQP_SSL"], connect_timeout=5) as conn:
        conn.connect()
        assert conn.connected


@pytest.mark.parametrize("who", ["another CA", "the system's CAs", "another name"])
def test_a_service_refuses_a_broker_that_is_not_the_one_configured(who, impostors, trusted):
    uri = impostors[who]
    with pytest.raises(SystemExit, match="failed the certificate check") as stopped:
        wait_for_broker(uri, timeout=10)
    assert "guest" not in str(stopped.value)  # the reason, never the URI and its password
    # Nothing is sent there: the connection fails at the handshake, before a message could go.
    queue = Queue(f"haven-tls-{uuid.uuid4().hex}", exchange=Exchange(""), durable=False, auto_delete=False)
    with amqp.connection(trusted) as conn:
        queue(conn.default_channel).declare()
    with pytest.raises(ssl.SSLCertVerificationError):
        with amqp.connection(uri) as conn:
            conn.connect()  # once: kombu would otherwise retry for seconds before it gives up
            Producer(conn.default_channel).publish(b"{}", routing_key=queue.name)
    assert messages_in(trusted, queue.name) == 0
    with pytest.raises(ssl.SSLCertVerificationError):
        with dlq.open_channel(uri):
            pass


def test_the_gateways_rpc_client_reaches_the_broker_over_verified_tls(trusted):
    async def run():
        client = RpcClient(trusted, default_timeout=5, connection_name="haven-test-tls")
        await client.start(wait=15)
        try:
            assert client.connected
            assert client.parameters.ssl_options.server_hostname == "localhost"
            return client.reply_to
        finally:
            await client.close()

    reply_to = asyncio.run(run())
    assert reply_to.startswith("rpc.reply-gateway-")
    with dlq.open_channel(trusted) as channel:
        assert channel.is_open


class WatchedRpcClient(RpcClient):
    """Says when its first connection attempt has failed, rather than retrying out of sight."""

    def _on_open_error(self, conn, exc) -> None:
        if not self.refused.done():
            self.refused.set_result(exc)
        super()._on_open_error(conn, exc)


@pytest.mark.parametrize("who", ["another CA", "another name"])
def test_the_gateway_refuses_a_broker_that_is_not_the_one_configured(who, impostors, trusted, caplog):
    async def run():
        client = WatchedRpcClient(impostors[who], default_timeout=5)
        client.refused = asyncio.get_running_loop().create_future()
        starting = asyncio.ensure_future(client.start(wait=30))
        try:
            reason = await asyncio.wait_for(client.refused, 20)
            assert not client.connected
            return client.reply_to, reason
        finally:
            starting.cancel()
            await client.close()

    with caplog.at_level(logging.WARNING, logger="haven.gateway.rpc"):
        reply_to, reason = asyncio.run(run())
    assert "CERTIFICATE_VERIFY_FAILED" in repr(reason)
    assert any("cannot connect to the broker" in r.getMessage() and "CERTIFICATE_VERIFY_FAILED" in r.getMessage()
               for r in caplog.records)
    assert messages_in(trusted, reply_to) is None  # its reply queue was never made: nothing was sent


def test_broker_uris_that_would_not_verify_are_refused():
    for uri, reason in [
        ("amqps://guest:guest@localhost:5671/?verify=verify_none", "always verifies"),
        ("amqp://guest:guest@localhost:5672/?cacertfile=/x.pem", "write amqps://"),
        ("amqps://guest:guest@localhost:5671/?keyfile=/k.pem", "needs certfile"),
        ("http://guest:guest@localhost/", "amqp:// or amqps://"),
    ]:
        with pytest.raises(amqp.BadBrokerUri, match=reason) as refused:
            amqp.broker(uri)
        assert "guest" not in str(refused.value)
        with pytest.raises(ValueError, match=reason) as refused:
            CommonSettings(_env_file=None, amqp_uri=uri, **key_settings())
        assert "guest:guest" not in str(refused.value)


def test_a_missing_ca_file_stops_the_process_with_its_name():
    with pytest.raises(SystemExit, match="cacertfile: /nonexistent/ca.pem is not a readable file"):
        wait_for_broker("amqps://guest:guest@localhost:5671/?cacertfile=/nonexistent/ca.pem", timeout=1)


def test_plain_amqp_stays_plain_and_amqps_always_checks_the_name():
    assert amqp.kombu_ssl("amqp://guest:guest@127.0.0.1:5672/") is None
    assert amqp.pika_parameters("amqp://guest:guest@127.0.0.1:5672/").ssl_options is None
    options = amqp.kombu_ssl("amqps://u:p@10.0.0.5:5671/vh?server_name_indication=rabbitmq")
    assert options["server_hostname"] == "rabbitmq" and options["cert_reqs"] == ssl.CERT_REQUIRED
    assert amqp.broker("amqps://u:p@h:5671/vh?cacertfile=/c.pem&heartbeat=30").uri == "amqps://u:p@h:5671/vh?heartbeat=30"


# --- PostgreSQL -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_postgres(pki):
    """A PostgreSQL cluster of its own on its own port, TLS required for TCP connections (pg_hba)."""
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail("these tests run PostgreSQL as the `postgres` system user, which does not exist")
    home = tempfile.mkdtemp(prefix="haven-tls-pg-")
    os.chown(home, user.pw_uid, user.pw_gid)
    data, port = f"{home}/data", free_port()
    as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_postgres, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync"],
                   check=True, capture_output=True, timeout=START_TIMEOUT)
    for name, mode in (("server.pem", 0o644), ("server.key", 0o600)):
        shutil.copy(pki["server_cert" if name.endswith("pem") else "server_key"], f"{data}/{name}")
        os.chown(f"{data}/{name}", user.pw_uid, user.pw_gid)
        os.chmod(f"{data}/{name}", mode)
    with open(f"{data}/pg_hba.conf", "w") as f:
        f.write("local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 0.0.0.0/0 reject\n")
    with serving([*as_postgres, "postgres", "-D", data, "-p", str(port), "-k", home, "-c", "listen_addresses=127.0.0.1",
                  "-c", "ssl=on", "-c", "ssl_cert_file=server.pem", "-c", "ssl_key_file=server.key", "-c", "fsync=off"],
                 home, port):
        yield port


def pg_url(port: int, host: str = "localhost", **options: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in options.items())
    return f"postgresql://postgres@{host}:{port}/postgres" + (f"?{query}" if query else "")


def test_make_engine_reaches_postgres_over_verified_tls(tls_postgres, pki):
    engine = make_engine(pg_url(tls_postgres, sslmode="verify-full", sslrootcert=pki["ca"]))
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).scalar()
    finally:
        engine.dispose()


def test_migrations_run_over_the_same_tls(tls_postgres, pki):
    url = pg_url(tls_postgres, sslmode="verify-full", sslrootcert=pki["ca"])
    migrate(url, ALERTS_MIGRATIONS)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        engine.dispose()


@pytest.mark.parametrize("who", ["another CA", "another name"])
def test_make_engine_refuses_a_database_that_is_not_the_one_configured(who, tls_postgres, pki):
    url = {"another CA": pg_url(tls_postgres, sslmode="verify-full", sslrootcert=pki["other_ca"]),
           "another name": pg_url(tls_postgres, host="127.0.0.1", sslmode="verify-full", sslrootcert=pki["ca"])}[who]
    table = f"intruder_{uuid.uuid4().hex[:8]}"
    engine = make_engine(url)
    try:
        with pytest.raises(sa.exc.InterfaceError, match="failed the certificate check") as refused:
            with engine.begin() as conn:
                conn.execute(sa.text(f"CREATE TABLE {table} (id int)"))
    finally:
        engine.dispose()
    assert "sslrootcert" in str(refused.value)
    trusted = make_engine(pg_url(tls_postgres, sslmode="verify-full", sslrootcert=pki["ca"]))
    try:
        with trusted.connect() as conn:
            assert conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": table}).scalar() is None
    finally:
        trusted.dispose()


def test_a_plain_connection_is_refused_by_a_server_that_requires_tls(tls_postgres):
    engine = make_engine(pg_url(tls_postgres, sslmode="disable"))
    try:
        with pytest.raises(sa.exc.DBAPIError, match="no encryption"):
            with engine.connect():
                pass
    finally:
        engine.dispose()


def test_make_engine_says_when_the_server_offers_no_tls():
    """The PostgreSQL the other tests use runs without TLS (the machine's, or make test's throw-away one)."""
    engine = make_engine(f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres?sslmode=verify-full")
    try:
        with pytest.raises(sa.exc.InterfaceError, match="does not offer TLS.*sslmode=verify-full"):
            with engine.connect():
                pass
    finally:
        engine.dispose()


def test_database_urls_that_would_not_verify_are_refused(pki):
    for url, reason in [
        ("postgresql://u:secret@db.example:5432/x?sslmode=require", "would not check"),
        ("postgresql://u:secret@db.example:5432/x?sslmode=prefer", "would not check"),
        ("postgresql://u:secret@db.example:5432/x", "must say how the connection is protected"),
        ("postgresql://u:secret@db.example:5432/x?sslmode=verify-full&sslrootcert=/nonexistent.pem",
         "not a readable file"),
    ]:
        with pytest.raises(TlsSetupError, match=reason) as refused:
            make_engine(url)
        assert "secret" not in str(refused.value)
    # This machine without TLS unless asked: and then truly without (pg8000's default would try TLS unverified).
    assert postgres_tls("postgresql://postgres@127.0.0.1:5432/x")[1] == {"ssl_context": False}
    assert postgres_tls("postgresql://u@db.example/x?sslmode=disable")[1] == {"ssl_context": False}
    url, args = postgres_tls(f"postgresql://u@db.example/x?sslmode=verify-ca&sslrootcert={pki['ca']}")
    assert "sslmode" not in str(url) and args["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert not args["ssl_context"].check_hostname


# --- deploy/certs.py ------------------------------------------------------------------------------

def test_the_certificate_step_writes_a_ca_and_server_certificates_once(tmp_path):
    out = str(tmp_path / "certs")
    assert certs.write(out, ["rabbitmq", "postgres"]) is True
    assert sorted(os.listdir(out)) == ["ca.pem", "postgres.key", "postgres.pem", "rabbitmq.key", "rabbitmq.pem"]
    assert os.stat(f"{out}/rabbitmq.key").st_mode & 0o777 == 0o600
    with open(f"{out}/ca.pem", "rb") as f:
        first_ca = f.read()
    assert certs.write(out, ["rabbitmq", "postgres"]) is False  # valid: left as it was
    with open(f"{out}/ca.pem", "rb") as f:
        assert f.read() == first_ca
    assert certs.write(out, ["rabbitmq", "postgres"], key_group=os.getgid(), force=True) is True
    assert os.stat(f"{out}/postgres.key").st_mode & 0o777 == 0o640
    # The CA's key is never written: nothing in the volume can sign another certificate.
    assert not any("BEGIN" in open(f"{out}/{n}").read() and "PRIVATE" in open(f"{out}/{n}").read()
                   for n in os.listdir(out) if not n.endswith(".key"))
    context = ssl.create_default_context(cafile=f"{out}/ca.pem")
    context.load_cert_chain(f"{out}/rabbitmq.pem", f"{out}/rabbitmq.key")  # the pair matches


def test_pika_refuses_an_impostor_at_once(impostors):
    """pika's blocking connection (dead letters) fails at the handshake, not after a retry loop."""
    parameters = amqp.pika_parameters(impostors["another CA"])
    parameters.connection_attempts = 1
    with pytest.raises((pika.exceptions.AMQPConnectionError, ssl.SSLError)):
        pika.BlockingConnection(parameters)

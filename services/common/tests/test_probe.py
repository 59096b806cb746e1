"""The services' exec probe against real PostgreSQL and RabbitMQ: live when the database and the broker
answer, ready only when something consumes the service's RPC queue, and a failure says which part failed
in one line that never holds a password."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from services.common import amqp, probe
from services.common.testing import TEST_KEYS, TEST_PUBLIC_KEYS, fresh_database, key_settings
from services.transfers.settings import TransfersSettings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
QUEUE = "rpc-transfers"


@pytest.fixture(scope="module")
def database():
    with fresh_database("haven_probe_test") as url:
        yield url


def settings(database_url: str, amqp_uri: str) -> TransfersSettings:
    return TransfersSettings(**key_settings("transfers"), transfers_database_url=database_url,
                             amqp_uri=amqp_uri)


@pytest.fixture
def rpc_queue(vhost):
    """The service's RPC queue, as Nameko declares it, with nobody consuming it yet."""
    with amqp.connection(vhost) as conn:
        conn.default_channel.queue_declare(QUEUE, durable=True)
    return vhost


@pytest.fixture
def consumer(rpc_queue):
    """A stand-in for a running service: a consumer on its RPC queue (the broker has registered it
    when basic_consume returns)."""
    with amqp.connection(rpc_queue) as conn:
        conn.default_channel.basic_consume(QUEUE, callback=lambda message: None)
        yield rpc_queue


def test_a_service_whose_queue_has_a_consumer_is_live_and_ready(database, consumer):
    assert probe.probe("transfers", settings(database, consumer)) == "database and broker answer"
    said = probe.probe("transfers", settings(database, consumer), ready=True)
    assert said == f"database and broker answer; 1 consumer(s) on {QUEUE}"


def test_a_service_nobody_consumes_for_is_live_but_not_ready(database, rpc_queue):
    assert probe.probe("transfers", settings(database, rpc_queue)) == "database and broker answer"
    with pytest.raises(probe.ProbeFailed, match=f"nobody consumes {QUEUE}"):
        probe.probe("transfers", settings(database, rpc_queue), ready=True)


def test_a_service_that_never_started_is_not_ready_and_its_queue_is_not_created(database, vhost):
    with pytest.raises(probe.ProbeFailed, match=f"{QUEUE} does not exist"):
        probe.probe("transfers", settings(database, vhost), ready=True)
    with pytest.raises(probe.ProbeFailed, match="does not exist"):  # the probe asked; it declared nothing
        probe.probe("transfers", settings(database, vhost), ready=True)


def test_a_database_that_does_not_answer_fails_both_and_the_password_is_not_said(vhost):
    name = f"haven_probe_missing_{uuid.uuid4().hex[:8]}"
    missing = f"postgresql://postgres:not-this-password@127.0.0.1:5432/{name}"
    for ready in (False, True):
        with pytest.raises(probe.ProbeFailed, match="the database does not answer") as failed:
            probe.probe("transfers", settings(missing, vhost), ready=ready)
        assert "not-this-password" not in str(failed.value) and "\n" not in str(failed.value)


def test_a_broker_that_refuses_fails_both_and_the_password_is_not_said(database):
    refused = f"amqp://guest:not-this-password@127.0.0.1:5672/haven-no-such-vhost-{uuid.uuid4().hex[:8]}"
    for ready in (False, True):
        with pytest.raises(probe.ProbeFailed, match="the broker does not answer") as failed:
            probe.probe("transfers", settings(database, refused), ready=ready)
        assert "not-this-password" not in str(failed.value) and "\n" not in str(failed.value)


def command(ready: bool, database_url: str, amqp_uri: str, **env) -> subprocess.CompletedProcess:
    """The probe as Kubernetes and compose run it: its own process, the service's environment."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")}
    environment.update({"HAVEN_PUBLIC_KEYS": TEST_PUBLIC_KEYS,
                        "HAVEN_TRANSFERS_SIGNING_KEY": TEST_KEYS["transfers"].text(),
                        "HAVEN_TRANSFERS_DATABASE_URL": database_url, "HAVEN_AMQP_URI": amqp_uri, **env})
    arguments = ["transfers", "--ready"] if ready else ["transfers"]
    return subprocess.run([sys.executable, "-m", "services.common.probe", *arguments],
                          cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)


def test_the_command_exits_0_when_ready_and_1_with_one_line_when_not(database, rpc_queue):
    live = command(False, database, rpc_queue)
    assert (live.returncode, live.stdout) == (0, "transfers: live: database and broker answer\n")
    not_ready = command(True, database, rpc_queue)
    assert not_ready.returncode == 1
    assert not_ready.stdout == \
        f"transfers: not ready: nobody consumes {QUEUE}: the service is not taking requests\n"


def test_the_command_reads_the_services_own_settings_and_says_what_is_missing(database, vhost):
    broken = command(False, database, vhost, HAVEN_TRANSFERS_SIGNING_KEY="")
    assert broken.returncode == 1
    assert broken.stdout.startswith(
        "transfers: not live: its settings are refused (HAVEN_TRANSFERS_SIGNING_KEY")
    assert broken.stdout.count("\n") == 1


@pytest.mark.parametrize("service", probe.SERVICES)
def test_every_service_with_an_rpc_queue_has_its_own_settings_class(service):
    assert probe.settings_class(service).OWNER == service
    assert probe.arguments().parse_args([service, "--ready"]).service == service

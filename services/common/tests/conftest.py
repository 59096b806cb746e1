"""Fixtures shared by the common package's tests."""
from __future__ import annotations

import subprocess
import uuid

import pytest


@pytest.fixture
def vhost():
    """A RabbitMQ vhost of the test's own (guest may do anything there), removed afterwards."""
    name = f"haven-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True, timeout=60)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
                   check=True, timeout=60)
    yield f"amqp://guest:guest@127.0.0.1:5672/{name}"
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], check=False, timeout=60)

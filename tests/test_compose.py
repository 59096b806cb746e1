"""docker-compose.yml must match what the code reads: no Docker engine is needed to check that."""
from __future__ import annotations

import os
import re

import pytest
import yaml

from services.alerts.settings import AlertsSettings
from services.documents.settings import DocumentsSettings
from services.gateway.settings import GatewaySettings
from services.incidents.settings import IncidentsSettings
from services.transfers.settings import TransfersSettings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETTINGS = {"gateway": GatewaySettings, "incidents": IncidentsSettings, "alerts": AlertsSettings,
            "documents": DocumentsSettings, "transfers": TransfersSettings}
# Variables some processes read that are not Haven settings (boto3's credentials).
FOREIGN = {"documents": {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}}


def compose() -> dict:
    with open(os.path.join(ROOT, "docker-compose.yml")) as f:
        return yaml.safe_load(f)


def env_names(settings_cls) -> set[str]:
    return {"HAVEN_" + name.upper() for name in settings_cls.model_fields}


def required_names(settings_cls) -> set[str]:
    return {"HAVEN_" + name.upper() for name, f in settings_cls.model_fields.items() if f.is_required()}


def test_every_part_of_the_stack_is_there():
    services = compose()["services"]
    assert {"rabbitmq", "postgres", "minio", "mailpit", *SETTINGS} <= set(services)


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_each_service_sets_only_variables_its_code_reads_and_all_it_requires(service):
    spec = compose()["services"][service]
    env = spec["environment"]
    known = env_names(SETTINGS[service])
    unknown = {k for k in env if k.startswith("HAVEN_")} - known
    assert not unknown, f"{service} sets variables its settings do not read: {unknown}"
    assert not ({k for k in env if not k.startswith("HAVEN_")} - FOREIGN.get(service, set()))
    missing = required_names(SETTINGS[service]) - set(env)
    assert not missing, f"{service} lacks required settings: {missing}"
    assert spec["command"] == ["python", "-m", f"services.{service}"]


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_each_service_uses_its_own_database_on_postgres_and_the_broker(service):
    env = compose()["services"][service]["environment"]
    url = env[f"HAVEN_{service.upper()}_DATABASE_URL"]
    assert re.fullmatch(rf"postgresql://haven:\$\{{HAVEN_POSTGRES_PASSWORD\}}@postgres:5432/haven_{service}", url)
    assert "@rabbitmq:5672/" in env["HAVEN_AMQP_URI"]
    with open(os.path.join(ROOT, "deploy", "postgres", "init-databases.sh")) as f:
        assert f"haven_{service}" in f.read()


def test_env_example_names_every_variable_compose_takes_from_the_environment():
    with open(os.path.join(ROOT, "docker-compose.yml")) as f:
        taken = set(re.findall(r"\$\{(\w+)", f.read()))
    with open(os.path.join(ROOT, ".env.example")) as f:
        example = f.read()
    assert taken and all(re.search(rf"^{name}=", example, re.M) for name in taken), taken

"""docker-compose.yml and .env.example agree with what the code reads. No Docker engine needed.

A typo in a HAVEN_* name would otherwise be ignored by the settings class (extra="ignore") and the
process would quietly run on a default: SQLite inside the container, or 127.0.0.1 for the broker.
"""
from __future__ import annotations

import base64
import functools
import importlib.util
import json
import os
import re
from urllib.parse import urlsplit

import pytest
import yaml

from services.common import keys
from services.alerts.settings import AlertsSettings
from services.documents.settings import DocumentsSettings
from services.gateway.settings import GatewaySettings
from services.incidents.settings import IncidentsSettings
from services.transfers.settings import TransfersSettings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INFRASTRUCTURE = ("rabbitmq", "postgres", "minio", "mailpit")
SERVICES = {"incidents": IncidentsSettings, "alerts": AlertsSettings, "documents": DocumentsSettings,
            "transfers": TransfersSettings, "gateway": GatewaySettings}
# Every process that runs the Haven image, with the settings classes it reads.
PROCESSES = {name: (cls,) for name, cls in SERVICES.items()}
# Read by a library, not by our settings: boto3's credentials.
FOREIGN = {"documents": {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}}
SECRET_NAME = re.compile(r"PASS|SECRET|_KEY$")
# Compose's ${NAME}, ${NAME:-default}, ${NAME:?message} and friends.
INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")
# Stands in for every value compose takes from .env: base64 of 32 bytes is both a valid master key
# and long enough for an actor key, and it is safe inside a URL.
STAND_IN = base64.b64encode(bytes(32)).decode()


def read(*path: str) -> str:
    with open(os.path.join(ROOT, *path)) as f:
        return f.read()


@functools.cache
def compose() -> dict:
    return yaml.safe_load(read("docker-compose.yml"))


def environment(service: str) -> dict[str, str]:
    env = compose()["services"][service].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


# Keys must parse: stand-ins made as `python -m services.common.keys ensure` would make them.
KEY_STAND_INS: dict[str, str] = {}
keys.ensure(KEY_STAND_INS)


def resolve(value: str) -> str:
    """The value as compose would pass it, with STAND_IN for whatever comes from .env."""
    def one(m: re.Match) -> str:
        if m["name"] in KEY_STAND_INS:
            return KEY_STAND_INS[m["name"]]
        return m["arg"] if m["op"] in ("-", ":-") else STAND_IN
    return INTERPOLATION.sub(one, value).replace("$$", "$")


def field_names(classes) -> set[str]:
    return {"HAVEN_" + name.upper() for cls in classes for name in cls.model_fields}


def strings(node) -> list[str]:
    """Every string value in the file: what compose interpolates (comments are not)."""
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in strings(value)]
    return [node] if isinstance(node, str) else []


def depends_on(service: str) -> dict[str, str]:
    deps = compose()["services"][service].get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


# (a) ------------------------------------------------------------------------------------------

def test_the_whole_stack_is_there():
    missing = {*INFRASTRUCTURE, *PROCESSES} - set(compose()["services"])
    assert not missing, f"docker-compose.yml lacks services: {sorted(missing)}"


@pytest.mark.parametrize("service", sorted(PROCESSES))
def test_haven_processes_run_the_haven_image_and_a_module_that_exists(service):
    spec = compose()["services"][service]
    assert spec["build"]["dockerfile"] == "deploy/Dockerfile"
    assert os.path.isfile(os.path.join(ROOT, spec["build"].get("context", "."), "deploy", "Dockerfile"))
    assert spec["command"] == ["python", "-m", f"services.{service}"]
    assert importlib.util.find_spec(f"services.{service}") is not None, service


# (b) ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("service", sorted(PROCESSES))
def test_every_haven_variable_is_a_settings_field(service):
    env = set(environment(service))
    unknown = {k for k in env if k.startswith("HAVEN_")} - field_names(PROCESSES[service])
    assert not unknown, f"{service} sets variables its settings do not read: {sorted(unknown)}"
    foreign = {k for k in env if not k.startswith("HAVEN_")} - FOREIGN.get(service, set())
    assert not foreign, f"{service} sets variables nothing reads: {sorted(foreign)}"


# (c) ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("service", sorted(PROCESSES))
def test_every_required_setting_is_set(service):
    required = {"HAVEN_" + name.upper() for cls in PROCESSES[service]
                for name, field in cls.model_fields.items() if field.is_required()}
    missing = required - set(environment(service))
    assert not missing, f"{service} lacks required settings: {sorted(missing)}"


@pytest.mark.parametrize("service", sorted(PROCESSES))
def test_settings_load_from_the_compose_environment(service, monkeypatch):
    """Catches what the field list cannot: the actor key the validator demands, bad types, and
    settings the classes refuse together (insecure cookies outside development). The stack runs as
    production does: no demo school, secure cookies, HSTS."""
    for key in list(os.environ):
        if key.startswith(("HAVEN_", "AWS_")):
            monkeypatch.delenv(key)
    for key, value in environment(service).items():
        monkeypatch.setenv(key, resolve(value))
    for cls in PROCESSES[service]:
        settings = cls(_env_file=None)  # not the developer's .env
        assert settings.env == "production" and not settings.is_local, f"{service} runs {settings.env}"


# (d) ------------------------------------------------------------------------------------------

def created_databases() -> set[str]:
    script = read("deploy", "postgres", "init-databases.sh")
    names = re.search(r"^for haven_service in (.+); do$", script, re.M)
    assert names, "deploy/postgres/init-databases.sh: no `for haven_service in ...; do` line"
    return {f"haven_{name}" for name in names[1].split()}


@pytest.mark.parametrize("service", sorted(PROCESSES))
def test_databases_are_each_services_own_on_postgres(service):
    env = environment(service)
    urls = {m[1].lower(): value for key, value in env.items()
            if (m := re.fullmatch(r"HAVEN_(\w+)_DATABASE_URL", key))}
    if service in SERVICES:
        assert set(urls) == {service}, f"{service} must set HAVEN_{service.upper()}_DATABASE_URL only"
    postgres_env = environment("postgres")
    for owner, raw in urls.items():
        url = urlsplit(resolve(raw))
        assert (url.scheme, url.hostname, url.port) == ("postgresql", "postgres", 5432), raw
        assert url.path == f"/haven_{owner}" and url.username == f"haven_{owner}", raw
        assert url.path[1:] in created_databases(), f"init-databases.sh does not create {url.path[1:]}"
        # The password is the one the init script gave that role.
        password_var = f"{owner.upper()}_DB_PASSWORD"
        assert f"${{{password_var}:?" in raw, raw
        assert postgres_env.get(password_var, "").startswith(f"${{{password_var}:?"), password_var
    assert created_databases() == {f"haven_{s}" for s in SERVICES}


def test_every_process_trusts_the_public_keys_and_holds_its_own_signing_key_alone():
    assert len({environment(s)["HAVEN_PUBLIC_KEYS"] for s in PROCESSES}) == 1
    for process in PROCESSES:
        held = {name for name in environment(process) if name.endswith("_SIGNING_KEY")}
        assert held == {f"HAVEN_{process.upper()}_SIGNING_KEY"}, process
        assert environment(process)[f"HAVEN_{process.upper()}_SIGNING_KEY"].startswith(
            f"${{HAVEN_{process.upper()}_SIGNING_KEY:?")


# TLS (README "TLS") -------------------------------------------------------------------------------

def test_tls_in_the_stack():
    """The broker and the databases are reached over TLS, verified against the CA the `certs` step
    writes, and the servers use that step's certificates and accept nothing else from the network."""
    services = compose()["services"]
    assert services["certs"]["command"][:4] == ["python", "-m", "deploy.certs", "--out"]
    assert {"rabbitmq", "postgres"} <= set(services["certs"]["command"])
    for server in ("rabbitmq", "postgres"):
        assert depends_on(server)["certs"] == "service_completed_successfully"
        assert "certs:/certs:ro" in services[server]["volumes"]
    for process in PROCESSES:
        env = environment(process)
        assert "certs:/certs:ro" in services[process]["volumes"]
        assert urlsplit(resolve(env["HAVEN_AMQP_URI"])).query == "cacertfile=/certs/ca.pem"
        for key, raw in env.items():
            if key.endswith("_DATABASE_URL"):
                assert urlsplit(resolve(raw)).query == "sslmode=verify-full&sslrootcert=/certs/ca.pem", raw
    rabbit_conf = read("deploy", "rabbitmq-tls.conf")
    assert "listeners.tcp = none" in rabbit_conf and "ssl_options.certfile = /certs/rabbitmq.pem" in rabbit_conf
    assert any(v.endswith(":/etc/rabbitmq/conf.d/20-haven-tls.conf:ro") for v in services["rabbitmq"]["volumes"])
    assert "ssl=on" in services["postgres"]["command"]
    hba = [line.split() for line in read("deploy", "postgres", "pg_hba.conf").splitlines()
           if line.strip() and not line.startswith("#")]
    assert ["hostnossl", "all", "all", "all", "reject"] in hba
    assert all(rule[0] != "host" or rule[3] in ("127.0.0.1/32", "::1/128") for rule in hba)


# (e) ------------------------------------------------------------------------------------------

def test_env_example_names_every_variable_compose_takes_from_the_environment():
    values = [v.replace("$$", "") for v in strings(compose())]
    assert not [v for v in values if re.search(r"\$(?!\{)", v)], "use ${VAR}, not $VAR, so this test sees it"
    taken = {m["name"]: m["op"] or "" for v in values for m in INTERPOLATION.finditer(v)}
    example = read(".env.example")
    assert taken
    for name, op in taken.items():
        pattern = rf"^{name}=" if "?" in op else rf"^(# )?{name}="  # required ones uncommented
        assert re.search(pattern, example, re.M), f".env.example does not set {name}"


def mask(raw: str) -> tuple[str, dict[str, re.Match]]:
    """raw with each ${...} replaced by a plain token, so it can be parsed as a URL."""
    tokens: dict[str, re.Match] = {}

    def one(m: re.Match) -> str:
        tokens[token := f"var{len(tokens)}x"] = m
        return token
    return INTERPOLATION.sub(one, raw), tokens


def test_secrets_come_only_from_the_environment():
    for service in compose()["services"]:
        for key, raw in environment(service).items():
            masked, tokens = mask(raw)
            if "://" in masked:
                secret = urlsplit(masked).password
            else:
                secret = masked if SECRET_NAME.search(key) else None
            if secret is not None:
                assert secret in tokens and "?" in (tokens[secret]["op"] or ""), \
                    f"{service}: the secret in {key} must be exactly ${{VAR:?...}}, got {raw!r}"
    for line in read(".env.example").splitlines():
        name, _, value = line.partition("=")
        if SECRET_NAME.search(name) and not name.startswith("#"):
            assert value == "", f".env.example must not hold a value for {name}"


# Start-up order ---------------------------------------------------------------------------------

def test_start_up_order_can_be_met():
    services = compose()["services"]
    for service in services:
        for target, condition in depends_on(service).items():
            assert target in services, f"{service} depends on unknown {target}"
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no healthcheck for {service}"
            if condition == "service_completed_successfully":
                assert services[target].get("restart") == "no", f"{target} must be a one-shot"
    for service in SERVICES:
        assert depends_on(service)["rabbitmq"] == depends_on(service)["postgres"] == "service_healthy"
    gateway = environment("gateway")
    assert gateway["HAVEN_HOST"] == "0.0.0.0", "127.0.0.1 cannot be reached from outside the container"
    assert any(str(p).endswith(f"8000:{gateway['HAVEN_PORT']}") for p in services["gateway"]["ports"])


# Metrics (README "Metrics") -----------------------------------------------------------------------

METRICS_PORT = 9464


def prometheus_config() -> dict:
    return yaml.safe_load(read("deploy", "prometheus", "prometheus.yml"))


def mounts(service: str) -> dict[str, str]:
    """A service's bind mounts: where in the container → what in the repository."""
    found = {}
    for volume in compose()["services"][service].get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            assert os.path.exists(os.path.join(ROOT, source)), f"{service} mounts {source}, which is not there"
            found[target] = source[2:]
    return found


def test_every_haven_process_serves_metrics_and_prometheus_scrapes_each_of_them():
    for process in PROCESSES:
        assert environment(process)["HAVEN_METRICS_ADDRESS"] == f"0.0.0.0:{METRICS_PORT}", process
    (job,) = prometheus_config()["scrape_configs"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    targets = [target for group in job["static_configs"] for target in group["targets"]]
    assert sorted(targets) == sorted(f"{process}:{METRICS_PORT}" for process in PROCESSES)
    assert mounts("prometheus")["/etc/prometheus/prometheus.yml"] == "deploy/prometheus/prometheus.yml"
    assert "--config.file=/etc/prometheus/prometheus.yml" in compose()["services"]["prometheus"]["command"]


def test_metrics_stay_on_an_internal_network_and_only_grafana_is_published_on_this_machine():
    services, networks = compose()["services"], compose()["networks"]
    assert networks["metrics"]["internal"] is True
    assert services["prometheus"]["networks"] == ["metrics"] and "ports" not in services["prometheus"]
    assert "metrics" in services["grafana"]["networks"]
    for process in PROCESSES:
        assert set(services[process]["networks"]) == {"default", "metrics"}, process
    for name, spec in services.items():
        for port in spec.get("ports", []):
            host, published, _container = str(port).split(":")
            assert host == "127.0.0.1", f"{name} publishes {port} beyond this machine"
            assert int(published) != METRICS_PORT and not str(port).endswith(f":{METRICS_PORT}"), name
    assert services["grafana"]["ports"] == ["127.0.0.1:3000:3000"]


def test_prometheus_and_grafana_images_are_pinned():
    for name in ("prometheus", "grafana"):
        image = compose()["services"][name]["image"]
        tag = image.rpartition(":")[2]
        assert "/" not in tag and tag not in ("", "latest") and any(c.isdigit() for c in tag), image


def grafana_file(*path: str) -> dict:
    return yaml.safe_load(read("deploy", "grafana", *path))


def test_grafana_is_given_the_prometheus_data_source_and_the_haven_dashboard():
    (source,) = grafana_file("provisioning", "datasources", "prometheus.yml")["datasources"]
    url = urlsplit(source["url"])
    assert (source["type"], url.hostname, url.port) == ("prometheus", "prometheus", 9090)
    (provider,) = grafana_file("provisioning", "dashboards", "haven.yml")["providers"]
    grafana = mounts("grafana")
    assert grafana["/etc/grafana/provisioning"] == "deploy/grafana/provisioning"
    assert grafana[provider["options"]["path"]] == "deploy/grafana/dashboards"
    dashboard = json.loads(read("deploy", "grafana", "dashboards", "haven.json"))
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == source["uid"], panel["title"]
            assert all(t["datasource"]["uid"] == source["uid"] for t in panel["targets"]), panel["title"]


def defined_series() -> dict[str, set[str]]:
    """Each metric family services/common/metrics.py defines → the series names it is queried by."""
    from prometheus_client.metrics import MetricWrapperBase

    from services.common import metrics

    suffixes = {"histogram": ("_bucket", "_sum", "_count"), "counter": ("_total",), "gauge": ("",)}
    families = [family for value in vars(metrics).values()
                if isinstance(value, (MetricWrapperBase, metrics.Watch)) for family in value.describe()]
    return {f.name: {f.name + suffix for suffix in suffixes[f.type]} for f in families}


def test_the_dashboard_queries_only_metrics_haven_defines_and_shows_every_one():
    dashboard = json.loads(read("deploy", "grafana", "dashboards", "haven.json"))
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert expressions
    queried = {name for expr in expressions for name in re.findall(r"\bhaven_\w+", expr)}
    families = defined_series()
    known = set().union(*families.values())
    assert not queried - known, f"the dashboard queries metrics nobody defines: {sorted(queried - known)}"
    unshown = {name for name, series in families.items() if not series & queried}
    assert not unshown, f"the dashboard shows nothing of {sorted(unshown)}"

"""Safe defaults: production unless told otherwise, HSTS there, forwarded addresses believed only from a
configured proxy, and an image without the test packages."""
from __future__ import annotations

import asyncio
import importlib.metadata
import os
import re
import tomllib
import uuid

import httpx
import pytest
from packaging.requirements import Requirement
from pydantic import ValidationError
from sqlalchemy import select

from services.common.settings import CommonSettings
from services.common.testing import TEST_SECRETS_KEY, key_settings
from services.gateway.app import HSTS, create_app
from services.gateway.models import AuditEntry
from services.gateway.settings import GatewaySettings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PROXY, CLIENT, STRANGER = "10.20.30.40", "198.51.100.23", "203.0.113.99"


@pytest.fixture
def no_haven_env(monkeypatch):
    for key in list(os.environ):
        if key.startswith("HAVEN_"):
            monkeypatch.delenv(key)


def production_app(engine, **settings):
    return create_app(GatewaySettings(_env_file=None, env="production", **key_settings("gateway"),
                                      secrets_key=TEST_SECRETS_KEY, **settings,
                                      gateway_database_url=engine.url.render_as_string(hide_password=False)))


def request(app, method: str, path: str, client: str, **kwargs) -> httpx.Response:
    """One request arriving from the socket address `client` (no lifespan: nothing connects to a broker)."""
    async def go():
        transport = httpx.ASGITransport(app=app, client=(client, 41000))
        async with httpx.AsyncClient(transport=transport, base_url="http://haven.test") as http:
            return await http.request(method, path, **kwargs)
    return asyncio.run(go())


# HAVEN_ENV ----------------------------------------------------------------------------------------

def test_without_haven_env_every_process_runs_as_production(no_haven_env):
    settings = CommonSettings(_env_file=None, **key_settings())
    assert settings.env == "production" and not settings.is_local and not settings.is_development


def test_without_haven_env_the_gateway_refuses_insecure_cookies(no_haven_env):
    with pytest.raises(ValidationError, match="HAVEN_COOKIE_SECURE"):
        GatewaySettings(_env_file=None, **key_settings("gateway"), secrets_key=TEST_SECRETS_KEY, cookie_secure=False)


def test_make_run_sets_development_itself(no_haven_env, monkeypatch, tmp_path):
    from deploy import launch
    monkeypatch.setattr(launch, "VAR", str(tmp_path / "var"))
    monkeypatch.setattr(launch, "SECRETS", str(tmp_path / "var" / "secrets.env"))
    assert launch.environment()["HAVEN_ENV"] == "development"
    assert oct(os.stat(tmp_path / "var").st_mode & 0o777) == oct(0o700)


def test_the_test_stack_sets_test_itself():
    with open(os.path.join(ROOT, "tests", "stack.py")) as f:
        assert re.search(r'"HAVEN_ENV": "test"', f.read())


# HSTS ---------------------------------------------------------------------------------------------

def test_production_sends_hsts(engine):
    r = request(production_app(engine), "GET", "/api/v1/openapi.json", CLIENT)
    assert r.status_code == 200
    assert r.headers["Strict-Transport-Security"] == HSTS == "max-age=31536000; includeSubDomains"


@pytest.mark.parametrize("env", ["development", "test"])
def test_development_and_tests_on_plain_http_send_no_hsts(engine, env):
    app = create_app(GatewaySettings(_env_file=None, env=env, cookie_secure=False, **key_settings("gateway"),
                                     secrets_key=TEST_SECRETS_KEY,
                                     gateway_database_url=engine.url.render_as_string(hide_password=False)))
    r = request(app, "GET", "/api/v1/openapi.json", CLIENT)
    assert r.status_code == 200 and r.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in r.headers


# Reverse proxy ------------------------------------------------------------------------------------

def failed_sign_in_address(engine, app, client: str, forwarded_for: str) -> str:
    """Where the audit log says a wrong password came from."""
    email = f"nobody-{uuid.uuid4().hex[:8]}@proxy.haven.test"
    r = request(app, "POST", "/api/v1/session", client, json={"email": email, "password": "wrong"},
                headers={"X-Forwarded-For": forwarded_for})
    assert r.status_code == 401, r.text
    with engine.connect() as conn:
        return conn.execute(select(AuditEntry.ip).where(AuditEntry.email == email,
                                                        AuditEntry.action == "sign_in")).scalar_one()


def test_forwarded_for_is_ignored_when_no_proxy_is_configured(engine):
    assert failed_sign_in_address(engine, production_app(engine), PROXY, CLIENT) == PROXY


def test_forwarded_for_from_the_trusted_proxy_names_the_client(engine):
    app = production_app(engine, trusted_proxies=f"192.0.2.1, {PROXY.rsplit('.', 1)[0]}.0/24")
    assert failed_sign_in_address(engine, app, PROXY, CLIENT) == CLIENT
    # A client's own X-Forwarded-For, passed along by the proxy: the proxy's entry (the last) wins.
    assert failed_sign_in_address(engine, app, PROXY, f"{STRANGER}, {CLIENT}") == CLIENT


def test_forwarded_for_from_anyone_else_is_ignored(engine):
    app = production_app(engine, trusted_proxies=PROXY)
    assert failed_sign_in_address(engine, app, STRANGER, CLIENT) == STRANGER


@pytest.mark.parametrize("value", ["*", "proxy.example", "10.0.0.0/33"])
def test_a_trusted_proxy_must_be_an_address_or_network(value):
    with pytest.raises(ValidationError, match="HAVEN_TRUSTED_PROXIES"):
        GatewaySettings(_env_file=None, env="test", cookie_secure=False, **key_settings("gateway"),
                        secrets_key=TEST_SECRETS_KEY, trusted_proxies=value)


# The production image -----------------------------------------------------------------------------

def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", Requirement(requirement).name).lower()


def runtime_closure(requirements: list[str]) -> set[str]:
    """Every installed distribution the runtime requirements pull in (markers and extras honoured)."""
    seen, todo = set(), [(r, ()) for r in requirements]
    while todo:
        raw, extras = todo.pop()
        req = Requirement(raw)
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in (extras or ("",))):
            continue
        name = _name(raw)
        key = (name, tuple(sorted(req.extras)))
        if key in seen:
            continue
        seen.add(key)
        for dep in importlib.metadata.requires(name) or []:
            todo.append((dep, tuple(req.extras)))
    return {name for name, _extras in seen}


def test_the_production_image_installs_the_runtime_dependencies_only():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    with open(os.path.join(ROOT, "deploy", "Dockerfile")) as f:
        dockerfile = f.read()
    # The lock holds the test extra too: the image uses it as constraints on the runtime list only.
    assert "pip install -c /app/requirements.lock -r /tmp/runtime.txt" in dockerfile
    assert "['project']['dependencies']" in dockerfile
    assert not re.search(r"pip install[^\n]*-r /app/requirements\.lock", dockerfile)
    assert not re.search(r"\[test\]", dockerfile)
    image = runtime_closure(project["dependencies"])
    assert {"fastapi", "nameko", "uvicorn"} <= image
    test_only = {_name(r) for r in project["optional-dependencies"]["test"]} | {"hypothesis"}
    assert not image & test_only, f"the image would carry test packages: {sorted(image & test_only)}"

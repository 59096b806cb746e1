import pytest

from .client import Api
from .stack import Stack

# Debian's Chromium, never a downloaded one (`playwright install` fails here).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"]


@pytest.fixture(scope="session")
def stack():
    s = Stack()
    try:
        yield s.start()
    finally:
        s.stop()


@pytest.fixture(scope="session")
def _signed_in(stack):
    clients: dict[str, Api] = {}
    yield clients
    for c in clients.values():
        c.http.close()


@pytest.fixture
def api(stack, _signed_in):
    """api("dsl@demo.haven.test") → a signed-in client (one per account for the whole run: a TOTP
    code is good once, so signing the DSL in afresh in every test would wait 30 s each time);
    api() → an anonymous client; api(email, totp=False) → a fresh client that stops at the TOTP step."""
    fresh = []

    def make(email: str | None = None, **kwargs) -> Api:
        if email and not kwargs:
            if email not in _signed_in:
                _signed_in[email] = Api(stack.base_url).login(email)
            return _signed_in[email]
        client = Api(stack.base_url)
        fresh.append(client)
        return client.login(email, **kwargs) if email else client

    yield make
    for c in fresh:
        c.http.close()


@pytest.fixture(scope="module")
def browser():
    """Chromium for a module's browser tests (each test makes its own contexts)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()

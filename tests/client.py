"""A small JSON client for the tests, speaking to the gateway like a browser's fetch would."""
from __future__ import annotations

import time

import httpx
import pyotp

DEMO_PASSWORD = "haven-demo"
DEMO_TOTP = "HAVENDEMOHAVENDEMOHAVENDEMOHAVEN"
_last_step: dict[str, int] = {}


def fresh_totp(email: str, secret: str = DEMO_TOTP) -> str:
    """A code for a step this account has not used yet (each code is accepted once)."""
    while True:
        step = int(time.time()) // 30
        if _last_step.get(email, -1) < step:
            _last_step[email] = step
            return pyotp.TOTP(secret).at(step * 30)
        time.sleep(30 - time.time() % 30 + 0.05)


class Api:
    def __init__(self, base_url: str):
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.csrf: str | None = None
        self.user: dict | None = None

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if self.csrf and method not in ("GET", "HEAD"):
            headers.setdefault("X-CSRF-Token", self.csrf)
        return self.http.request(method, path, headers=headers, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def login(self, email: str, password: str = DEMO_PASSWORD, totp: bool | None = None) -> "Api":
        r = self.http.post("/api/v1/session", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        body = r.json()
        self.csrf, self.user = body["csrf_token"], body["user"]
        if body["second_factor_required"] and totp is not False:
            r = self.post("/api/v1/session/second-factor", json={"code": fresh_totp(email)})
            assert r.status_code == 200, r.text
        return self


def eventually(fetch, timeout: float = 30.0, step: float = 0.2):
    """Ask `fetch()` until it answers something true (then that answer) or `timeout` seconds pass (then its
    last answer): for what another process does soon after, not at once."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = fetch()
        if found:
            return found
        time.sleep(step)
    return fetch()

"""Schemathesis hooks for `make fuzz` (tests/fuzz.py): the second-factor step, each generated request sent
from a session of its own, signed in by password alone. One session would be ended by the fifth wrong code,
and every request after it would stop at the 401 before the code is looked at."""
from __future__ import annotations

import os

import httpx
import schemathesis

from .client import DEMO_PASSWORD

SESSION_COOKIE = "haven_session"


@schemathesis.auth(refresh_interval=None)  # no caching: a fresh session for every request
class PasswordOnlySession:
    def get(self, case, context):
        r = httpx.post(os.environ["HAVEN_FUZZ_BASE_URL"] + "/api/v1/session", timeout=30,
                       json={"email": os.environ["HAVEN_FUZZ_EMAIL"], "password": DEMO_PASSWORD})
        r.raise_for_status()
        return r.cookies[SESSION_COOKIE], r.json()["csrf_token"]

    def set(self, case, data, context):
        cookie, csrf = data
        case.headers = {**(case.headers or {}), "Cookie": f"{SESSION_COOKIE}={cookie}", "X-CSRF-Token": csrf}

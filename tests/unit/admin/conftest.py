"""An in-process admin (the Function URL app on moto) and a cookie-keeping client for it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest

from bmsync.admin import credentials
from bmsync.admin.app import build_app
from bmsync.admin.connection_check import ConnectionReport, SideReport
from bmsync.admin.services import AdminServices
from bmsync.clock import ManualClock
from bmsync_sandbox.runtime.function_url import build_event, http_response

PASSWORD = "admin test passphrase"
CSRF_IN_FORM = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: str

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)

    def set_cookies(self) -> list[str]:
        return [value for key, value in self.headers if key.lower() == "set-cookie"]

    def json(self) -> Any:
        return json.loads(self.body)

    def csrf(self) -> str:
        match = CSRF_IN_FORM.search(self.body)
        assert match, "the page has a form with a CSRF token"
        return match.group(1)


@dataclass
class AdminClient:
    """Sends Function URL events to the app, keeping cookies as a browser does."""

    app: Any
    clock: ManualClock
    source_ip: str = "203.0.113.7"
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: str = ""

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        raw_body: str | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        body = b""
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent.setdefault("content-type", "application/json")
        elif form is not None:
            body = urlencode(form).encode()
            sent.setdefault("content-type", "application/x-www-form-urlencoded")
        elif raw_body is not None:
            body = raw_body.encode()
            sent.setdefault("content-type", "application/json")
        if self.cookies:
            sent["cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        event = build_event(
            method=method,
            target=path,
            headers=list(sent.items()),
            body=body,
            source_ip=self.source_ip,
            host="admin.example",
            clock=self.clock,
        )
        status, response_headers, payload = http_response(self.app.resolve(event, None))
        reply = Reply(status, response_headers, payload.decode())
        for cookie in reply.set_cookies():
            name, _, rest = cookie.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in cookie or not value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return reply

    def sign_in(self, password: str = PASSWORD) -> Reply:
        form_page = self.request("GET", "/signin")
        reply = self.request(
            "POST", "/signin", form={"password": password, "csrf_token": form_page.csrf(), "next": "/"}
        )
        if reply.status == 303:
            self.csrf = self.request("GET", "/").csrf()
        return reply

    def api(self, method: str, path: str, body: Any = None) -> Reply:
        return self.request(method, path, json_body=body, headers={"x-csrf-token": self.csrf})


class FakeConnectionTest:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.report = ConnectionReport(
            backmarket=SideReport(
                service="backmarket", ok=True, message="Back Market EU accepted the token."
            ),
            wholecell=SideReport(service="wholecell", ok=True, message="WholeCell accepted the App ID."),
        )

    def __call__(self, settings: Any, clock: Any) -> ConnectionReport:
        self.calls.append(settings.connection_id)
        return self.report


@pytest.fixture(autouse=True)
def fresh_refresh_limit() -> Iterator[None]:
    """Each test starts as a cold container: its first forced fetch of the admin secret is allowed."""
    credentials.refresh_limit = credentials.RefreshLimit()
    yield
    credentials.refresh_limit = credentials.RefreshLimit()


@pytest.fixture
def admin_secret(aws: None) -> credentials.AdminSecret:
    # Few PBKDF2 rounds keep the tests fast; the hash format carries its round count.
    secret = credentials.new_admin_secret(PASSWORD, iterations=1000)
    credentials.save_admin_secret(secret)
    return secret


@pytest.fixture
def connection_test() -> FakeConnectionTest:
    return FakeConnectionTest()


@pytest.fixture
def started_imports() -> list[str]:
    return []


@pytest.fixture
def services(
    clock: ManualClock, connection_test: FakeConnectionTest, started_imports: list[str]
) -> AdminServices:
    return AdminServices(
        clock=lambda: clock, test_connection=connection_test, start_listing_import=started_imports.append
    )


@pytest.fixture
def admin_app(admin_secret: credentials.AdminSecret, services: AdminServices) -> Any:
    return build_app(services)


@pytest.fixture
def anonymous(admin_app: Any, clock: ManualClock) -> AdminClient:
    return AdminClient(admin_app, clock)


@pytest.fixture
def signed_in(admin_app: Any, clock: ManualClock) -> Iterator[AdminClient]:
    client = AdminClient(admin_app, clock)
    assert client.sign_in().status == 303
    yield client

"""Every route needs sign-in; forms need the CSRF token; sign-ins are throttled; sessions expire."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

from bmsync import secrets
from bmsync.admin import credentials, signin_pages
from bmsync.admin.app import build_app
from bmsync.admin.sessions import (
    LOCKOUT,
    MAX_FAILED_SIGNINS,
    MAX_SIGNINS_ALL_ADDRESSES,
    SESSION_COOKIE,
    SESSION_LIFETIME,
)
from bmsync.clock import ManualClock, utc_iso
from bmsync.store.admin_auth import ADMIN_STATE_PARTITION, AdminAuthStore
from bmsync.store.settings_repo import SettingsRepository
from bmsync.store.sync_state import SyncStateRepository
from bmsync.store.tables import SYNC_STATE
from tests.unit.admin.conftest import PASSWORD, AdminClient

PUBLIC = {("GET", "/signin"), ("POST", "/signin"), ("GET", "/static/admin.css"), ("GET", "/favicon.ico")}


def _routes(app: Any) -> list[tuple[str, str]]:
    routes = {
        (route.method, re.sub(r"<[^>]+>", "default", route.path))
        for route in app._static_routes + app._dynamic_routes
    }
    return sorted(routes - PUBLIC)


def test_the_app_has_the_expected_areas(admin_app: Any) -> None:
    paths = {path for _, path in _routes(admin_app)}
    for expected in ("/api/connections/default/settings", "/api/connections/default/status", "/"):
        assert expected in paths


def test_every_route_refuses_anonymous_callers(admin_app: Any, anonymous: AdminClient) -> None:
    routes = _routes(admin_app)
    assert len(routes) >= 15
    for method, path in routes:
        reply = anonymous.request(method, path, json_body={} if method != "GET" else None)
        assert reply.status == 401, (method, path, reply.status)
        if path.startswith("/api/"):
            assert reply.json()["errors"][0]["field"] == "authorization"
        else:
            assert 'name="password"' in reply.body  # the sign-in form


def test_every_changing_route_refuses_a_bad_csrf_token(admin_app: Any, signed_in: AdminClient) -> None:
    before = SettingsRepository().get("default")
    changing = [(method, path) for method, path in _routes(admin_app) if method not in ("GET", "HEAD")]
    assert changing
    for method, path in changing:
        for token in ("", "0" * 64, signed_in.csrf[:-1] + "x"):
            reply = signed_in.request(
                method, path, json_body={"version": 0, "token": "x" * 20}, headers={"x-csrf-token": token}
            )
            assert reply.status == 403, (method, path, reply.status)
        form_reply = signed_in.request(method, path, form={"csrf_token": "forged", "display_name": "x"})
        assert form_reply.status == 403, (method, path)
    assert SettingsRepository().get("default") == before


def test_session_cookie_is_signed_strict_and_http_only(anonymous: AdminClient) -> None:
    page = anonymous.request("GET", "/signin")
    reply = anonymous.request("POST", "/signin", form={"password": PASSWORD, "csrf_token": page.csrf()})
    assert reply.status == 303
    session = next(cookie for cookie in reply.set_cookies() if cookie.startswith(SESSION_COOKIE + "="))
    for attribute in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
        assert attribute in session
    assert anonymous.request("GET", "/api/connections").status == 200


def test_tampered_and_expired_sessions_are_refused(signed_in: AdminClient, clock: ManualClock) -> None:
    assert signed_in.request("GET", "/api/connections").status == 200
    good = signed_in.cookies[SESSION_COOKIE]
    signed_in.cookies[SESSION_COOKIE] = ("0" if good[0] != "0" else "1") + good[1:]
    assert signed_in.request("GET", "/api/connections").status == 401
    signed_in.cookies[SESSION_COOKIE] = good
    clock.advance(SESSION_LIFETIME.total_seconds() + 1)
    assert signed_in.request("GET", "/api/connections").status == 401


def test_a_second_sign_in_page_keeps_the_first_form_valid(anonymous: AdminClient) -> None:
    first = anonymous.request("GET", "/signin")
    anonymous.request("GET", "/connections/default/status")  # another tab, same browser
    reply = anonymous.request("POST", "/signin", form={"password": PASSWORD, "csrf_token": first.csrf()})
    assert reply.status == 303


def test_sign_in_form_needs_its_csrf_token(anonymous: AdminClient) -> None:
    anonymous.request("GET", "/signin")
    reply = anonymous.request("POST", "/signin", form={"password": PASSWORD, "csrf_token": "guess"})
    assert reply.status == 403
    assert SESSION_COOKIE not in anonymous.cookies


def test_failed_sign_ins_are_throttled_per_source_ip(
    admin_app: Any, anonymous: AdminClient, clock: ManualClock
) -> None:
    for _ in range(MAX_FAILED_SIGNINS):
        assert anonymous.sign_in("wrong password!!").status == 401
    locked = anonymous.sign_in(PASSWORD)
    assert locked.status == 429
    assert "Too many failed sign-ins" in locked.body
    assert int(locked.header("Retry-After") or 0) > 0
    # Another address is not locked out by this one's failures.
    assert AdminClient(admin_app, clock, source_ip="198.51.100.9").sign_in().status == 303
    clock.advance(LOCKOUT.total_seconds() + 1)
    assert anonymous.sign_in(PASSWORD).status == 303
    home = anonymous.request("GET", "/")
    assert "5 failed admin sign-ins from 203.0.113.7" in home.body
    assert "change the admin password" in home.body


def test_right_passwords_never_use_up_the_attempts(anonymous: AdminClient) -> None:
    for _ in range(MAX_FAILED_SIGNINS + 2):
        assert anonymous.sign_in().status == 303


def _counting_password_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password check, slowed down so concurrent sign-ins overlap inside it."""
    checked: list[str] = []
    real = signin_pages.verify_password

    def slow_check(password: str, encoded: str) -> bool:
        checked.append(password)
        time.sleep(0.05)
        return real(password, encoded)

    monkeypatch.setattr(signin_pages, "verify_password", slow_check)
    return checked


def _atomic_items_like_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies each item write atomically; moto's in-process backend does not across threads."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.Lock()
    for name in ("get_item", "put_item", "update_item"):
        real = getattr(DynamoDBBackend, name)

        def atomic(self: Any, *args: Any, _real: Any = real, **kwargs: Any) -> Any:
            with lock:
                return _real(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, atomic)


def test_concurrent_wrong_passwords_from_one_address_are_checked_at_most_the_limit(
    services: Any, admin_secret: Any, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _atomic_items_like_dynamodb(monkeypatch)
    checked = _counting_password_checks(monkeypatch)
    # One app per thread: as many warm containers answering at the same moment.
    clients = [AdminClient(build_app(services), clock) for _ in range(20)]
    forms = [client.request("GET", "/signin").csrf() for client in clients]
    barrier = threading.Barrier(len(clients))

    def attack(client: AdminClient, csrf: str) -> int:
        barrier.wait()
        return client.request(
            "POST", "/signin", form={"password": "wrong password!!", "csrf_token": csrf}
        ).status

    with ThreadPoolExecutor(len(clients)) as pool:
        statuses = list(pool.map(attack, clients, forms))
    assert len(checked) <= MAX_FAILED_SIGNINS
    assert statuses.count(401) == len(checked)
    assert statuses.count(429) == len(clients) - len(checked)


def test_ipv6_addresses_of_one_slash_64_share_their_attempts(admin_app: Any, clock: ManualClock) -> None:
    for host in range(1, MAX_FAILED_SIGNINS + 1):
        client = AdminClient(admin_app, clock, source_ip=f"2001:db8:1:2::{host:x}")
        assert client.sign_in("wrong password!!").status == 401
    neighbour = AdminClient(admin_app, clock, source_ip="2001:db8:1:2:ffff::1")
    assert neighbour.sign_in().status == 429
    other_network = AdminClient(admin_app, clock, source_ip="2001:db8:1:3::1")
    assert other_network.sign_in().status == 303


def test_a_flood_spread_over_many_addresses_is_capped(
    admin_app: Any, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked = _counting_password_checks(monkeypatch)
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    for address in range(MAX_SIGNINS_ALL_ADDRESSES + 10):
        AdminClient(admin_app, clock, source_ip=f"198.51.100.{address}").sign_in("wrong password!!")
    assert len(checked) == MAX_SIGNINS_ALL_ADDRESSES
    assert AdminClient(admin_app, clock, source_ip="192.0.2.1").sign_in().status == 429


def test_lockouts_leave_one_alert_and_rows_that_expire(admin_app: Any, clock: ManualClock) -> None:
    for address in ("203.0.113.20", "203.0.113.21", "203.0.113.22"):
        client = AdminClient(admin_app, clock, source_ip=address)
        for _ in range(MAX_FAILED_SIGNINS):
            client.sign_in("wrong password!!")
    rows = boto3.resource("dynamodb").Table(SYNC_STATE.physical_name).scan()["Items"]
    admin_rows = [row for row in rows if row["connection_id"] == ADMIN_STATE_PARTITION]
    assert admin_rows
    assert all("expires_at" in row for row in admin_rows), [r for r in admin_rows if "expires_at" not in r]
    now = int(clock.now().timestamp())
    assert all(now < int(row["expires_at"]) <= now + 8 * 86400 for row in admin_rows)
    (alert,) = SyncStateRepository(ADMIN_STATE_PARTITION, clock).alerts()
    assert alert.count == 3
    assert "203.0.113.22" in alert.message


def test_sign_out_ends_the_session(signed_in: AdminClient) -> None:
    cookie = signed_in.cookies[SESSION_COOKIE]
    reply = signed_in.request("POST", "/signout", form={"csrf_token": signed_in.csrf})
    assert reply.status == 303
    assert signed_in.request("GET", "/api/connections").status == 401
    # The cookie itself, kept and sent again (a copied cookie, a browser that ignores Max-Age=0).
    signed_in.cookies[SESSION_COOKIE] = cookie
    assert signed_in.request("GET", "/api/connections").status == 401


def test_a_password_change_ends_every_session_in_every_container(
    services: Any, admin_secret: Any, clock: ManualClock
) -> None:
    first, second = build_app(services), build_app(services)
    browser = AdminClient(first, clock)
    assert browser.sign_in().status == 303
    on_second = AdminClient(second, clock, cookies=dict(browser.cookies))
    assert on_second.request("GET", "/api/connections").status == 200  # both containers warm
    credentials.set_admin_password("another admin passphrase", iterations=1000)
    assert browser.request("GET", "/api/connections").status == 401
    assert on_second.request("GET", "/api/connections").status == 401
    # The new password works at once in a container that holds the old secret in its cache.
    fresh = AdminClient(second, clock)
    assert fresh.sign_in("another admin passphrase").status == 303


def test_bad_credentials_do_not_refetch_the_secret_each_time(
    signed_in: AdminClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetches: list[bool] = []
    real = secrets.read_secret

    def counting(name: str, *, force_fetch: bool = False) -> str:
        fetches.append(force_fetch)
        return real(name, force_fetch=force_fetch)

    monkeypatch.setattr(secrets, "read_secret", counting)
    for attempt in range(20):
        signed_in.cookies[SESSION_COOKIE] = f"forged-session-{attempt:04d}"
        assert signed_in.request("GET", "/api/connections").status == 401
        bearer = signed_in.request(
            "GET", "/api/connections", headers={"authorization": f"Bearer bmsync_forged-{attempt}"}
        )
        assert bearer.status == 401
        form = signed_in.request("POST", "/signin", form={"password": "x", "csrf_token": "forged"})
        assert form.status == 403
    assert fetches.count(True) <= 1


def test_bearer_tokens_need_no_csrf_and_unknown_ones_are_refused(
    anonymous: AdminClient, clock: ManualClock
) -> None:
    store = AdminAuthStore(clock)
    record, token = credentials.create_api_token(
        store, clock, label="shop script", lifetime=timedelta(days=30)
    )
    ok = anonymous.request(
        "PATCH",
        "/api/connections/default/settings",
        json_body={"version": 0, "display_name": "From the API"},
        headers={"authorization": f"Bearer {token}"},
    )
    assert ok.status == 200, ok.body
    assert ok.json()["settings"]["display_name"] == "From the API"
    assert store.api_token(record.token_id).last_used_at == utc_iso(clock.now())  # type: ignore[union-attr]
    refused = anonymous.request(
        "GET", "/api/connections", headers={"authorization": "Bearer bmsync_not-a-real-token"}
    )
    assert refused.status == 401


def test_revoked_and_expired_api_tokens_are_refused_at_once(
    anonymous: AdminClient, clock: ManualClock
) -> None:
    store = AdminAuthStore(clock)
    revoked_record, revoked = credentials.create_api_token(
        store, clock, label="a", lifetime=timedelta(days=30)
    )
    _, expiring = credentials.create_api_token(store, clock, label="b", lifetime=timedelta(days=1))

    def status(token: str) -> int:
        return anonymous.request(
            "GET", "/api/connections", headers={"authorization": f"Bearer {token}"}
        ).status

    assert status(revoked) == 200 and status(expiring) == 200
    assert store.delete_api_token(revoked_record.token_id)
    assert status(revoked) == 401
    clock.advance(timedelta(days=1, seconds=1).total_seconds())
    assert status(expiring) == 401


def test_tokens_not_yet_migrated_from_the_admin_secret_keep_working(
    anonymous: AdminClient, admin_secret: Any
) -> None:
    legacy = credentials.new_api_token()
    credentials.save_admin_secret(
        admin_secret.model_copy(update={"api_token_hashes": [credentials.hash_api_token(legacy)]})
    )
    secrets.reset_cache()
    reply = anonymous.request("GET", "/api/connections", headers={"authorization": f"Bearer {legacy}"})
    assert reply.status == 200


def test_pages_carry_security_headers(signed_in: AdminClient) -> None:
    reply = signed_in.request("GET", "/")
    assert "frame-ancestors 'none'" in (reply.header("Content-Security-Policy") or "")
    assert reply.header("Cache-Control") == "no-store"


def test_without_admin_password_nobody_signs_in(aws: None, services: Any, clock: ManualClock) -> None:
    from bmsync.admin.app import build_app

    client = AdminClient(build_app(services), clock)
    page = client.request("GET", "/signin")
    assert page.status == 503
    assert "bmsync admin set-password" in page.body
    assert client.request("GET", "/api/connections").status == 401


OFF_SITE_NEXT = [
    "//evil.example/",
    "https://evil.example/",
    "/\\evil.example/x",
    "/\\/evil.example",
    "/%0d%0aX-Injected: 1",
    "/\r\nX-Injected: 1",
    "/%5Cevil.example",
    "javascript:alert(1)",
    "evil.example",
]


@pytest.mark.parametrize("next_path", OFF_SITE_NEXT)
def test_sign_in_never_redirects_off_site(anonymous: AdminClient, next_path: str) -> None:
    page = anonymous.request("GET", "/signin")
    reply = anonymous.request(
        "POST", "/signin", form={"password": PASSWORD, "csrf_token": page.csrf(), "next": next_path}
    )
    assert reply.status == 303
    assert reply.header("Location") == "/"
    assert reply.header("X-Injected") is None


@pytest.mark.parametrize("next_path", OFF_SITE_NEXT)
def test_the_sign_in_form_never_carries_an_off_site_next(anonymous: AdminClient, next_path: str) -> None:
    page = anonymous.request("GET", "/signin?" + urlencode({"next": next_path}))
    assert 'name="next" value="/"' in page.body


def test_sign_in_returns_to_the_page_asked_for(anonymous: AdminClient) -> None:
    page = anonymous.request("GET", "/signin")
    target = "/connections/default/listings?filter=unmapped"
    reply = anonymous.request(
        "POST", "/signin", form={"password": PASSWORD, "csrf_token": page.csrf(), "next": target}
    )
    assert reply.header("Location") == target


def test_no_response_or_log_line_ever_carries_a_secret(
    admin_app: Any,
    signed_in: AdminClient,
    admin_secret: credentials.AdminSecret,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token, app_secret = "bm-secret-token-5f1e2d3c4b5a", "wc-secret-value-9a8b7c6d5e4f"
    base = "/api/connections/default/connection"
    assert signed_in.api("PUT", f"{base}/backmarket-token", {"token": token}).status == 200
    assert (
        signed_in.api("PUT", f"{base}/wholecell", {"app_id": "app-7", "app_secret": app_secret}).status == 200
    )
    _, api_token = credentials.create_api_token(
        AdminAuthStore(signed_in.clock), signed_in.clock, label="t", lifetime=timedelta(days=1)
    )
    secrets_ = [token, app_secret, api_token, PASSWORD, admin_secret.session_key, admin_secret.password_hash]
    replies = [signed_in.request(method, path) for method, path in _routes(admin_app) if method == "GET"]
    replies.append(signed_in.api("PUT", f"{base}/backmarket-token", {"token": token + " with space"}))
    for reply in replies:
        text = reply.body + repr(reply.headers)
        for secret in secrets_:
            assert secret not in text
    logged = capsys.readouterr()
    for secret in secrets_:
        assert secret not in logged.out + logged.err


def test_every_json_body_route_names_the_field_at_fault_and_changes_nothing(
    admin_app: Any, signed_in: AdminClient
) -> None:
    from bmsync.store.listings_repo import ListingItem, ListingsRepository

    ListingsRepository("default").create(
        ListingItem(connection_id="default", listing_id="default", sku="S", imported_at="t", seen_at="t")
    )
    takes_body = [
        (method, path)
        for method, path in _routes(admin_app)
        if method in ("PUT", "PATCH") and "/api/" in path
    ]
    assert len(takes_body) >= 4
    for method, path in takes_body:
        not_an_object = signed_in.request(
            method, path, raw_body="[1, 2]", headers={"x-csrf-token": signed_in.csrf}
        )
        assert not_an_object.status == 400, (method, path)
        assert not_an_object.json()["errors"][0]["field"] == "body"
        empty = signed_in.api(method, path, {})
        assert empty.status in (409, 422), (method, path, empty.status)
        assert all(error["field"] for error in empty.json()["errors"]), (method, path)
    assert SettingsRepository().get("default") is None
    assert (
        signed_in.api("GET", "/api/connections/default/connection").json()["backmarket"]["token_set"] is False
    )


def _deeply_nested(levels: int) -> str:
    return '{"version": 0, "backmarket": ' + '{"a": ' * levels + "1" + "}" * levels + "}"


#: Bodies no client should send; each must be a 4xx naming the field at fault, never a 5xx.
ODD_BODIES: list[tuple[str, str]] = [
    ("huge version", '{"version": 10000000000000000000000000000000000000000}'),
    ("string version", '{"version": "0"}'),
    ("boolean version", '{"version": true}'),
    ("float version", '{"version": 0.5}'),
    ("deep nesting", _deeply_nested(100_000)),
    ("moderate nesting", _deeply_nested(50)),
    ("NaN", '{"version": NaN}'),
    ("huge buffer", '{"version": 0, "safety_buffer": 10000000000000000000000000000000000000000}'),
    ("string buffer", '{"version": 0, "safety_buffer": "3"}'),
    ("number as switch", '{"version": 0, "quantity_sync_enabled": 1}'),
    ("string as switch", '{"version": 0, "quantity_sync_enabled": "true"}'),
    ("true as number", '{"version": 0, "safety_buffer": true}'),
    ("list as object", '{"version": 0, "backmarket": [1]}'),
    ("huge buffer override", '{"buffer_override": 10000000000000000000000000000000000000000}'),
    ("string buffer override", '{"buffer_override": "2"}'),
    ("number as pause", '{"sync_paused": 1}'),
    ("numbers as variation ids", '{"variation_ids": [2001]}'),
    ("token as number", '{"token": 12345678901234567890}'),
    ("app id as number", '{"app_id": 7, "app_secret": "wc-secret-value-0000"}'),
    ("not json", "{'version': 0}"),
    ("truncated", '{"version": 0'),
]


def test_odd_bodies_on_every_json_route_are_a_4xx_naming_the_field(
    admin_app: Any, signed_in: AdminClient
) -> None:
    from bmsync.store.listings_repo import ListingItem, ListingsRepository

    ListingsRepository("default").create(
        ListingItem(connection_id="default", listing_id="default", sku="S", imported_at="t", seen_at="t")
    )
    takes_body = [
        (method, path)
        for method, path in _routes(admin_app)
        if method in ("PUT", "PATCH") and path.startswith("/api/")
    ]
    assert len(takes_body) >= 5
    failures = []
    for method, path in takes_body:
        for name, body in ODD_BODIES:
            try:
                reply = signed_in.request(
                    method, path, raw_body=body, headers={"x-csrf-token": signed_in.csrf}
                )
            except Exception as error:  # in Lambda: a 502
                failures.append((method, path, name, repr(error)[:120]))
                continue
            if not 400 <= reply.status < 500:
                failures.append((method, path, name, reply.status))
                continue
            if reply.status == 202 or not reply.body:
                continue
            fields = [error.get("field") for error in reply.json().get("errors", [])]
            if not fields or not all(fields):
                failures.append((method, path, name, reply.status, reply.body[:200]))
    assert failures == [], "\n".join(map(str, failures))
    assert SettingsRepository().get("default") is None

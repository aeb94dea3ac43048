"""Every route needs sign-in; forms need the CSRF token; sign-ins are throttled; sessions expire."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bmsync.admin import credentials
from bmsync.admin.sessions import LOCKOUT, MAX_FAILED_SIGNINS, SESSION_COOKIE, SESSION_LIFETIME
from bmsync.clock import ManualClock
from bmsync.store.settings_repo import SettingsRepository
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
    payload, _, signature = good.partition(".")
    signed_in.cookies[SESSION_COOKIE] = payload + "." + ("0" if signature[0] != "0" else "1") + signature[1:]
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


def test_sign_out_ends_the_session(signed_in: AdminClient) -> None:
    reply = signed_in.request("POST", "/signout", form={"csrf_token": signed_in.csrf})
    assert reply.status == 303
    assert signed_in.request("GET", "/api/connections").status == 401


def test_bearer_tokens_need_no_csrf_and_unknown_ones_are_refused(anonymous: AdminClient) -> None:
    token = credentials.add_api_token()
    ok = anonymous.request(
        "PATCH",
        "/api/connections/default/settings",
        json_body={"version": 0, "display_name": "From the API"},
        headers={"authorization": f"Bearer {token}"},
    )
    assert ok.status == 200, ok.body
    assert ok.json()["settings"]["display_name"] == "From the API"
    refused = anonymous.request(
        "GET", "/api/connections", headers={"authorization": "Bearer bmsync_not-a-real-token"}
    )
    assert refused.status == 401


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


@pytest.mark.parametrize("next_path", ["//evil.example/", "https://evil.example/"])
def test_sign_in_never_redirects_off_site(anonymous: AdminClient, next_path: str) -> None:
    page = anonymous.request("GET", "/signin")
    reply = anonymous.request(
        "POST", "/signin", form={"password": PASSWORD, "csrf_token": page.csrf(), "next": next_path}
    )
    assert reply.header("Location") == "/"


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
    api_token = credentials.add_api_token()
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

"""Issue 18.1: an admin credential cannot aim a connection's token at another host or another secret;
issue 21.4: "Test connection" tests the token just saved."""

from __future__ import annotations

import pytest

from bmsync.settings import LOCAL_SANDBOX_HOSTS_ENV
from bmsync.store.settings_repo import SettingsRepository
from tests.unit.admin.conftest import AdminClient

SETTINGS = "/api/connections/default/settings"


def _fields(reply) -> set[str]:  # type: ignore[no-untyped-def]
    return {error["field"] for error in reply.json()["errors"]}


def test_pointing_the_token_at_a_listener_and_another_secret_is_refused_naming_the_fields(
    signed_in: AdminClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(LOCAL_SANDBOX_HOSTS_ENV)  # as in AWS: no local emulator host is allowed
    listener = signed_in.api(
        "PATCH",
        SETTINGS,
        {
            "version": 0,
            "backmarket": {
                "host": "http://127.0.0.1:8765",
                "token_secret_name": "bmsync/demo/backmarket-token",
            },
        },
    )
    # Field errors answer 4xx naming each field (the admin's field-error status).
    assert listener.status in {400, 422}
    assert {"backmarket.host", "backmarket.token_secret_name"} <= _fields(listener)
    admin_secret = signed_in.api(
        "PATCH",
        SETTINGS,
        {
            "version": 0,
            "wholecell": {
                "credentials_secret_name": "arn:aws:secretsmanager:eu-west-1:1:secret:bmsync/admin"
            },
        },
    )
    assert admin_secret.status in {400, 422} and "wholecell.credentials_secret_name" in _fields(admin_secret)
    metadata = signed_in.api(
        "PATCH", SETTINGS, {"version": 0, "wholecell": {"base_url": "http://169.254.169.254/"}}
    )
    assert metadata.status in {400, 422} and _fields(metadata) == {"wholecell.base_url"}
    attacker = signed_in.api(
        "PATCH", SETTINGS, {"version": 0, "backmarket": {"host": "https://attacker.example"}}
    )
    assert attacker.status in {400, 422} and _fields(attacker) == {"backmarket.host"}
    assert SettingsRepository().get("default") is None  # nothing was saved
    preprod = signed_in.api(
        "PATCH", SETTINGS, {"version": 0, "backmarket": {"host": "https://preprod.backmarket.fr"}}
    )
    assert preprod.status == 200, preprod.body


def test_saving_a_token_stamps_the_settings_so_the_next_test_reads_it_again(signed_in: AdminClient) -> None:
    base = "/api/connections/default/connection"
    assert signed_in.api("PATCH", SETTINGS, {"version": 0, "display_name": "Shop"}).status == 200
    before = SettingsRepository().get_or_default("default").secrets_version
    assert signed_in.api("PUT", f"{base}/backmarket-token", {"token": "first-token-123"}).status == 200
    first = SettingsRepository().get_or_default("default").secrets_version
    assert (
        signed_in.api("PUT", f"{base}/wholecell", {"app_id": "a", "app_secret": "secret-12345"}).status == 200
    )
    second = SettingsRepository().get_or_default("default").secrets_version
    assert len({before, first, second}) == 3
    # The stamp is not a setting: the API does not show it, and a PATCH may not set it.
    assert "secrets_version" not in signed_in.api("GET", SETTINGS).json()["settings"]
    refused = signed_in.api("PATCH", SETTINGS, {"version": 1, "secrets_version": "x"})
    assert refused.status in {400, 422} and "secrets_version" in _fields(refused)
    assert SettingsRepository().get_or_default("default").display_name == "Shop"

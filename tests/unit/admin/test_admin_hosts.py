"""In AWS the admin says which hosts a connection uses and offers no local emulators."""

from __future__ import annotations

from bmsync.admin import sandbox_hosts
from tests.unit.admin.conftest import AdminClient

BASE = "/api/connections/default"


def test_a_new_connection_uses_production_hosts_and_no_emulator_is_offered(signed_in: AdminClient) -> None:
    assert sandbox_hosts.installed is None  # nothing installs emulators in Lambda
    summary = signed_in.api("GET", f"{BASE}/connection").json()
    assert summary["backmarket"]["base_url"] == "https://www.backmarket.fr"
    assert summary["backmarket"]["host_kind"] == summary["wholecell"]["host_kind"] == "production"
    assert summary["sandbox"] is None
    page = signed_in.request("GET", "/connections/default/connection").body
    assert "https://www.backmarket.fr (production)" in page and "Use the local emulators" not in page
    refused = signed_in.api("POST", f"{BASE}/connection/use-sandbox")
    assert refused.status == 404 and "AWS" in refused.json()["errors"][0]["message"]


def test_a_host_override_is_named_other(signed_in: AdminClient) -> None:
    changed = {"version": 0, "backmarket": {"host": "https://preprod.backmarket.fr"}}
    assert signed_in.api("PATCH", f"{BASE}/settings", changed).status == 200
    summary = signed_in.api("GET", f"{BASE}/connection").json()
    assert summary["backmarket"]["host_kind"] == "other"
    assert summary["wholecell"]["host_kind"] == "production"

"""A Back Market token is one connection's: another enabled connection cannot save it (409)."""

from __future__ import annotations

import json

from bmsync.clock import ManualClock
from bmsync.store.sync_state import SyncStateRepository
from bmsync.sync.duplicates import FINGERPRINT_DOCUMENT
from tests.unit.admin.conftest import AdminClient

TOKEN = "bm-shared-token-0123456789"


def _connection(signed_in: AdminClient, connection_id: str, **settings: object) -> str:
    base = f"/api/connections/{connection_id}"
    assert signed_in.api("PATCH", f"{base}/settings", {"version": 0, **settings}).status == 200
    return f"{base}/connection/backmarket-token"


def test_an_enabled_connections_token_is_refused_elsewhere_and_kept_as_a_fingerprint_only(
    signed_in: AdminClient, clock: ManualClock
) -> None:
    first = _connection(signed_in, "uk", order_import_enabled=True)
    assert signed_in.api("PUT", first, {"token": TOKEN}).status == 200
    assert signed_in.api("PUT", first, {"token": TOKEN}).status == 200  # its own token again: fine
    stored = SyncStateRepository("uk", clock).get_document(FINGERPRINT_DOCUMENT)
    assert stored is not None and TOKEN not in json.dumps(stored) and len(stored["fingerprint"]) == 64

    second = _connection(signed_in, "uk-copy")
    refused = signed_in.api("PUT", second, {"token": TOKEN})
    assert refused.status == 409
    assert refused.json()["errors"][0]["field"] == "token"
    assert "'uk'" in refused.json()["errors"][0]["message"] and TOKEN not in refused.body
    assert (
        signed_in.api("GET", "/api/connections/uk-copy/connection").json()["backmarket"]["token_set"] is False
    )
    assert signed_in.api("PUT", second, {"token": TOKEN + "-other"}).status == 200


def test_a_switched_off_connection_does_not_hold_its_token(signed_in: AdminClient) -> None:
    old = _connection(signed_in, "old-shop")  # order import and quantity sync off
    assert signed_in.api("PUT", old, {"token": TOKEN}).status == 200
    new = _connection(signed_in, "new-shop", order_import_enabled=True)
    assert signed_in.api("PUT", new, {"token": TOKEN}).status == 200

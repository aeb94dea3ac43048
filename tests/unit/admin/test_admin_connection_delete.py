"""Issue 18.10: deleting a connection, with confirmation, removes its settings, secrets and every item."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest

from bmsync import connection_secrets, secrets
from bmsync.admin import credentials
from bmsync.settings import Settings
from bmsync.store.admin_auth import AdminAuthStore
from bmsync.store.dynamo import table
from bmsync.store.settings_repo import SettingsRepository
from bmsync.store.tables import LISTING_LINKS, LISTINGS, ORDERS, SETTINGS, STOCK, SYNC_STATE, TableDef
from tests.unit.admin.conftest import AdminClient

SHOP, OTHER = "shop", "other"
TOKEN = "shop-backmarket-token-0042"
BUYER = "Ada Lovelace, 12 Analytical Street"
#: A few items in each table keyed by connection (more than one page would need 1 MB; the paging
#: loop is the same code either way).
ITEMS: list[tuple[TableDef, list[dict[str, Any]]]] = [
    (LISTINGS, [{"listing_id": f"l-{n}", "sku": "IP13"} for n in range(3)]),
    (LISTING_LINKS, [{"link_id": "7#l-0", "listing_id": "l-0"}]),
    (STOCK, [{"variation_id": "7", "sku_key": "ip13"}]),
    (ORDERS, [{"order_id": str(n), "buyer": BUYER} for n in range(4)]),
    (SYNC_STATE, [{"state_key": "cursor#order_import"}, {"state_key": "alert#x"}]),
]
COUNTS = {definition.logical_name: len(items) for definition, items in ITEMS}
ORDER_COUNT = COUNTS["orders"]


def _count(definition: TableDef, connection_id: str) -> int:
    return int(
        table(definition).query(
            KeyConditionExpression="connection_id = :c",
            ExpressionAttributeValues={":c": connection_id},
            Select="COUNT",
        )["Count"]
    )


def _connection(connection_id: str) -> None:
    SettingsRepository().save(Settings(connection_id=connection_id, display_name=connection_id))
    connection_secrets.write_backmarket_token(
        connection_id, TOKEN if connection_id == SHOP else "other-token-1"
    )
    connection_secrets.write_wholecell_credentials(connection_id, "app", "wholecell-secret-99")
    for definition, items in ITEMS:
        for item in items:
            table(definition).put_item(Item={"connection_id": connection_id, **item})


@pytest.fixture
def two_connections(aws: None) -> None:
    _connection(SHOP)
    _connection(OTHER)


def _everything_of(connection_id: str) -> dict[str, Any]:
    return {
        "settings": table(SETTINGS).get_item(Key={"connection_id": connection_id}).get("Item") is not None,
        "secrets": connection_secrets.secrets_set(connection_id),
        **{definition.logical_name: _count(definition, connection_id) for definition, _ in ITEMS},
    }


def test_the_api_deletes_only_with_the_connection_id_typed_back(
    signed_in: AdminClient, two_connections: None, captured_logs: io.StringIO
) -> None:
    other_before = _everything_of(OTHER)
    for body in (None, {}, {"confirm": "sho"}, {"confirm": OTHER}, {"confirm": 1}):
        refused = signed_in.api("DELETE", f"/api/connections/{SHOP}", body)
        assert refused.status == 400, body
        assert [error["field"] for error in refused.json()["errors"]] in (["confirm"], ["body"])
    assert _everything_of(SHOP)["orders"] == ORDER_COUNT  # nothing deleted yet

    reply = signed_in.api("DELETE", f"/api/connections/{SHOP}", {"confirm": SHOP})

    assert reply.status == 200, reply.body
    deleted = reply.json()["deleted"]
    assert deleted["connection_id"] == SHOP
    assert deleted["items"] == {"settings": 1, **COUNTS}
    assert sorted(deleted["secrets"]) == ["bmsync/shop/backmarket-token", "bmsync/shop/wholecell"]
    assert _everything_of(SHOP) == {
        "settings": False,
        "secrets": {"backmarket-token": False, "wholecell": False},
        **{definition.logical_name: 0 for definition, _ in ITEMS},
    }
    assert _everything_of(OTHER) == other_before  # another connection is untouched
    assert secrets.secret_is_set("bmsync/other/backmarket-token")
    # The console no longer lists it.
    listed = [c["connection_id"] for c in signed_in.api("GET", "/api/connections").json()["connections"]]
    assert SHOP not in listed and OTHER in listed

    # Audited: which connection, who (a session, by digest), never a secret or a buyer's data.
    out = captured_logs.getvalue()
    audit = [json.loads(line) for line in out.splitlines() if '"connection deleted"' in line]
    assert len(audit) == 1 and audit[0]["connection_id"] == SHOP
    assert audit[0]["by"].startswith("session ")
    assert TOKEN not in out and "wholecell-secret-99" not in out and BUYER not in out
    assert signed_in.cookies["bmsync_session"].split(".")[0] not in out

    # It is gone: deleting it again, or any unknown connection, is a 404.
    again = signed_in.api("DELETE", f"/api/connections/{SHOP}", {"confirm": SHOP})
    assert again.status == 404
    assert signed_in.api("DELETE", "/api/connections/nope", {"confirm": "nope"}).status == 404


def test_a_partly_deleted_connection_can_be_deleted_again(
    signed_in: AdminClient, two_connections: None
) -> None:
    # As if a deletion stopped after the settings and secrets: items remain, and can still go.
    SettingsRepository().delete(SHOP)
    connection_secrets.delete_connection_secrets(SHOP)
    reply = signed_in.api("DELETE", f"/api/connections/{SHOP}", {"confirm": SHOP})
    assert reply.status == 200 and reply.json()["deleted"]["items"]["orders"] == ORDER_COUNT
    assert _count(ORDERS, SHOP) == 0


def test_an_api_token_may_delete_and_is_named_in_the_audit(
    anonymous: AdminClient, two_connections: None, captured_logs: io.StringIO
) -> None:
    _, token = credentials.create_api_token(
        AdminAuthStore(anonymous.clock), anonymous.clock, label="cleanup", lifetime=timedelta(days=1)
    )
    reply = anonymous.request(
        "DELETE",
        f"/api/connections/{SHOP}",
        json_body={"confirm": SHOP},
        headers={"authorization": f"Bearer {token}"},
    )
    assert reply.status == 200, reply.body
    out = captured_logs.getvalue()
    assert token not in out
    assert any('"connection deleted"' in line and '"by":"api token"' in line for line in out.splitlines())


def test_the_console_asks_for_the_connection_id_and_checks_the_csrf_token(
    signed_in: AdminClient, two_connections: None
) -> None:
    page = signed_in.request("GET", f"/connections/{SHOP}/connection")
    assert page.status == 200
    assert f'action="/connections/{SHOP}/delete"' in page.body and 'name="confirm"' in page.body
    csrf = page.csrf()

    forged = signed_in.request("POST", f"/connections/{SHOP}/delete", form={"confirm": SHOP})
    assert forged.status == 403 and _count(ORDERS, SHOP) == ORDER_COUNT
    wrong = signed_in.request(
        "POST", f"/connections/{SHOP}/delete", form={"confirm": "shop ", "csrf_token": csrf}
    )
    assert wrong.status == 400 and "Not deleted" in wrong.body and _count(ORDERS, SHOP) == ORDER_COUNT

    done = signed_in.request(
        "POST", f"/connections/{SHOP}/delete", form={"confirm": SHOP, "csrf_token": csrf}
    )
    assert done.status == 200 and f"Connection {SHOP} deleted" in done.body
    assert _everything_of(SHOP)["settings"] is False and _count(ORDERS, SHOP) == 0
    assert _count(ORDERS, OTHER) == ORDER_COUNT

"""The one-click confirm of an order that may already be in WholeCell, and adopted orders, in the console."""

from __future__ import annotations

from bmsync.clock import ManualClock
from bmsync.store.orders_repo import OrderRecord, OrdersRepository
from bmsync.store.sync_state import SyncStateRepository
from bmsync.sync.order_import import may_exist_reason
from tests.unit.admin.conftest import AdminClient

CID = "default"
API = f"/api/connections/{CID}"
PAGES = f"/connections/{CID}"


def _waiting(order_id: str, clock: ManualClock) -> None:
    def wait(record: OrderRecord) -> bool:
        record.import_state = "needs_confirmation"
        record.import_status = may_exist_reason(order_id)
        return True

    OrdersRepository().update(CID, order_id, wait, writer="order_import", now=clock.now(), create=True)


def test_the_order_page_confirms_an_order_absent_with_one_click(
    signed_in: AdminClient, aws: None, clock: ManualClock
) -> None:
    _waiting("9101", clock)
    page = signed_in.request("GET", f"{PAGES}/orders/9101").body
    assert "may already be in WholeCell" in page and "It is not in WholeCell: create it" in page

    refused = signed_in.request("POST", f"{PAGES}/orders/9101/confirm-absent", form={})
    assert refused.status == 403  # no CSRF token
    assert OrdersRepository().get(CID, "9101").import_state == "needs_confirmation"

    done = signed_in.request(
        "POST", f"{PAGES}/orders/9101/confirm-absent", form={"csrf_token": signed_in.csrf}
    )
    assert done.status == 303
    record = OrdersRepository().get(CID, "9101")
    assert record.import_state == "not_imported"
    assert record.import_status.startswith("confirmed absent from WholeCell")
    # The next run reads the waiting orders again (as after a settings change).
    assert "settings_fingerprint" not in (SyncStateRepository(CID, clock).get_document("order_import") or {})


def test_the_api_confirms_only_an_order_waiting_for_it(
    signed_in: AdminClient, aws: None, clock: ManualClock
) -> None:
    _waiting("9102", clock)
    reply = signed_in.api("POST", f"{API}/orders/9102/confirm-absent")
    assert reply.status == 200 and reply.json()["import_state"] == "not_imported"
    again = signed_in.api("POST", f"{API}/orders/9102/confirm-absent")
    assert again.status == 409 and again.json()["errors"][0]["field"] == "order_id"
    assert signed_in.api("POST", f"{API}/orders/404404/confirm-absent").status == 404


def test_an_adopted_order_says_where_it_came_from(
    signed_in: AdminClient, aws: None, clock: ManualClock
) -> None:
    def adopted(record: OrderRecord) -> bool:
        record.import_state = "imported"
        record.adopted = True
        record.wholecell_order_id = 88
        record.import_status = "adopted from WholeCell's own integration: WholeCell sales order 88"
        return True

    OrdersRepository().update(CID, "9103", adopted, writer="order_import", now=clock.now(), create=True)
    page = signed_in.request("GET", f"{PAGES}/orders/9103").body
    assert (
        "adopted from WholeCell&#x27;s own integration" in page
        or "adopted from WholeCell's own integration" in page
    )
    assert signed_in.api("GET", f"{API}/orders/9103").json()["order"]["adopted"] is True

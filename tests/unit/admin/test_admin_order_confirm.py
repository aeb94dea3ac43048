"""The seller's answers to an order that may already be in WholeCell (not there: create it; there:
link it to the WholeCell order named), and adopted orders, in the console."""

from __future__ import annotations

import pytest

from bmsync.admin.services import AdminServices
from bmsync.clock import ManualClock
from bmsync.settings import Settings
from bmsync.store.orders_repo import OrderRecord, OrdersRepository
from bmsync.store.sync_state import SyncStateRepository
from bmsync.sync.order_import import may_exist_reason
from bmsync.wholecell.errors import NotFound
from tests.unit.admin.conftest import AdminClient
from tests.unit.orders.fakes import FakeSalesOrder

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


# --- the other answer: "it is in WholeCell: order #N"


def _wholecell_orders(services: AdminServices, *orders: FakeSalesOrder) -> list[int]:
    """WholeCell as the admin reads it (one sales order by id); returns the ids it was asked for."""
    asked: list[int] = []
    known = {order.id: order for order in orders}

    def read(settings: Settings, clock: ManualClock, order_id: int) -> FakeSalesOrder:
        asked.append(order_id)
        if order_id not in known:
            raise NotFound(f"no sales order {order_id}", status=404)
        return known[order_id]

    services.sales_order = read  # type: ignore[assignment]
    return asked


def test_the_order_page_links_the_order_to_the_wholecell_order_the_seller_names(
    signed_in: AdminClient, aws: None, clock: ManualClock, services: AdminServices
) -> None:
    _waiting("9104", clock)
    _wholecell_orders(services, FakeSalesOrder(4711, "Processing", None, notes="Alex Martin"))
    page = signed_in.request("GET", f"{PAGES}/orders/9104").body
    assert "It is in WholeCell: order #" in page

    form = {"wholecell_order_id": "#4711", "csrf_token": signed_in.csrf}
    refused = signed_in.request(
        "POST", f"{PAGES}/orders/9104/in-wholecell", form={"wholecell_order_id": "4711"}
    )
    assert refused.status == 403  # no CSRF token
    shown = signed_in.request("POST", f"{PAGES}/orders/9104/in-wholecell", form=form)
    assert shown.status == 200
    assert "Alex Martin" in shown.body and "Yes: it is WholeCell order #4711" in shown.body
    assert OrdersRepository().get(CID, "9104").import_state == "needs_confirmation"  # asked, not done

    done = signed_in.request("POST", f"{PAGES}/orders/9104/in-wholecell", form={**form, "confirm": "yes"})
    assert done.status == 303
    record = OrdersRepository().get(CID, "9104")
    assert record.import_state == "not_imported" and record.confirmed_wholecell_order_id == 4711
    assert record.history[-1].event.startswith("confirmed in WholeCell as sales order 4711 in the console")
    assert not any(
        alert.alert_id == "order-may-exist-9104" for alert in SyncStateRepository(CID, clock).alerts()
    )

    def linked(record: OrderRecord) -> bool:  # what the next order_import run records
        record.import_state, record.adopted, record.wholecell_order_id = "imported", True, 4711
        return True

    OrdersRepository().update(CID, "9104", linked, writer="order_import", now=clock.now())
    page = signed_in.request("GET", f"{PAGES}/orders/9104").body
    assert "linked to the WholeCell order named in the console" in page and "own integration" not in page


@pytest.mark.parametrize("bad", ["abc", "0", "-3", "12.5", "", True, 0, -1, 1.5, None, [4711]])
def test_a_wholecell_order_id_that_is_not_a_positive_whole_number_is_refused_and_changes_nothing(
    signed_in: AdminClient, aws: None, clock: ManualClock, services: AdminServices, bad: object
) -> None:
    _waiting("9105", clock)
    asked = _wholecell_orders(services, FakeSalesOrder(4711, "Processing", None))

    reply = signed_in.api("POST", f"{API}/orders/9105/in-wholecell", {"wholecell_order_id": bad})

    assert reply.status == 422
    [error] = reply.json()["errors"]
    assert error["field"] == "wholecell_order_id" and "positive whole number" in error["message"]
    assert OrdersRepository().get(CID, "9105").import_state == "needs_confirmation"
    assert asked == []  # WholeCell was not even asked


def test_the_api_links_a_plausible_order_and_refuses_with_the_reason(
    signed_in: AdminClient, aws: None, clock: ManualClock, services: AdminServices
) -> None:
    _waiting("9106", clock)
    _wholecell_orders(
        services,
        FakeSalesOrder(4711, "Processing", None),
        FakeSalesOrder(4712, "Processing", None, channel="Amazon"),
        FakeSalesOrder(4713, "Processing", "9999"),
    )

    for wholecell_id, status, reason in [
        (4712, 409, "WholeCell sales order 4712 is in the channel 'Amazon', not 'Backmarket'"),
        (4713, 409, "WholeCell sales order 4713 has the external id 9999: it is Back Market order 9999's"),
        (4799, 404, "WholeCell has no sales order 4799"),
    ]:
        reply = signed_in.api("POST", f"{API}/orders/9106/in-wholecell", {"wholecell_order_id": wholecell_id})
        assert reply.status == status
        assert reply.json()["errors"] == [{"field": "wholecell_order_id", "message": reason}]
        assert OrdersRepository().get(CID, "9106").import_state == "needs_confirmation"

    linked = signed_in.api("POST", f"{API}/orders/9106/in-wholecell", {"wholecell_order_id": "4711"})
    assert linked.status == 200 and linked.json()["import_state"] == "not_imported"
    again = signed_in.api("POST", f"{API}/orders/9106/in-wholecell", {"wholecell_order_id": 4711})
    assert again.status == 409 and again.json()["errors"][0]["field"] == "order_id"
    # Another waiting order cannot take the same WholeCell order.
    _waiting("9107", clock)
    taken = signed_in.api("POST", f"{API}/orders/9107/in-wholecell", {"wholecell_order_id": 4711})
    assert taken.status == 409
    assert taken.json()["errors"][0]["message"] == (
        "WholeCell sales order 4711 is already linked to Back Market order 9106"
    )

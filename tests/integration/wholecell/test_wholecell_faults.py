"""Every sandbox fault mode against the client: no crash, no lost write, no duplicate create."""

from __future__ import annotations

import json

import pytest

from bmsync.connection_secrets import WholeCellCredentials
from bmsync.observability import logger
from bmsync.wholecell.errors import OutcomeUnknown, RateLimited, ServerError, Unauthorized
from bmsync.wholecell.models import OrderItemCreate, SalesOrderCreate
from bmsync_sandbox.demo_catalogue import variations as demo_variations

SKU = demo_variations()[4].sku


def _new_order(customer_id: int, external_id: str = "800001") -> SalesOrderCreate:
    return SalesOrderCreate(
        customer_id=customer_id,
        status="Pending",
        external_id=external_id,
        order_items=[OrderItemCreate(sku=SKU, description="phone", quantity=1, price=20000)],
    )


def _faulted(sandbox, path: str, method: str = "GET") -> list[dict]:
    return [c for c in sandbox.calls() if c["path"] == path and c["method"] == method]


def test_429_is_retried_after_retry_after_on_the_clock(wholecell_sandbox, wholecell, clock):
    wholecell_sandbox.receive_units(SKU, 3)
    wholecell_sandbox.set_faults(rate_limits=2, path_prefix="/inventories")
    started = clock.monotonic()

    assert len(list(wholecell.iter_inventories())) == 3

    assert [c["status"] for c in _faulted(wholecell_sandbox, "/inventories")] == [429, 429, 200]
    assert clock.monotonic() - started >= 2.0  # waited Retry-After: 1 twice, on the injected clock


def test_429_that_never_ends_raises_rate_limited(wholecell_sandbox, make_wholecell_client):
    client = make_wholecell_client(wholecell_sandbox, max_attempts=3)
    wholecell_sandbox.set_faults(rate_limits=10)
    with pytest.raises(RateLimited) as error:
        client.list_sales_order_statuses()
    assert error.value.retryable and "requests per second" in error.value.action
    assert len(wholecell_sandbox.calls()) == 3


def test_5xx_and_non_json_reads_are_retried(wholecell_sandbox, wholecell):
    wholecell_sandbox.receive_units(SKU, 2)
    wholecell_sandbox.set_faults(server_errors=1, non_json=2, path_prefix="/inventories")

    assert len(list(wholecell.iter_inventories())) == 2
    faults = [c["fault"] for c in _faulted(wholecell_sandbox, "/inventories")]
    assert faults == ["server_error", "non_json", "non_json", None]


def test_a_read_that_keeps_failing_raises_server_error_without_crashing(
    wholecell_sandbox, make_wholecell_client
):
    client = make_wholecell_client(wholecell_sandbox, max_attempts=2)
    wholecell_sandbox.set_faults(non_json=5)
    with pytest.raises(ServerError, match="not JSON"):
        client.list_sales_order_statuses()


def test_a_read_timeout_is_retried(wholecell_sandbox, make_wholecell_client):
    client = make_wholecell_client(wholecell_sandbox, timeout=(1.0, 0.2))
    wholecell_sandbox.set_faults(timeouts=1, timeout_seconds=0.6)
    statuses = client.list_sales_order_statuses()
    assert "Pending" in {s.title for s in statuses}
    assert [c["fault"] for c in wholecell_sandbox.calls()] == ["timeout", None]


def test_slowness_under_the_timeout_just_takes_longer(wholecell_sandbox, make_wholecell_client):
    client = make_wholecell_client(wholecell_sandbox, timeout=(1.0, 1.0))
    wholecell_sandbox.set_faults(slow_seconds=0.1)
    assert client.list_sales_order_statuses()
    assert [c["fault"] for c in wholecell_sandbox.calls()] == [None]


def test_a_5xx_on_create_is_not_resent_and_the_order_is_created_exactly_once(wholecell_sandbox, wholecell):
    customer = wholecell.find_or_create_customer("Jane")
    wholecell_sandbox.set_faults(server_errors=1, path_prefix="/sales_orders", method="POST")

    with pytest.raises(OutcomeUnknown) as unknown:
        wholecell.create_sales_order(_new_order(customer.id))
    assert unknown.value.retryable and "look the record up" in unknown.value.action
    assert len(_faulted(wholecell_sandbox, "/sales_orders", "POST")) == 1  # not resent

    # The recovery the order flow does: look it up, create only if it is not there.
    assert wholecell.find_sales_order_by_external_id("800001") is None
    created = wholecell.create_sales_order(_new_order(customer.id))
    assert [o["id"] for o in wholecell_sandbox.orders(channel="Backmarket")] == [created.id]


def test_a_timed_out_create_that_happened_anyway_is_found_not_duplicated(
    wholecell_sandbox, make_wholecell_client
):
    client = make_wholecell_client(wholecell_sandbox, timeout=(1.0, 0.2))
    customer = client.find_or_create_customer("Jane")
    wholecell_sandbox.set_faults(timeouts=1, timeout_seconds=0.6, path_prefix="/sales_orders", method="POST")

    with pytest.raises(OutcomeUnknown):
        client.create_sales_order(_new_order(customer.id))

    found = client.find_sales_order_by_external_id("800001")
    assert found is not None
    assert [o["id"] for o in wholecell_sandbox.orders(channel="Backmarket")] == [found.id]


def test_a_non_json_answer_to_a_create_is_an_unknown_outcome(wholecell_sandbox, wholecell):
    customer = wholecell.find_or_create_customer("Jane")
    wholecell_sandbox.set_faults(non_json=1, path_prefix="/sales_orders", method="POST")
    with pytest.raises(OutcomeUnknown, match="not JSON"):
        wholecell.create_sales_order(_new_order(customer.id))
    assert len(_faulted(wholecell_sandbox, "/sales_orders", "POST")) == 1


def test_429_on_a_create_is_retried_because_nothing_was_done(wholecell_sandbox, wholecell):
    customer = wholecell.find_or_create_customer("Jane")
    wholecell_sandbox.set_faults(rate_limits=1, path_prefix="/sales_orders", method="POST")
    created = wholecell.create_sales_order(_new_order(customer.id))
    assert [o["id"] for o in wholecell_sandbox.orders(channel="Backmarket")] == [created.id]


def test_a_status_update_that_timed_out_is_resent_and_lands_once(wholecell_sandbox, make_wholecell_client):
    client = make_wholecell_client(wholecell_sandbox, timeout=(1.0, 0.2))
    order = wholecell_sandbox.create_sales_order(order_items=[{"sku": SKU, "quantity": 1, "price": 1}])
    wholecell_sandbox.set_faults(timeouts=1, timeout_seconds=0.6, method="PATCH")

    updated = client.update_sales_order_status(order["id"], "Processing")

    assert updated.status == "Processing" == wholecell_sandbox.order(order["id"])["status"]
    assert len(_faulted(wholecell_sandbox, f"/sales_orders/{order['id']}", "PATCH")) == 2


def test_find_or_create_customer_after_a_timed_out_create_finds_the_one_created(
    wholecell_sandbox, make_wholecell_client
):
    client = make_wholecell_client(wholecell_sandbox, timeout=(1.0, 0.2))
    wholecell_sandbox.set_faults(timeouts=1, timeout_seconds=0.6, path_prefix="/customers", method="POST")
    customer = client.find_or_create_customer("Back Market")
    assert [c.name for c in wholecell_sandbox.account.customers.values()] == ["Back Market"]
    assert customer.id == next(iter(wholecell_sandbox.account.customers))


def test_rotated_credentials_are_read_again_once_after_a_401(wholecell_sandbox, make_wholecell_client):
    reads: list[bool] = []
    current = {"secret": "sandbox-secret"}

    def provider(force_refresh: bool) -> WholeCellCredentials:
        reads.append(force_refresh)
        return WholeCellCredentials(app_id="sandbox-app", app_secret=current["secret"])

    client = make_wholecell_client(wholecell_sandbox, credentials_provider=provider)
    assert client.list_sales_order_statuses()
    # The seller made a new App Secret and saved it in the admin.
    wholecell_sandbox.set_credentials("sandbox-app", "rotated-secret")
    current["secret"] = "rotated-secret"

    assert client.list_sales_order_statuses()
    assert reads == [False, True]
    assert [c["status"] for c in wholecell_sandbox.calls()] == [200, 401, 200]


def test_refused_credentials_raise_unauthorized_once_without_retrying(
    wholecell_sandbox, make_wholecell_client, capsys
):
    reads: list[bool] = []

    def provider(force_refresh: bool) -> WholeCellCredentials:
        reads.append(force_refresh)
        return WholeCellCredentials(app_id="sandbox-app", app_secret="an-old-secret-value")

    client = make_wholecell_client(wholecell_sandbox, credentials_provider=provider)
    with pytest.raises(Unauthorized) as refused:
        list(client.iter_inventories())
    logger.error("flow failed", extra={"error": str(refused.value)})

    error = refused.value
    assert error.needs_attention and error.status == 401 and not error.retryable
    assert "API App in WholeCell settings" in str(error)
    assert reads == [False, True]
    assert len(wholecell_sandbox.calls()) == 1
    assert "an-old-secret-value" not in str(error) + repr(error.args) + capsys.readouterr().out


def test_every_fault_setting_is_reachable_over_the_control_api(wholecell_sandbox):
    import requests

    control = wholecell_sandbox.control_url
    answer = requests.post(f"{control}/faults", json={"server_errors": 2, "path_prefix": "/x"}, timeout=5)
    assert answer.json()["server_errors"] == 2 and wholecell_sandbox.faults().path_prefix == "/x"
    bad = requests.post(f"{control}/faults", json={"explode": True}, timeout=5)
    assert bad.status_code == 422 and "explode" in json.loads(bad.text)["errors"]
    requests.delete(f"{control}/faults", timeout=5)
    assert wholecell_sandbox.faults().server_errors == 0

"""Orders recorded as not imported are looked at again after a settings change that can let them in."""

from __future__ import annotations

import pytest

from bmsync.settings import BackMarketOrderStatus, OrganizationType, Settings, settings_fingerprint
from bmsync.store.orders_repo import OrdersRepository
from bmsync.sync import doctor
from tests.unit.orders.conftest import OrdersHarness
from tests.unit.orders.fakes import ServerError

HOURS = 3600


def _without_paid(harness: OrdersHarness) -> None:
    status_map = dict(harness.settings.order_status_map)
    del status_map[BackMarketOrderStatus.PAID]
    harness.settings = harness.settings.model_copy(update={"order_status_map": status_map})


def _map_paid(harness: OrdersHarness) -> None:
    status_map = dict(harness.settings.order_status_map) | {BackMarketOrderStatus.PAID: "Pending"}
    harness.settings = harness.settings.model_copy(
        update={"order_status_map": status_map, "version": harness.settings.version + 1}
    )


def _reads_by_id(harness: OrdersHarness) -> list[int]:
    return [order_id for call, order_id in harness.backmarket.calls if call == "get_order"]


def _waiting_unmapped_order(harness: OrdersHarness) -> None:
    """`paid` unmapped from the start; a buyer pays; hours go by with a run every minute or so."""
    _without_paid(harness)
    harness.run()  # the first import: nothing open yet
    harness.clock.advance(60)
    harness.order(1001, 1)
    harness.run()
    assert harness.record(1001).import_state == "not_imported"
    for _ in range(4):
        harness.clock.advance(HOURS)
        harness.run()
    assert harness.wholecell.created == []


def test_an_order_waiting_on_an_unmapped_status_comes_in_at_the_run_after_the_mapping(
    harness: OrdersHarness,
) -> None:
    _waiting_unmapped_order(harness)
    assert _reads_by_id(harness) == []  # nothing re-read while the settings stay the same

    _map_paid(harness)  # four hours after the order: far beyond the 10-minute overlap
    harness.clock.advance(60)
    run = harness.run()

    [request] = harness.wholecell.created
    assert request.external_id == "1001" and request.status == "Pending"
    assert run.counts["rechecked"] == 1 and run.counts["imported"] == 1
    assert "1 orders waiting on the settings looked at again" in run.progress
    record = harness.record(1001)
    assert record.import_state == "imported" and record.not_imported_since is None
    assert harness.orders.list_not_imported("uk") == []

    # Done once: the following runs do not read it again.
    harness.clock.advance(60)
    harness.run()
    assert _reads_by_id(harness) == [1001] and len(harness.wholecell.created) == 1


def test_the_order_is_imported_in_the_state_back_market_shows_now(harness: OrdersHarness) -> None:
    _waiting_unmapped_order(harness)
    # Validated on Back Market without the order showing up in the incremental read (its
    # modification date is older than the overlap window): the re-check reads it by id.
    harness.backmarket.orders[1001].state = 3
    harness.backmarket.orders[1001].orderlines[0].state = 2
    _map_paid(harness)
    harness.clock.advance(60)
    harness.run()
    [request] = harness.wholecell.created
    assert request.status == "Processing"


def test_a_setting_unrelated_to_the_import_does_not_re_read_waiting_orders(harness: OrdersHarness) -> None:
    _waiting_unmapped_order(harness)
    harness.settings = harness.settings.model_copy(update={"safety_buffer": 2, "display_name": "Shop"})
    harness.clock.advance(60)
    harness.run()
    assert _reads_by_id(harness) == [] and harness.record(1001).import_state == "not_imported"


def test_a_change_that_leaves_the_order_unmapped_records_nothing_new(harness: OrdersHarness) -> None:
    _waiting_unmapped_order(harness)
    revision = harness.record(1001).revision
    alerts_before = [alert.count for alert in harness.state.alerts()]
    harness.settings = harness.settings.model_copy(
        update={"organization_type": OrganizationType.CHANNEL_NAME}
    )
    harness.clock.advance(60)
    run = harness.run()
    assert run.counts["rechecked"] == 1 and harness.wholecell.created == []
    assert harness.record(1001).revision == revision
    assert [alert.count for alert in harness.state.alerts()] == alerts_before


def test_a_failed_re_read_is_tried_again_at_the_next_run(harness: OrdersHarness) -> None:
    _waiting_unmapped_order(harness)
    _map_paid(harness)
    harness.backmarket.fail_next.append(ServerError("Back Market failed", status=503))
    harness.clock.advance(60)
    harness.run()
    assert harness.wholecell.created == []

    harness.clock.advance(60)
    harness.run()
    [request] = harness.wholecell.created
    assert request.external_id == "1001"


def test_switching_order_import_back_on_looks_again_at_a_waiting_order_now_finished(
    harness: OrdersHarness,
) -> None:
    _waiting_unmapped_order(harness)
    harness.settings = harness.settings.model_copy(update={"order_import_enabled": False})
    harness.run()
    # Shipped by hand meanwhile: not an open order, so the first import would not read it.
    harness.backmarket.orders[1001].state = 9
    harness.backmarket.orders[1001].orderlines[0].state = 3
    harness.clock.advance(2 * HOURS)
    harness.settings = harness.settings.model_copy(update={"order_import_enabled": True})
    harness.run()
    [request] = harness.wholecell.created
    assert request.external_id == "1001" and request.status == "Shipped"


@pytest.mark.parametrize(
    ("change", "affects_import"),
    [
        ({"order_status_map": {"paid": "Pending"}}, True),
        ({"order_import_enabled": True}, True),
        ({"organization_type": "channel_name"}, True),
        ({"product_variations": "choose_specific"}, True),
        ({"safety_buffer": 2}, False),
        ({"order_overlap_minutes": 30}, False),
        ({"carrier_map": {"UPS": "UPS"}}, False),
    ],
)
def test_the_import_fingerprint_follows_the_fields_that_can_let_a_waiting_order_in(
    change: dict[str, object], affects_import: bool
) -> None:
    before = Settings()
    after = Settings.model_validate(before.model_dump(mode="json") | change)
    changed = settings_fingerprint(before, "order_import") != settings_fingerprint(after, "order_import")
    assert changed is affects_import


def test_only_not_imported_orders_are_in_the_waiting_index(aws: None, clock) -> None:
    repo = OrdersRepository()

    def not_imported(record) -> bool:
        record.import_state = "not_imported"
        return True

    def imported(record) -> bool:
        record.import_state = "imported"
        return True

    repo.update("uk", 1, not_imported, writer="order_import", now=clock.now(), create=True)
    clock.advance(60)
    repo.update("uk", 2, not_imported, writer="order_import", now=clock.now(), create=True)
    repo.update("uk", 3, imported, writer="order_import", now=clock.now(), create=True)
    repo.update("other", 4, not_imported, writer="order_import", now=clock.now(), create=True)
    assert repo.list_not_imported("uk") == ["1", "2"]  # longest waiting first

    since = repo.get("uk", 1).not_imported_since  # type: ignore[union-attr]
    clock.advance(60)
    repo.update("uk", 1, not_imported, writer="order_import", now=clock.now())
    assert repo.get("uk", 1).not_imported_since == since  # type: ignore[union-attr]
    repo.update("uk", 1, imported, writer="order_import", now=clock.now())
    assert repo.list_not_imported("uk") == ["2"]


def test_the_doctor_says_a_newly_mapped_order_comes_in_at_the_next_run(harness: OrdersHarness) -> None:
    _waiting_unmapped_order(harness)

    def findings() -> dict[str, doctor.Finding]:
        diagnosis = doctor.diagnose_order(harness.settings, "1001", orders=harness.orders)
        return {finding.question: finding for finding in diagnosis.findings}

    before = findings()
    assert not before["Is the order status mapped?"].ok
    assert before["Is the order status mapped?"].action.startswith("Map it under Order Statuses")

    _map_paid(harness)
    after = findings()
    mapped = after["Is the order status mapped?"]
    assert mapped.ok and "maps to 'Pending'" in mapped.answer
    assert "will be imported at the next order import run" in mapped.answer
    assert "Map it" not in after["Is the order in WholeCell?"].action

    harness.clock.advance(60)
    harness.run()
    assert doctor.diagnose_order(harness.settings, "1001", orders=harness.orders).healthy

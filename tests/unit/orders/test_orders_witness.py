"""order_import: the second witness of an unclear create, waiting for a person's confirmation, and
adopting the orders WholeCell's own integration made (cutover)."""

from __future__ import annotations

import pytest

from bmsync.sync.contract_confirmed import EXTERNAL_ID_LOOKUP, is_confirmed, record_confirmed
from bmsync.sync.order_import import confirm_absent
from bmsync.wholecell.errors import ServerError
from tests.unit.orders.conftest import OrdersHarness


class Crash(Exception):
    """The process dies between WholeCell's write and DynamoDB's."""


def _crash_then_take_over(harness: OrdersHarness) -> None:
    harness.order(1001, 1)
    harness.wholecell.crash_after_create.append(Crash())
    with pytest.raises(Crash):
        harness.run()
    harness.clock.advance(6 * 60)  # past the crashed run's claim


def test_a_crash_is_recovered_by_the_notes_marker_when_the_external_id_is_not_known(
    harness: OrdersHarness,
) -> None:
    harness.wholecell.external_id_unknown = True
    _crash_then_take_over(harness)

    run = harness.run()

    assert run.counts["recovered"] == 1 and "imported" not in run.counts
    [sales_order] = harness.wholecell.orders.values()  # no second order
    assert "bmsync:uk:1001" in (sales_order.notes or "")
    assert harness.record(1001).wholecell_order_id == sales_order.id


def test_with_both_witnesses_blind_the_order_waits_for_a_person_then_is_created(
    harness: OrdersHarness,
) -> None:
    harness.wholecell.external_id_unknown = True
    _crash_then_take_over(harness)
    harness.wholecell.orders.clear()  # the crashed create did not happen after all (nothing to find)

    run = harness.run()

    assert run.counts["needs_confirmation"] == 1 and "imported" not in run.counts
    record = harness.record(1001)
    assert record.import_state == "needs_confirmation"
    assert record.import_status.startswith("may already be in WholeCell")
    [alert] = [a for a in harness.state.alerts() if a.alert_id == "order-may-exist-1001"]
    assert alert.message == "Order 1001 may already be in WholeCell: check and confirm."
    harness.clock.advance(60)
    harness.touch(1001)
    run = harness.run()
    assert run.counts["awaiting_confirmation"] == 1 and not harness.wholecell.orders

    assert confirm_absent(
        orders=harness.orders,
        state=harness.state,
        connection_id="uk",
        order_id="1001",
        now=harness.clock.now(),
    )
    harness.clock.advance(60)
    run = harness.run()  # not touched on Back Market: the confirmation itself brings it back

    assert run.counts["imported"] == 1
    assert len(harness.wholecell.orders) == 1 and harness.record(1001).import_state == "imported"
    assert not [a for a in harness.state.alerts() if a.alert_id == "order-may-exist-1001"]


def test_a_confirmed_external_id_lookup_lets_an_unclear_create_be_made_again(harness: OrdersHarness) -> None:
    record_confirmed(harness.state, EXTERNAL_ID_LOOKUP, by="probe", at=harness.clock.now())
    _crash_then_take_over(harness)
    harness.wholecell.orders.clear()

    run = harness.run()

    assert run.counts["imported"] == 1 and harness.record(1001).import_state == "imported"


def test_the_first_create_found_again_by_external_id_confirms_the_lookup(harness: OrdersHarness) -> None:
    harness.order(1001, 1)
    assert not is_confirmed(harness.state, EXTERNAL_ID_LOOKUP)
    harness.run()
    assert is_confirmed(harness.state, EXTERNAL_ID_LOOKUP)


def test_an_order_wholecells_integration_made_is_adopted_not_created(harness: OrdersHarness) -> None:
    harness.clock.advance(-3 * 3600)
    by_id = harness.wholecell.add_foreign_order("1001")
    in_notes = harness.wholecell.add_foreign_order(None, notes="BackMarket order #1002 (imported)")
    harness.clock.advance(3 * 3600)
    harness.order(1001, 1, minutes_ago=200)
    harness.order(1002, 3, minutes_ago=200)

    run = harness.run()

    assert run.counts["adopted"] == 2 and "imported" not in run.counts
    assert not harness.wholecell.created
    for order_id, sales_order in ((1001, by_id), (1002, in_notes)):
        record = harness.record(order_id)
        assert record.import_state == "imported" and record.adopted
        assert record.wholecell_order_id == sales_order.id
        assert record.import_status.startswith("adopted from WholeCell's own integration")
    # Made more than an hour ago: nothing says another integration is still at work.
    assert not [a for a in harness.state.alerts() if a.alert_id == "other-integration-importing"]


def test_another_integration_still_importing_raises_the_alert(harness: OrdersHarness) -> None:
    harness.order(1001, 1)
    harness.run()
    harness.clock.advance(60)
    harness.wholecell.add_foreign_order("1002")  # WholeCell's integration, still switched on
    harness.order(1002, 1)

    run = harness.run()

    assert run.counts["adopted"] == 1 and len(harness.wholecell.created) == 1
    [alert] = [a for a in harness.state.alerts() if a.alert_id == "other-integration-importing"]
    assert alert.message.startswith(
        "Another integration is still importing Back Market orders into WholeCell"
    )
    assert alert.severity == "critical"


def _still_importing(harness: OrdersHarness) -> bool:
    return any(a.alert_id == "other-integration-importing" for a in harness.state.alerts())


def test_a_duplicate_the_other_integration_makes_later_is_seen_without_a_new_order(
    harness: OrdersHarness,
) -> None:
    harness.order(1001, 1)
    harness.run()  # bmsync first
    harness.wholecell.add_foreign_order("1001")  # then WholeCell's integration: a duplicate
    harness.clock.advance(60)
    harness.run()  # checked at the first run: not due yet
    assert not _still_importing(harness)

    harness.clock.advance(15 * 60)
    harness.run()

    assert _still_importing(harness)


def test_the_warning_clears_by_itself_once_the_other_integration_stopped(harness: OrdersHarness) -> None:
    harness.order(1001, 1)
    harness.run()
    harness.clock.advance(60)
    harness.wholecell.add_foreign_order("1002")
    harness.order(1002, 1)
    harness.run()
    assert _still_importing(harness)
    harness.clock.advance(30 * 60)
    harness.run()  # looked at every run while it is up: still within the hour
    assert _still_importing(harness)

    harness.clock.advance(31 * 60)
    harness.run()

    assert not _still_importing(harness)


def test_a_failure_before_the_create_was_sent_leaves_nothing_to_confirm(
    harness: OrdersHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def answers_500(name: str) -> None:
        raise ServerError("WholeCell answered 500", status=500)

    harness.order(1001, 1)
    monkeypatch.setattr(harness.wholecell, "find_or_create_customer", answers_500)
    run = harness.run()
    assert run.counts["failed"] == 1 and not harness.wholecell.created
    assert harness.record(1001).import_state == "not_imported"
    monkeypatch.undo()
    harness.clock.advance(60)

    run = harness.run()

    assert run.counts["imported"] == 1 and "needs_confirmation" not in run.counts
    assert len(harness.wholecell.orders) == 1 and harness.record(1001).import_state == "imported"

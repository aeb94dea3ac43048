"""The simulator's traffic model, stock reading and fault injection, on the emulators' Python APIs."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from bmsync.clock import ManualClock
from bmsync.store import dynamo
from bmsync.store.tables import ALL_TABLES
from bmsync_sandbox.backmarket.server import BackMarketSandbox
from bmsync_sandbox.simulator.faults import (
    OVERLAP_WITHIN_CALLS,
    PROFILES,
    TIMEOUT_KILL_WITHIN_CALLS,
    ChaoticStreams,
    FaultProfile,
    SimulatedCrash,
    SimulatedTimeout,
    StoreFaults,
)
from bmsync_sandbox.simulator.options import FAULT_LEVELS
from bmsync_sandbox.simulator.stock import WholeCellStock
from bmsync_sandbox.simulator.traffic import Traffic, TrafficRates, add_catalogue
from bmsync_sandbox.wholecell.server import WholeCellSandbox


class Recorder:
    """Observer and seller portal in one: what the traffic told it, in order."""

    def __init__(self, backmarket: BackMarketSandbox) -> None:
        self.backmarket = backmarket
        self.heard: list[tuple[str, Any]] = []

    def stock_changed(self, sku: str | None, at: Any) -> None:
        self.heard.append(("stock", sku))

    def buyer_ordered(self, order: dict[str, Any], at: Any) -> None:
        self.heard.append(("order", order["orderlines"][0]["listing"]))

    def shipped(self, wholecell_order: dict[str, Any], at: Any) -> None:
        self.heard.append(("shipped", wholecell_order["id"]))

    def accept(self, order_id: int, sku: str) -> None:
        self.heard.append(("validated", order_id))


def _a_day(seed: int) -> tuple[list[tuple[str, Any]], dict[str, int], WholeCellSandbox]:
    clock = ManualClock()
    backmarket = BackMarketSandbox(clock=clock, demo=True)
    wholecell = WholeCellSandbox(clock=clock, demo=True)
    rng = random.Random(seed)
    add_catalogue(backmarket, wholecell, rng, extra_skus=6)
    recorder = Recorder(backmarket)
    rates = TrafficRates(buyer_orders=12, units_received=8, other_channel_orders=4, shipments=6)
    traffic = Traffic(
        backmarket=backmarket,
        wholecell=wholecell,
        portal=recorder,
        observer=recorder,
        rng=rng,
        start=clock.now(),
        rates=rates,
    )
    end = clock.now() + timedelta(hours=12)
    while clock.now() < end:
        traffic.run_due(clock.now() + timedelta(minutes=1), clock)
        clock.set(clock.now() + timedelta(minutes=1))
    return recorder.heard, traffic.counts, wholecell


def test_the_same_seed_gives_the_same_day_and_another_seed_another() -> None:
    first, counts, _ = _a_day(5)
    again, counts_again, _ = _a_day(5)
    other, _, _ = _a_day(6)
    assert first == again and counts == counts_again
    assert first != other
    # A refurbisher's day: buyers order, units arrive, other channels sell, people validate.
    assert counts["buyer_order"] >= 50 and counts["receive"] >= 50 and counts["other_channel_order"] >= 20
    assert counts["validate"] > 0  # shipping needs bmsync to have imported orders: the chaos run covers it


def test_gradings_started_before_the_traffic_stops_still_happen_and_mark_the_last_action() -> None:
    """The settle counts from the traffic's last action: a unit graded after the stop is stock the
    system must still push, so the last action is that grading, not the stop."""
    clock = ManualClock()
    backmarket = BackMarketSandbox(clock=clock, demo=True)
    wholecell = WholeCellSandbox(clock=clock, demo=True)
    recorder = Recorder(backmarket)
    rates = TrafficRates(
        buyer_orders=0,
        units_received=30,
        other_channel_orders=0,
        shipments=0,
        hand_status_changes=0,
        bursts_per_day=0,
        graded_share=1.0,
        grading_minutes=(20.0, 40.0),
    )
    traffic = Traffic(
        backmarket=backmarket,
        wholecell=wholecell,
        portal=recorder,
        observer=recorder,
        rng=random.Random(2),
        start=clock.now(),
        rates=rates,
    )
    already_grading = {unit.id for unit in wholecell.account.units.values() if unit.status == "Grading"}
    stopped_at = clock.now() + timedelta(minutes=30)
    traffic.run_due(stopped_at, clock)
    traffic.stop()
    assert traffic.pending_people_actions()
    while traffic.pending_people_actions():
        traffic.run_due(clock.now() + timedelta(minutes=1), clock)
        clock.set(clock.now() + timedelta(minutes=1))
    assert traffic.counts["graded"] > 0
    still_grading = {unit.id for unit in wholecell.account.units.values() if unit.status == "Grading"}
    assert still_grading == already_grading  # the demo's own units in grading are nobody's action
    assert traffic.last_action_at > stopped_at
    assert ("stock", None) not in recorder.heard


def test_the_one_pass_stock_equals_wholecells_own_rule_for_every_variation() -> None:
    _, _, wholecell = _a_day(3)
    calculated = WholeCellStock(wholecell.account).calculated()
    assert calculated == {
        variation["id"]: wholecell.calculated_quantity(variation["id"])
        for variation in wholecell.variations()
    }
    assert any(value != 0 for value in calculated.values())


def test_fault_levels_on_the_command_line_are_the_profiles() -> None:
    assert set(FAULT_LEVELS) == set(PROFILES)
    assert PROFILES["none"].backmarket_rules() == []
    assert {rule["mode"] for rule in PROFILES["heavy"].backmarket_rules()} >= {
        "html_429",
        "html_403",
        "timeout",
    }


@pytest.mark.usefixtures("aws")
def test_store_faults_throttle_and_crash_only_inside_a_handler() -> None:
    table = dynamo.table(ALL_TABLES[0])
    clock = ManualClock()
    faults = StoreFaults(FaultProfile("test", dynamodb_throttle=1.0), random.Random(1), clock)
    faults.install()
    table.get_item(Key={name: "x" for name in _key_names(table)})  # disarmed: untouched
    faults.start_run(60)
    with pytest.raises(Exception, match="ProvisionedThroughputExceeded"):
        table.get_item(Key={name: "x" for name in _key_names(table)})
    assert faults.end_run() == 1

    crashing = StoreFaults(FaultProfile("test", crash_after_write=1.0), random.Random(1), clock)
    crashing.install()
    crashing.start_run(60)
    item = {name: "x" for name in _key_names(table)}
    table.put_item(Item=item)  # the first write lands...
    with pytest.raises(SimulatedCrash):
        try:
            table.put_item(Item=item)  # ...the process dies before the second
        except Exception:  # a handler's own error handling cannot catch a crash
            pytest.fail("a crash must not be catchable as an Exception")
    crashing.end_run()
    assert crashing.crashes == 1 and faults.throttled == 1


@pytest.mark.usefixtures("aws")
def test_a_run_past_its_timeout_or_drawn_to_is_killed_mid_way() -> None:
    table = dynamo.table(ALL_TABLES[0])
    key = {name: "x" for name in _key_names(table)}
    clock = ManualClock()
    faults = StoreFaults(FaultProfile("test"), random.Random(1), clock)
    faults.install()
    faults.start_run(60)
    table.get_item(Key=key)
    clock.advance(61)  # e.g. a long rate-limit wait: Lambda stops the function at its timeout
    with pytest.raises(SimulatedTimeout):
        try:
            table.get_item(Key=key)
        except Exception:
            pytest.fail("a timeout must not be catchable as an Exception")
    assert faults.end_run() == 1 and faults.timeouts == 1

    drawn = StoreFaults(FaultProfile("test", killed_at_timeout=1.0), random.Random(1), clock)
    drawn.install()
    drawn.start_run(60)
    with pytest.raises(SimulatedTimeout):
        for _ in range(TIMEOUT_KILL_WITHIN_CALLS):
            table.get_item(Key=key)
    drawn.end_run()


@pytest.mark.usefixtures("aws")
def test_a_second_container_runs_while_the_first_is_mid_way() -> None:
    table = dynamo.table(ALL_TABLES[0])
    key = {name: "x" for name in _key_names(table)}
    faults = StoreFaults(FaultProfile("test"), random.Random(1), ManualClock())
    faults.install()
    order: list[str] = []

    def second_container() -> None:
        faults.start_run(60)
        order.append("second starts")
        table.get_item(Key=key)
        faults.end_run()
        order.append("second ends")

    faults.start_run(60, second_container=second_container)
    for number in range(OVERLAP_WITHIN_CALLS + 1):
        order.append(f"first call {number}")
        table.get_item(Key=key)
    faults.end_run()
    started = order.index("second starts")
    # The second ran between two store calls of the first, which then went on.
    assert started > 0 and order[started + 1] == "second ends" and order[-1].startswith("first call")
    assert faults.overlapping_containers == 1 and not faults.armed


def _key_names(table: Any) -> list[str]:
    return [key["AttributeName"] for key in table.key_schema]


class _Pages:
    def __init__(self, pages: list[list[dict[str, Any]]]) -> None:
        self.pages = pages

    def get_records(self, **kwargs: Any) -> dict[str, Any]:
        return {"Records": self.pages.pop(0) if self.pages else []}


def _record(key: str, sequence: int) -> dict[str, Any]:
    return {"dynamodb": {"Keys": {"id": {"S": key}}, "SequenceNumber": str(sequence)}}


def test_chaotic_streams_deliver_copies_later_and_swap_records_of_different_items() -> None:
    pages = [[_record("a", 1), _record("b", 2)], [_record("c", 3)]]
    profile = FaultProfile("test", stream_duplicate=1.0, stream_reorder=1.0)
    streams = ChaoticStreams(_Pages(pages), profile, random.Random(2))
    first = streams.get_records()["Records"]
    second = streams.get_records()["Records"]
    assert [r["dynamodb"]["SequenceNumber"] for r in first] == ["2", "1"]  # swapped
    assert sorted(r["dynamodb"]["SequenceNumber"] for r in second) == ["1", "2", "3"]  # copies, later
    assert streams.duplicated == 2 and streams.reordered >= 1
    streams.flush()
    assert streams.get_records()["Records"] == []

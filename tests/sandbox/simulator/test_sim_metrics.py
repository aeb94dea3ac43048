"""The simulator's yardsticks: percentiles, latencies, oversell exposure, API use and the invariants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bmsync_sandbox.simulator.metrics import (
    NO_CAUSE,
    ApiUse,
    Exposure,
    Incident,
    Latency,
    check_orders,
    check_quantities,
    check_shipments,
    explain_tail,
    percentile,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.95) == 95
    assert percentile([7.0], 0.95) == 7
    assert percentile([], 0.5) is None


def test_latency_counts_from_the_earliest_cause_and_keeps_unfinished_apart() -> None:
    latency = Latency("x")
    latency.start("sku", T0)
    latency.start("sku", T0 + timedelta(seconds=30))  # a second change before the first took effect
    latency.start("other", T0)
    latency.finish("sku", T0 + timedelta(seconds=50))
    latency.finish("never-started", T0)
    summary = latency.summary()
    assert latency.done == [50.0]
    assert summary["count"] == 1 and summary["unfinished"] == 1 and summary["max_s"] == 50.0


def test_exposure_integrates_units_over_time_and_counts_orders_for_missing_units() -> None:
    exposure = Exposure()
    exposure.sample({"A": 3, "B": 1, "C": 0}, {"A": 1, "B": 2, "C": -1}, 1800)  # A: 2 units too many
    exposure.sample({"A": 1}, {"A": 1}, 3600)
    exposure.sample({"B": 1}, {"B": -2}, 3600)  # WholeCell short: only what Back Market offers counts
    assert exposure.unit_hours == 2.0 and exposure.worst_units == 2
    assert exposure.worst_skus() == {"A": 1.0, "B": 1.0}
    assert exposure.order_placed(1, 1) == 0
    assert exposure.order_placed(2, 1) == 1
    assert exposure.order_placed(1, -3) == 1  # WholeCell already short: the unit did not exist
    assert exposure.forced_cancellations == 2


def test_api_use_separates_injected_faults_from_real_429s_and_finds_the_busiest_window() -> None:
    api = ApiUse()
    api.record([{"status": 200}, {"status": 429}, {"status": 429, "fault": "html_429"}], hour=0)
    api.record([{"status": 200}], hour=1)
    api.window([0.0, 1.0, 2.0, 9.9, 10.0, 30.0], window_seconds=10)
    summary = api.summary(hours=2, requests_per_window=4)
    assert summary["calls"] == 4 and summary["calls_per_hour"] == 2.0
    assert summary["throttled_429"] == 1 and summary["injected_fault_responses"] == 1
    assert api.peak_window_calls == 4 and summary["peak_budget_share"] == 1.0


def test_orders_must_exist_exactly_once() -> None:
    duplicates, missing = check_orders([1, 2, 3], ["1", "2", "2", "9"])
    assert duplicates == ["2"] and missing == ["3"]


def test_a_shipment_is_lost_only_when_the_order_was_validated() -> None:
    shipped = {"1": "T1", "2": "T2", "3": "T3", "4": "T4"}
    backmarket = {
        "1": {"state": 9, "tracking_number": "T1"},
        "2": {"state": 3, "tracking_number": ""},
        "3": {"state": 1, "tracking_number": ""},  # still waiting for validation: not lost
        "4": {"state": 9, "tracking_number": "", "cancelled": True},
    }
    assert check_shipments(shipped, backmarket) == ["2 (tracking T2 not on Back Market)"]


def test_quantities_must_match_for_every_connected_listing() -> None:
    assert check_quantities({"A": 2, "B": 0, "X": 5}, {"A": 2, "B": 1}) == ["B: Back Market 0, computed 1"]


def _tail_case() -> tuple[Latency, list[Incident]]:
    """Forty SKUs synced in 30 s, and four slow ones: one under a crashed run's lease, one while the
    token was revoked (a WholeCell fault overlapping it too), one deferred by bmsync, one unexplained."""
    latency = Latency("stock")
    for index in range(40):
        latency.start(f"fast-{index}", T0)
        latency.finish(f"fast-{index}", T0 + timedelta(seconds=30), ("quantity_sync",))
    latency.start("crashed", T0)
    latency.finish("crashed", T0 + timedelta(seconds=200))
    latency.start("revoked", T0 + timedelta(hours=1))
    latency.note_state("revoked", "error: Back Market did not take the quantity: rejected the token")
    latency.finish("revoked", T0 + timedelta(hours=1, seconds=900), ("order_import", "quantity_sync"))
    latency.start("deferred", T0 + timedelta(hours=2))
    latency.note_state("deferred", "deferred: by the SKU-update budget")
    latency.note_state("deferred", "deferred: by the SKU-update budget")  # the same state: once
    latency.finish("deferred", T0 + timedelta(hours=2, seconds=900), ("quantity_sync.drift_check",))
    latency.start("unexplained", T0 + timedelta(hours=3))
    latency.finish("unexplained", T0 + timedelta(hours=3, seconds=100))
    incidents = [
        Incident("crash", T0 + timedelta(seconds=20), T0 + timedelta(seconds=155), "wholecell_watch"),
        Incident("token_rotation", T0 + timedelta(minutes=58), T0 + timedelta(hours=1, minutes=6)),
        Incident("wholecell_fault", T0 + timedelta(hours=1, minutes=2), T0 + timedelta(hours=1, minutes=3)),
        # Another function's crash does not count against this direction.
        Incident("crash", T0 + timedelta(hours=2), T0 + timedelta(hours=2, minutes=3), "order_import"),
        # Over before the unexplained event started.
        Incident(
            "dynamodb_throttle", T0 + timedelta(hours=2, minutes=58), T0 + timedelta(hours=2, minutes=59)
        ),
    ]
    return latency, incidents


def test_the_tail_names_each_slow_event_with_the_incident_that_overlapped_it() -> None:
    latency, incidents = _tail_case()

    tail = explain_tail(latency, incidents, ("wholecell_watch", "quantity_sync"), share=0.1)

    # 44 events: the slowest 10% are five, the four slow ones and one of the fast.
    assert tail["events"] == 5
    assert tail["from_s"] == 30
    slowest = {event["key"]: event for event in tail["slowest"]}
    assert [event["key"] for event in tail["slowest"][:4]] == [
        "revoked",
        "deferred",
        "crashed",
        "unexplained",
    ]
    assert slowest["crashed"]["cause"] == "crash"
    assert slowest["crashed"]["overlapping"] == ["crash (wholecell_watch)"]
    # The token was saved again at 1:06, the listing synced at 1:15: it waited for bmsync after.
    assert slowest["revoked"]["cause"] == "token_rotation, then error"
    assert slowest["revoked"]["waited_after_incidents_s"] == 540
    assert slowest["revoked"]["overlapping"] == ["token_rotation", "wholecell_fault"]
    assert slowest["revoked"]["finished_by"] == ["quantity_sync"]  # order_import is not this direction's
    assert slowest["crashed"]["waited_after_incidents_s"] == 45
    assert slowest["deferred"]["cause"] == "state: deferred: by the SKU-update budget"
    assert slowest["deferred"]["states"] == ["deferred: by the SKU-update budget"]
    assert slowest["deferred"]["finished_by"] == ["quantity_sync.drift_check"]
    assert slowest["unexplained"]["cause"] == NO_CAUSE
    assert tail["by_cause"] == {
        "state: deferred: by the SKU-update budget": 1,
        "token_rotation, then error": 1,
        "crash": 2,  # the fifth, a fast one, ended 10 s into the crashed run's lease
        NO_CAUSE: 1,
    }


def test_the_tail_caps_its_examples_and_is_empty_without_events() -> None:
    latency, incidents = _tail_case()

    tail = explain_tail(latency, incidents, ("quantity_sync",), share=1.0, examples=3)

    assert tail["events"] == 44
    assert len(tail["slowest"]) == 3
    assert sum(tail["by_cause"].values()) == 44
    # The crash was wholecell_watch's: not this direction's when only quantity_sync is named.
    assert "crash" not in tail["by_cause"]
    assert explain_tail(Latency("none"), incidents, ("quantity_sync",))["events"] == 0

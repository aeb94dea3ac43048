"""The short simulation ``make test`` runs: the real system, light faults, a fixed seed; every
invariant must hold. (One simulated day costs ~15 minutes of wall time on this machine, see
docs/simulator.md, so the test simulates one busy hour; ``make chaos`` runs the long ones.)"""

from __future__ import annotations

from pathlib import Path

from sandbox.simulator.simulation import SimulationConfig, simulate
from sandbox.simulator.traffic import TrafficRates

BUSY_HOUR = TrafficRates(
    buyer_orders=20,
    units_received=12,
    other_channel_orders=6,
    shipments=12,
    hand_status_changes=2,
    validation_minutes=(1, 10),
    late_validation_share=0.2,
    late_validation_minutes=(15, 30),
    grading_minutes=(5, 20),
)


def test_one_busy_hour_with_light_faults_breaks_no_invariant(tmp_path: Path) -> None:
    config = SimulationConfig(
        days=1 / 24, seed=20260105, faults="light", extra_skus=10, rates=BUSY_HOUR, settle_minutes=10
    )
    report = simulate(config, work_dir=tmp_path)

    broken = {name: result for name, result in report["invariants"].items() if result["count"]}
    assert not broken, f"invariants broken (replay: bmsync simulate --seed {config.seed}): {broken}"
    assert report["ok"]
    # The run did what a refurbisher's hour does, and bmsync carried it through.
    assert report["traffic"]["buyer_order"] >= 10 and report["traffic"]["validate"] >= 5
    latency = report["latency"]
    assert latency["order_to_wholecell"]["count"] == report["traffic"]["buyer_order"]
    assert latency["order_to_wholecell"]["unfinished"] == 0
    assert latency["shipment_to_backmarket"]["count"] >= 1
    assert report["backmarket_api"]["calls"] > 0
    assert report["handlers"]["quantity_sync"]["stream_records"] > 0
    faults = report["faults"]
    assert faults["dynamodb_throttled"] + faults["crashes_between_writes"] > 0  # the faults did happen
    assert faults["stream_records_duplicated"] > 0 and faults["wholecell_faults"] > 0

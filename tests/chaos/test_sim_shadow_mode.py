"""Shadow mode over a busy stretch of simulated trading: nothing reaches either emulator, and what it
records is what live mode does on the same seed.

The world is stocked so that it never runs out (``stock_per_variation``) and nobody ships or edits
Back Market orders in WholeCell: buyers then order the same things whatever bmsync sends, and the two
runs see the very same traffic. ``bmsync simulate --mode shadow --days 1`` runs a whole day.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bmsync_sandbox.simulator.simulation import SimulationConfig, simulate
from bmsync_sandbox.simulator.traffic import TrafficRates

SEED = 7
BUSY = TrafficRates(
    buyer_orders=30.0,
    units_received=15.0,
    other_channel_orders=9.0,
    shipments=0.0,
    hand_status_changes=0.0,
    bursts_per_day=0.0,
    late_mapping_hours=None,
    # Every validation and grading within minutes: the run ends soon after its traffic, instead of
    # settling for hours of simulated time (the cost of a run is its simulated minutes).
    validation_minutes=(2.0, 10.0),
    late_validation_share=0.0,
    graded_share=0.0,
)


def _run(mode: str, work_dir: Path) -> dict:
    config = SimulationConfig(
        days=20 / (24 * 60),
        seed=SEED,
        faults="none",
        extra_skus=5,
        rates=BUSY,
        mode=mode,
        stock_per_variation=20,
        settle_minutes=8,
    )
    return simulate(config, work_dir=work_dir / mode)


@pytest.mark.timeout(900)  # two runs of about 40 simulated minutes: under a minute alone
def test_shadow_mode_writes_nothing_and_records_what_live_mode_does_on_the_same_seed(tmp_path: Path) -> None:
    shadow = _run("shadow", tmp_path)
    live = _run("live", tmp_path)

    assert shadow["ok"], shadow["invariants"]
    assert shadow["writes"] == {"backmarket": 0, "wholecell": 0}
    # The same traffic reached both, and live mode did write (the call logs see writes).
    assert shadow["traffic"] == live["traffic"]
    assert live["traffic"]["buyer_order"] >= 5 and live["traffic"]["receive"] >= 2
    assert live["ok"], live["invariants"]
    assert live["writes"]["backmarket"] > 0 and live["writes"]["wholecell"] > 0

    would, did = shadow["decisions"], live["decisions"]
    # Every WholeCell order live mode created, with the same items, quantities and unit prices.
    assert would["orders"] and would["orders"] == did["orders"]
    assert would["recorded"]["order"] == len(did["orders"]) and would["recorded"]["quantity"] > 0
    # Every listing's quantity, but for the units of the orders shadow mode only recorded: WholeCell
    # never counted them as outstanding, so it still has them.
    recorded_units: Counter[str] = Counter()
    for items in would["orders"].values():
        for sku, quantity, _price in items:
            recorded_units[sku] += quantity
    assert set(would["quantities"]) == set(did["quantities"])
    for sku, shown in did["quantities"].items():
        assert would["quantities"][sku] == shown + recorded_units[sku], sku

"""``make bench``'s scale phase: a seller's real size, bmsync and periodic-15m side by side.

Three connections (Back Market's EU, US and AP platforms), each with 2,000 listings and ~20,000
WholeCell units, 1,000 Back Market orders a day between them, light faults. Each connection is its
own simulation (its own emulators, store and seed): in AWS each connection runs in its own
invocations (the scheduled runs fan out) and its budgets are its own, so nothing but the bill is
shared between them. What is measured per connection: the invariants, the three latencies, Back
Market calls and 429s, the share of each budget used (Back Market's request window and hourly SKU
updates, WholeCell's requests a second), wall and CPU time; and for bmsync the AWS cost of a month
at that size, from the calls and invocations measured (``infra.cost.measured_estimate``).

``python -m bench.scale --hours 0.5`` runs it alone (``--connections EU`` for one).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bmsync.catalog import FUNCTIONS
from bmsync_sandbox.simulator.simulation import Simulation, SimulationConfig
from bmsync_sandbox.simulator.traffic import TrafficRates
from infra.cost import MINUTES_PER_MONTH, Measured, fixed_lines, markdown, measured_estimate

ROOT = Path(__file__).resolve().parents[1]
PLATFORMS = ("EU", "US", "AP")
LISTINGS = 2_000
#: Units each variation starts with: 2,000 SKUs are ~2,670 variations (a third on two grades), so
#: 3-12 units each (7.5 on average) is ~20,000 units.
UNITS_PER_VARIATION = (3, 12)
ORDERS_PER_DAY = 1_000  # Back Market orders a day, all connections together
#: WholeCell's own limit ("about 2 requests a second"): the connection's setting at this size.
WHOLECELL_REQUESTS_PER_SECOND = 2.0
SECONDS_PER_MONTH = MINUTES_PER_MONTH * 60
#: What an invocation waits for besides its CPU, per call (this machine's emulators answer at once):
#: a DynamoDB round trip in the region, Secrets Manager, and the two APIs over the internet.
ROUND_TRIP_SECONDS = {"dynamodb": 0.008, "secretsmanager": 0.02, "backmarket": 0.25, "wholecell": 0.4}
#: Lambda gives a function one full vCPU at 1,769 MB, proportionally less below: a CPU-second here is
#: that many seconds on a function of ``memory_mb``.
FULL_VCPU_MB = 1769
#: Simulated minutes before the measured window: a new account's first pass (2,000 listings imported,
#: ~20,000 units read at WholeCell's 2 requests a second, every listing's first push) takes about ten;
#: a window that starts inside it measures the first pass, not the account's everyday latency.
WARMUP_MINUTES = 20.0


def rates(connections: int) -> TrafficRates:
    """One connection's share of the traffic: its orders, and units arriving and leaving to match."""
    orders = ORDERS_PER_DAY / 24 / connections
    return TrafficRates(
        buyer_orders=orders,
        units_received=orders * 0.8,  # 1-3 units each: stock grows a little over the day
        other_channel_orders=orders / 3,
        shipments=orders,
        hand_status_changes=0.3,
    )


def config(
    platform: str,
    strategy: str,
    hours: float,
    seed: int,
    connections: int,
    warmup_minutes: float = WARMUP_MINUTES,
) -> SimulationConfig:
    return SimulationConfig(
        days=hours / 24,
        warmup_minutes=warmup_minutes,
        seed=seed + PLATFORMS.index(platform),
        faults="light",
        strategy=strategy,
        extra_skus=LISTINGS,
        units_per_variation=UNITS_PER_VARIATION,
        wholecell_requests_per_second=WHOLECELL_REQUESTS_PER_SECOND,
        rates=rates(connections),
        progress_minutes=15,
    )


class ScaleSimulation(Simulation):
    """A simulation that also reports its size: units in WholeCell, bytes stored in DynamoDB."""

    def _report(self, measured_hours: float) -> dict[str, Any]:
        report = super()._report(measured_hours)
        with self.wholecell.account.lock:
            units = len(self.wholecell.account.units)
        report["size"] = {
            "listings": len(self.listed),
            "wholecell_units": units,
            "stored_bytes": _stored_bytes(),
        }
        return report


def _stored_bytes() -> int:
    """What bmsync's tables hold (moto's item sizes, DynamoDB's rule: names and values)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    from bmsync_sandbox.simulator.simulation import REGION

    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION]
    return sum(item.size() for table in backend.tables.values() for item in table.all_items())


def run(
    hours: float,
    seed: int,
    platforms: tuple[str, ...],
    progress: Callable[[str], None],
    saved: Callable[[dict[str, Any]], None] | None = None,
    warmup_minutes: float = WARMUP_MINUTES,
) -> dict[str, Any]:
    """Each platform's connection, both strategies; ``saved`` gets the results after each run (a
    long phase stopped half-way keeps what it measured)."""
    connections = len(PLATFORMS)
    results: dict[str, Any] = {
        "hours": hours,
        "warmup_minutes": warmup_minutes,
        "connections": list(platforms),
        "listings_per_connection": LISTINGS,
        "orders_per_day": ORDERS_PER_DAY,
        "wholecell_requests_per_second": WHOLECELL_REQUESTS_PER_SECOND,
        "runs": {},
    }
    for platform in platforms:
        for strategy in ("bmsync", "periodic-15m"):
            label = f"scale {platform} {strategy}"
            progress(f"{label}: {LISTINGS:,} listings, ~20,000 units, {hours:g} simulated hours")
            simulation = ScaleSimulation(
                config(platform, strategy, hours, seed, connections, warmup_minutes),
                progress=_labelled(progress, label),
            )
            report = simulation.run()
            progress(
                f"{label}: done in {report['wall_seconds']:.0f} s wall, {report['cpu_seconds']:.0f} CPU-s; "
                f"invariants {'hold' if report['ok'] else 'BROKEN'}"
            )
            results["runs"].setdefault(platform, {})[strategy] = summary(report, hours)
            if saved is not None:
                saved(results)
    results["cost"] = month_cost(results, hours)
    return results


def _labelled(progress: Callable[[str], None], label: str) -> Callable[[str], None]:
    return lambda line: progress(f"{label}: {line}")


def summary(report: dict[str, Any], hours: float) -> dict[str, Any]:
    """What the scale table shows of one run (and the counters its cost comes from)."""
    api = report["backmarket_api"]
    sku_hours = api["sku_updates_by_hour"] or [0]
    wholecell = report["wholecell_api"]
    seconds = hours * 3600
    return {
        "ok": report["ok"],
        "broken": {name: value for name, value in report["invariants"].items() if value["count"]},
        "size": report["size"],
        "oversell": report["oversell"],
        "latency": report["latency"],
        "latency_tail": report["latency_tail"],
        "backmarket_calls": api["calls"],
        "backmarket_calls_per_hour": api["calls_per_hour"],
        "throttled_429": api["throttled_429"],
        "request_window_peak_share": api["peak_budget_share"],
        # Back Market's request window: 200 in any 10 s, so 72,000 an hour.
        "request_window_mean_share": round(api["calls"] / (seconds / 10 * 200), 4) if seconds else None,
        "sku_updates_by_hour": api["sku_updates_by_hour"],
        "sku_budget_busiest_hour_share": round(max(sku_hours) / api["sku_updates_per_hour_budget"], 3),
        "wholecell_calls": wholecell["calls"],
        "wholecell_budget_mean_share": round(
            wholecell["calls"] / (seconds * wholecell["requests_per_second_setting"]), 3
        )
        if seconds
        else None,
        "faults": report["faults"],
        "handlers_during_traffic": report["handlers_during_traffic"],
        "wall_seconds": report["wall_seconds"],
        "cpu_seconds": report["cpu_seconds"],
        "traffic": report["traffic"],
    }


def billed_seconds(name: str, counters: dict[str, float]) -> float:
    """What a function's runs of the window bill: its own CPU (moto's excluded) as Lambda's share of
    a vCPU at its memory, the time it waited (rate limits, retries: simulated seconds), and a round
    trip per call to DynamoDB, Secrets Manager, Back Market and WholeCell."""
    memory = next(spec.memory_mb for spec in FUNCTIONS if spec.name == name)
    own_cpu = max(0.0, counters.get("cpu_seconds", 0) - counters.get("local_aws_cpu_seconds", 0))
    dynamodb = sum(
        value for key, value in counters.items() if key.startswith("dynamodb.") and "_units" not in key
    )
    secrets = sum(value for key, value in counters.items() if key.startswith("secrets-manager."))
    # WholeCell's requests are paced (2 a second): the waits counted in simulated seconds cover
    # their round trips, unless the round trips are longer.
    waits = max(
        counters.get("simulated_seconds", 0),
        counters.get("wholecell_calls", 0) * ROUND_TRIP_SECONDS["wholecell"],
    )
    return (
        own_cpu * max(1.0, FULL_VCPU_MB / memory)
        + waits
        + dynamodb * ROUND_TRIP_SECONDS["dynamodb"]
        + secrets * ROUND_TRIP_SECONDS["secretsmanager"]
        + counters.get("backmarket_calls", 0) * ROUND_TRIP_SECONDS["backmarket"]
    )


def month_cost(results: dict[str, Any], hours: float) -> dict[str, Any]:
    """bmsync's month for all connections: each measured connection's window scaled to 30 days
    (connections not run count as the average of those run)."""
    measured = [runs["bmsync"] for runs in results["runs"].values()]
    scale = SECONDS_PER_MONTH / (hours * 3600) * len(PLATFORMS) / len(measured)
    invocations: dict[str, float] = {}
    seconds: dict[str, float] = {}
    read_units = write_units = secret_reads = 0.0
    for run_summary in measured:
        for name, counters in run_summary["handlers_during_traffic"].items():
            invocations[name] = invocations.get(name, 0) + counters.get("invocations", 0) * scale
            seconds[name] = seconds.get(name, 0) + billed_seconds(name, counters) * scale
            read_units += counters.get("dynamodb.read_units", 0) * scale
            write_units += counters.get("dynamodb.write_units", 0) * scale
            secret_reads += counters.get("secrets-manager.GetSecretValue", 0) * scale
    stored = (
        sum(run_summary["size"]["stored_bytes"] for run_summary in measured) * len(PLATFORMS) / len(measured)
    )
    scheduled = sum(MINUTES_PER_MONTH // minutes for spec in FUNCTIONS for _, minutes in spec.schedules)
    # Each connection's run of a rerunning function's main schedule sends one message.
    rerunning = [spec for spec in FUNCTIONS if spec.rerun_after_seconds is not None and spec.schedule_minutes]
    rerun_messages = sum(MINUTES_PER_MONTH // (spec.schedule_minutes or 1) for spec in rerunning) * len(
        PLATFORMS
    )
    month = Measured(
        connections=len(PLATFORMS),
        invocations=invocations,
        billed_seconds=seconds,
        scheduled_runs=scheduled,
        dynamodb_read_units=read_units,
        dynamodb_write_units=write_units,
        stored_gb=stored / 1e9,
        secret_reads=secret_reads,
        rerun_messages=rerun_messages,
        rerun_queues=len(rerunning),
    )
    lines = measured_estimate(month, fixed_lines())
    return {
        "scale_factor": round(scale, 2),
        "assumptions": {
            "round_trip_seconds": ROUND_TRIP_SECONDS,
            "cpu": f"a CPU-second here = {FULL_VCPU_MB}/memory_mb seconds in Lambda",
            "stored": "what the tables hold at the end of the window (the stock and listings of the "
            "whole catalogue; orders grow by ~1,000 a day, a few KB each)",
        },
        "lines": [dataclasses.asdict(line) for line in lines],
        "usd_per_month": round(sum(line.usd for line in lines), 2),
        "markdown": markdown(lines),
    }


def table(results: dict[str, Any]) -> str:
    """One block per connection: bmsync and periodic-15m side by side; then the month's cost."""
    out = [
        f"scale: {len(results['connections'])} connection(s) of {LISTINGS:,} listings, "
        f"{ORDERS_PER_DAY:,} orders a day between {len(PLATFORMS)}, light faults, "
        f"{results['hours']:g} simulated hours each; "
        f"WholeCell at {WHOLECELL_REQUESTS_PER_SECOND:g} requests/s"
    ]
    for platform, runs in results["runs"].items():
        bmsync, periodic = runs["bmsync"], runs["periodic-15m"]
        rows = [(f"{platform}", "bmsync", "periodic-15m")]
        for label, pick in _ROWS:
            rows.append((label, pick(bmsync), pick(periodic)))
        width = max(len(row[0]) for row in rows) + 2
        out.append("")
        out.extend(f"{row[0]:<{width}}{row[1]:>22}{row[2]:>22}" for row in rows)
    cost = results["cost"]
    out.append("")
    out.append(
        f"bmsync's AWS cost a month at this size (each connection's window x {cost['scale_factor']}): "
        f"${cost['usd_per_month']:.2f}"
    )
    out.extend(f"  {line['service']}: {line['arithmetic']} = ${line['usd']:.2f}" for line in cost["lines"])
    return "\n".join(out)


def _latency(name: str, field: str) -> Any:
    def pick(run: dict[str, Any]) -> str:
        value = run["latency"][name][field]
        return "-" if value is None else f"{value:.0f} s"

    return pick


def _p50_p95(name: str) -> Any:
    def pick(run: dict[str, Any]) -> str:
        latency = run["latency"][name]
        if latency["p50_s"] is None:
            return f"- (n={latency.get('count', 0)})"
        return f"{latency['p50_s']:.0f} / {latency['p95_s']:.0f} s (n={latency.get('count', 0)})"

    return pick


_ROWS: tuple[tuple[str, Any], ...] = (
    ("invariants", lambda run: "hold" if run["ok"] else "BROKEN: " + ", ".join(run["broken"])),
    (
        "listings / WholeCell units",
        lambda run: f"{run['size']['listings']:,} / {run['size']['wholecell_units']:,}",
    ),
    ("oversell exposure (unit-h)", lambda run: f"{run['oversell']['exposure_unit_hours']:.3f}"),
    ("forced cancellations", lambda run: str(run["oversell"]["forced_cancellations"])),
    ("stock -> BM p50 / p95", _p50_p95("stock_to_backmarket")),
    ("order -> WC p50 / p95", _p50_p95("order_to_wholecell")),
    ("  status mapped", _p50_p95("order_to_wholecell_status_mapped")),
    ("  placed before mapping", _p50_p95("order_to_wholecell_placed_before_mapping")),
    ("shipment -> BM p50 / p95", _p50_p95("shipment_to_backmarket")),
    (
        "Back Market calls (/hour)",
        lambda run: f"{run['backmarket_calls']:,} ({run['backmarket_calls_per_hour']})",
    ),
    ("Back Market 429s", lambda run: str(run["throttled_429"])),
    (
        "request window used",
        lambda run: (
            f"{run['request_window_mean_share']:.1%} mean, {run['request_window_peak_share']:.0%} peak"
        ),
    ),
    ("SKU budget, busiest hour", lambda run: f"{run['sku_budget_busiest_hour_share']:.1%}"),
    (
        "WholeCell calls (budget)",
        lambda run: f"{run['wholecell_calls']:,} ({run['wholecell_budget_mean_share']:.0%})",
    ),
    ("wall / CPU", lambda run: f"{run['wall_seconds']:.0f} s / {run['cpu_seconds']:.0f} s"),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hours", type=float, default=1.0, help="simulated hours of traffic per run")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--connections", nargs="+", default=list(PLATFORMS), choices=PLATFORMS)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "scale-results.json")
    parser.add_argument(
        "--warmup-minutes",
        type=float,
        default=WARMUP_MINUTES,
        help="simulated minutes before the measured window (the new account's first pass)",
    )
    args = parser.parse_args(argv)

    def progress(line: str) -> None:
        print(f"bench: {line}", file=sys.stderr, flush=True)

    started = time.perf_counter()

    def saved(partial: dict[str, Any]) -> None:
        args.out.write_text(json.dumps(partial, indent=2, default=str) + "\n")

    results = run(
        args.hours, args.seed, tuple(args.connections), progress, saved, warmup_minutes=args.warmup_minutes
    )
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

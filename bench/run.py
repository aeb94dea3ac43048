"""``make bench`` / ``make bench-quick``: bmsync against periodic-15m on the same traffic, and what
bmsync's own code costs on this machine. One table on stdout, everything in ``bench/results.json``.

Side by side (same seed, same traffic, same faults): oversell exposure, forced cancellations, the
three latencies, Back Market calls per hour. For bmsync alone: stream records per CPU second through
quantity_sync and orders per CPU second through order_import (the handler's thread only, the
sandboxes excluded: the emulators run in other threads, and the CPU spent inside moto, which stands in
for DynamoDB and Secrets Manager, is subtracted; the figure with moto is shown too), each
handler's import time in a fresh interpreter (a cold-start proxy) and the Lambda layer's size.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.metadata
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import scale
from bmsync_sandbox.simulator.metrics import ApiUse
from bmsync_sandbox.simulator.simulation import Simulation, SimulationConfig, simulate
from bmsync_sandbox.simulator.traffic import TrafficRates

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.json"
HANDLERS = ("order_import", "listing_import", "wholecell_watch", "quantity_sync", "shipment_export", "admin")
#: What the layer carries (Makefile ``layer``); boto3 and botocore come with the Lambda runtime.
LAYER_REQUIREMENTS = ("aws-lambda-powertools", "requests", "pydantic")
PROVIDED_BY_LAMBDA = {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six"}
BACKMARKET_REQUESTS_PER_SECOND = 200 / 10  # "about 200 requests per 10 s"
TARGET_FACTOR = 50
#: No traffic of its own: the measurements below make the load they measure.
QUIET = TrafficRates(
    buyer_orders=0,
    units_received=0,
    other_channel_orders=0,
    shipments=0,
    hand_status_changes=0,
    bursts_per_day=0,
    late_mapping_hours=None,  # `paid` mapped from the start: the orders measured are imported at once
)
#: Listings restocked at once for the backlog measurement (more than the ~2,000 SKU updates an hour
#: Back Market allows), and the hours it is watched.
BACKLOG_SKUS = 2400
BACKLOG_HOURS = 2
#: Simulated hours of each run of the scale phase (3 connections x 2 strategies): a whole day at
#: that size is more than this 2-core machine does in a bench (docs/simulator.md has the arithmetic).
SCALE_HOURS = 1.0


def progress(line: str) -> None:
    """Where the benchmark is (on stderr: the table alone goes to stdout)."""
    print(f"bench: {line}", file=sys.stderr, flush=True)


def _labelled(label: str, line: str) -> None:
    progress(f"{label}: {line}")


def compare(days: float, extra_skus: int, seed: int, faults: str, *, quick: bool = False) -> dict[str, Any]:
    rates = TrafficRates(buyer_orders=12, units_received=10, other_channel_orders=4, shipments=10)
    if quick:
        # A validation hours late would keep the half hour settling for two simulated hours of
        # one-minute runs (most of bench-quick's minute): the quick mode has none.
        rates = dataclasses.replace(rates, late_validation_share=0)
    reports = {}
    for strategy in ("bmsync", "periodic-15m"):
        progress(f"{strategy}: {days * 24:g} simulated hours, {faults} faults, seed {seed}")
        config = SimulationConfig(
            days=days, seed=seed, faults=faults, strategy=strategy, extra_skus=extra_skus, rates=rates
        )
        reports[strategy] = simulate(config, progress=functools.partial(_labelled, strategy))
    return reports


def throughput(extra_skus: int, orders: int) -> dict[str, Any]:
    """Push a burst through the real handlers: every variation restocked at once (-> stock records
    -> quantity_sync), then ``orders`` buyer orders at once (-> one order_import run)."""
    simulation = Simulation(SimulationConfig(days=1, faults="none", extra_skus=extra_skus, rates=QUIET))
    with simulation.running():
        simulation.advance(5)  # listings imported, stock mirrored, quantities pushed
        invoker = simulation.invoker
        for variation in simulation.wholecell.variations():
            simulation.wholecell.receive_units(variation["id"], 1)
        simulation.measuring = True  # from here the simulation records bmsync's Back Market calls
        first_call = len(simulation.call_times)
        before = _handler_counters(invoker, "quantity_sync")
        simulation.advance(2)
        sync = _delta(before, _handler_counters(invoker, "quantity_sync"))
        backlog = _budget_use(simulation.call_times[first_call:], simulation.backmarket.budgets)
        backlog["throttled_429"] = simulation.api.throttled
        skus = sorted(s for s in simulation.listed if int(simulation.backmarket.listing(s)["quantity"]) > 0)
        for index in range(orders):
            simulation.backmarket.create_buyer_order(skus[index % len(skus)])
        before = _handler_counters(invoker, "order_import")
        simulation.advance(1)
        imports = _delta(before, _handler_counters(invoker, "order_import"))
        imported = len(simulation.stock.backmarket_external_ids())
    return {
        "quantity_sync": _rates(sync, sync["records"], "stream records"),
        "order_import": _rates(imports, orders, "orders") | {"orders_in_wholecell": imported},
        "backlog_budget_use": backlog,
        "backmarket_budget_per_second": BACKMARKET_REQUESTS_PER_SECOND,
        "target_per_second": BACKMARKET_REQUESTS_PER_SECOND * TARGET_FACTOR,
    }


def backlog(extra_skus: int, hours: int) -> dict[str, Any]:
    """A backlog bigger than Back Market's SKU-update budget: every listing's quantity goes up at once
    (a delivery restocking the whole catalogue), and the listing writes are counted, hour by hour,
    against Back Market's budget ("about 2,000 SKU lines per hour", the emulator's)."""
    simulation = Simulation(SimulationConfig(days=1, faults="none", extra_skus=extra_skus, rates=QUIET))
    with simulation.running():
        simulation.advance(5)
        backmarket = simulation.backmarket
        listings = len(simulation.listed)
        kept: list[dict[str, Any]] = []
        simulation.kept_calls = kept
        for variation in simulation.wholecell.variations():
            simulation.wholecell.receive_units(variation["id"], 1)
        started = simulation.clock.monotonic()
        for hour in range(hours):
            simulation.advance(60)
            progress(f"backlog: {hour + 1} of {hours} simulated hours")
        budget = backmarket.budgets.sku_updates_per_hour
        writes = [
            call
            for call in kept
            if call["route"] == "POST /ws/listings/{listing_id}" and call.get("status") == 200
        ]
        per_hour = [0] * hours
        for call in writes:
            hour = int((float(call["monotonic"]) - started) // 3600)
            if 0 <= hour < hours:
                per_hour[hour] += 1
        pending = sum(
            1
            for sku in simulation.listed
            if int(backmarket.listing(sku)["quantity"]) != simulation.stock.expected(sku, 0)
        )
    return {
        "listings": listings,
        "backmarket_sku_updates_per_hour": budget,
        "listing_writes_per_hour": per_hour,
        "budget_share_per_hour": [round(count / budget, 3) for count in per_hour],
        "throttled_429": sum(1 for call in kept if call.get("status") == 429),
        "listings_still_behind": pending,
    }


def _budget_use(call_times: list[float], budgets: Any) -> dict[str, Any]:
    """How much of Back Market's request budget the pushes of a backlog used: over the backlog's
    span (first to last call, in whole budget windows) and in its busiest window."""
    times = sorted(call_times)
    if not times:
        return {"calls": 0}
    windows = max(1, math.ceil((times[-1] - times[0]) / budgets.window_seconds))
    api = ApiUse()
    api.window(times, budgets.window_seconds)
    return {
        "calls": len(times),
        "span_seconds": round(times[-1] - times[0], 1),
        "share_over_span": round(len(times) / (windows * budgets.requests_per_window), 3),
        "peak_window_share": round(api.peak_window_calls / budgets.requests_per_window, 3),
    }


def _handler_counters(invoker: Any, name: str) -> dict[str, float]:
    return {
        "cpu": invoker.cpu_seconds[name],
        "local_aws_cpu": invoker.local_aws_cpu_seconds[name],
        "records": invoker.records[name],
        "invocations": invoker.invocations[name],
    }


def _delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before[name] for name in after}


def _rates(counters: dict[str, float], items: float, unit: str) -> dict[str, Any]:
    cpu, local_aws = counters["cpu"], counters["local_aws_cpu"]
    own = cpu - local_aws
    return {
        "unit": unit,
        "items": int(items),
        "invocations": int(counters["invocations"]),
        "cpu_seconds": round(own, 3),
        "local_aws_cpu_seconds": round(local_aws, 3),
        "per_cpu_second": round(items / own, 1) if own > 0 else None,
        "per_cpu_second_with_local_aws": round(items / cpu, 1) if cpu else None,
    }


def import_times(repeats: int) -> dict[str, float]:
    """Milliseconds to load each handler in a fresh interpreter (best of ``repeats``), with the
    variables Lambda sets: the X-Ray SDK reads them at import (in Lambda it samples locally instead of
    building a client for X-Ray's sampling API) and Powertools turns tracing on, patching boto3 and
    requests, as in a real cold start."""
    probe = (
        "import importlib.util, sys, time\n"
        "started = time.perf_counter()\n"
        "spec = importlib.util.spec_from_file_location('handler', sys.argv[1])\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "print((time.perf_counter() - started) * 1000)\n"
    )
    environment = {**os.environ, "POWERTOOLS_SERVICE_NAME": "bmsync", "AWS_DEFAULT_REGION": "eu-west-1"}
    times = {}
    for name in HANDLERS:
        path = ROOT / "functions" / name / "handler.py"
        in_lambda = {
            "LAMBDA_TASK_ROOT": str(path.parent),
            "AWS_LAMBDA_FUNCTION_NAME": f"bmsync-{name}",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            "_HANDLER": "handler.handler",
        }
        best = min(
            float(
                subprocess.run(
                    [sys.executable, "-c", probe, str(path)],
                    capture_output=True,
                    text=True,
                    check=True,
                    env=environment | in_lambda,
                    cwd=ROOT,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            for _ in range(repeats)
        )
        times[name] = round(best, 1)
    return times


def layer_size() -> dict[str, Any]:
    """The unzipped layer: ``build/layer`` when ``make layer`` built it, else the same distributions
    as installed here (this machine's platform wheels; close to Lambda's x86_64 ones)."""
    built = ROOT / "build" / "layer"
    if built.is_dir():
        total = sum(path.stat().st_size for path in built.rglob("*") if path.is_file())
        return {"bytes": total, "megabytes": round(total / 1e6, 2), "source": "build/layer"}
    seen: set[str] = set()
    pending = list(LAYER_REQUIREMENTS)
    total = 0
    while pending:
        name = _normalized(pending.pop())
        if name in seen or name in PROVIDED_BY_LAMBDA:
            continue
        seen.add(name)
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        for file in distribution.files or []:
            located = Path(str(distribution.locate_file(file)))
            if located.is_file() and "__pycache__" not in located.parts:
                total += located.stat().st_size
        for requirement in distribution.requires or []:
            if "extra ==" not in requirement:
                pending.append(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0])
    own = sum(
        path.stat().st_size
        for path in (ROOT / "layer" / "bmsync").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )
    total += own
    return {
        "bytes": total,
        "megabytes": round(total / 1e6, 2),
        "source": "installed distributions + layer/bmsync",
        "distributions": sorted(seen - PROVIDED_BY_LAMBDA),
    }


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _latency(report: dict[str, Any], name: str, field: str) -> str:
    value = report["latency"][name][field]
    return "-" if value is None else f"{value:.0f} s"


def _p50_p95(report: dict[str, Any], name: str) -> str:
    latency = report["latency"].get(name)
    if not latency or latency["p50_s"] is None:
        return "- (n=0)"
    return f"{latency['p50_s']:.0f}/{latency['p95_s']:.0f} s n={latency['count']}"


def table(results: dict[str, Any], out: Path = RESULTS) -> str:
    bmsync, periodic = results["comparison"]["bmsync"], results["comparison"]["periodic-15m"]
    rows: list[tuple[str, ...]] = [("", "bmsync", "periodic-15m")]
    rows.append(
        (
            "oversell exposure (unit-hours)",
            *(str(r["oversell"]["exposure_unit_hours"]) for r in (bmsync, periodic)),
        )
    )
    rows.append(
        ("forced cancellations", *(str(r["oversell"]["forced_cancellations"]) for r in (bmsync, periodic)))
    )
    for name, label in (
        ("stock_to_backmarket", "stock change -> Back Market"),
        ("order_to_wholecell", "order -> WholeCell"),
        ("shipment_to_backmarket", "shipment -> Back Market"),
    ):
        for field in ("p50_s", "p95_s", "max_s"):
            rows.append((f"{label} {field[:-2]}", *(_latency(r, name, field) for r in (bmsync, periodic))))
    for name, label in (
        ("order_to_wholecell_status_mapped", "order -> WC, `paid` mapped"),
        ("order_to_wholecell_placed_before_mapping", "order -> WC, placed before mapping"),
    ):
        rows.append((f"{label} p50/p95", *(_p50_p95(r, name) for r in (bmsync, periodic))))
    rows.append(
        (
            "Back Market calls per hour",
            *(str(r["backmarket_api"]["calls_per_hour"]) for r in (bmsync, periodic)),
        )
    )
    rows.append(("429s received", *(str(r["backmarket_api"]["throttled_429"]) for r in (bmsync, periodic))))
    rows.append(("invariants", *("hold" if r["ok"] else "BROKEN" for r in (bmsync, periodic))))
    width = max(len(row[0]) for row in rows) + 2
    lines = [f"{row[0]:<{width}}{row[1]:>14}{row[2]:>16}" for row in rows]
    speed = results["throughput"]
    lines.append("")
    lines.append(
        f"bmsync on this machine (Back Market's budget: {speed['backmarket_budget_per_second']:.0f} "
        f"requests/s; target {speed['target_per_second']:.0f}/s of handler CPU)"
    )
    for name in ("quantity_sync", "order_import"):
        measured = speed[name]
        lines.append(
            f"  {name:<16} {measured['per_cpu_second']} {measured['unit']}/CPU-s "
            f"({measured['per_cpu_second_with_local_aws']} with moto's own CPU), "
            f"{measured['items']} in {measured['cpu_seconds']} CPU-s"
        )
    burst = speed["backlog_budget_use"]
    if burst.get("calls"):
        lines.append(
            f"  burst            {burst['calls']} Back Market calls over {burst['span_seconds']} s: "
            f"{burst['share_over_span']:.0%} of the request budget (busiest window "
            f"{burst['peak_window_share']:.0%}), 429s {burst['throttled_429']}"
        )
    if results.get("backlog"):
        backlog_run = results["backlog"]
        shares = ", ".join(f"{share:.0%}" for share in backlog_run["budget_share_per_hour"])
        lines.append(
            f"  backlog of {backlog_run['listings']} listings raised at once: listing writes per hour "
            f"{backlog_run['listing_writes_per_hour']} = {shares} of Back Market's "
            f"{backlog_run['backmarket_sku_updates_per_hour']} SKU updates an hour; "
            f"429s {backlog_run['throttled_429']}; listings still behind at the end: "
            f"{backlog_run['listings_still_behind']}"
        )
    lines.append("  import time (ms)  " + ", ".join(f"{k} {v}" for k, v in results["import_ms"].items()))
    layer = results["layer"]
    lines.append(f"  layer size       {layer['megabytes']} MB unzipped ({layer['source']})")
    lines.append(
        f"  (run: {results['wall_seconds']} s wall, {results['cpu_seconds']} CPU-s of this process; "
        f"details in {out})"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small traffic: under a minute")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--faults", default="light", choices=("none", "light", "heavy"))
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON results go")
    parser.add_argument(
        "--scale-hours",
        type=float,
        default=SCALE_HOURS,
        help="simulated hours of each run of the scale phase (full mode; 0: no scale phase)",
    )
    parser.add_argument(
        "--scale-connections",
        nargs="+",
        default=list(scale.PLATFORMS),
        choices=scale.PLATFORMS,
        help="the connections the scale phase runs (the others are counted as their average)",
    )
    args = parser.parse_args(argv)
    started, cpu_started = time.perf_counter(), time.process_time()
    days, skus, orders, repeats = (0.5 / 24, 5, 20, 1) if args.quick else (1.0, 80, 200, 3)
    results: dict[str, Any] = {"quick": args.quick}

    def phase_done() -> None:
        """Each phase's results are written as soon as it ends: a long run stopped half-way keeps them."""
        results["wall_seconds"] = round(time.perf_counter() - started, 1)
        results["cpu_seconds"] = round(time.process_time() - cpu_started, 1)
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")

    results["comparison"] = compare(days, skus, args.seed, args.faults, quick=args.quick)
    phase_done()
    progress(f"throughput: every listing restocked at once, then {orders} orders at once")
    results["throughput"] = throughput(skus if args.quick else 200, orders)
    # A backlog beyond the hourly budget needs more listings than the budget: full mode only.
    if not args.quick:
        progress(f"backlog: {BACKLOG_SKUS} listings raised at once, watched {BACKLOG_HOURS} simulated hours")
    results["backlog"] = None if args.quick else backlog(BACKLOG_SKUS, BACKLOG_HOURS)
    phase_done()
    progress(f"import times: each handler in a fresh interpreter, best of {repeats}")
    results["import_ms"] = import_times(repeats)
    results["layer"] = layer_size()
    phase_done()
    if not args.quick and args.scale_hours > 0:
        progress(
            f"scale: {', '.join(args.scale_connections)}, {args.scale_hours:g} simulated hours each, "
            "bmsync then periodic-15m"
        )

        def scale_saved(partial: dict[str, Any]) -> None:
            results["scale"] = partial
            phase_done()

        results["scale"] = scale.run(
            args.scale_hours, args.seed, tuple(args.scale_connections), progress, scale_saved
        )
    phase_done()
    print(table(results, args.out))
    if results.get("scale"):
        print()
        print(scale.table(results["scale"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

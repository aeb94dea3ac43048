"""The simulation's report in words (the JSON is the ``simulate`` result itself), and the CLI."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from bmsync_sandbox.simulator.simulation import SimulationConfig, simulate


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} s"


def render(report: dict[str, Any]) -> str:
    config = report["config"]
    lines = [
        f"bmsync simulate: {config['days']} day(s), seed {config['seed']}, faults {config['faults']}, "
        f"strategy {config['strategy']}, mode {config['mode']}, {config['listings']} listings "
        f"({config['started_at']} -> {config['ended_at']} simulated, {report['wall_seconds']} s wall)",
        "",
        "invariants" + ("  ALL HOLD" if report["ok"] else "  BROKEN"),
    ]
    for name, result in report["invariants"].items():
        mark = "ok " if not result["count"] else "BROKEN"
        examples = f"  e.g. {'; '.join(result['examples'][:3])}" if result["count"] else ""
        lines.append(f"  {mark:<6} {name.replace('_', ' ')}: {result['count']}{examples}")
    for detail in report["unhandled_exception_details"][:1]:
        lines.append(f"  first unhandled exception, at {detail['at']} simulated ({detail['function']}):")
        lines += [f"    {line}" for line in detail["stack"]]
    oversell = report["oversell"]
    lines += [
        "",
        f"oversell exposure   {oversell['exposure_unit_hours']} unit-hours "
        f"(worst moment: {oversell['worst_oversold_units']} unit(s) offered beyond stock)",
        f"forced cancellations {oversell['forced_cancellations']} (orders for units that did not exist; "
        f"not counted: {oversell['units_ordered_on_unmapped_listings']} unit(s) ordered on listings "
        "whose SKU no WholeCell variation has)",
        "",
        "latency (simulated)          count   p50      p95      max      unfinished",
    ]
    for name, summary in report["latency"].items():
        lines.append(
            f"  {name.replace('_', ' '):<26} {summary['count']:<7} {_seconds(summary['p50_s']):<8} "
            f"{_seconds(summary['p95_s']):<8} {_seconds(summary['max_s']):<8} {summary['unfinished']}"
        )
    lines += _tail_lines(report.get("latency_tail", {}))
    api = report["backmarket_api"]
    lines += [
        "",
        f"Back Market API     {api['calls']} calls, {api['calls_per_hour']} per hour "
        f"(busiest hour {api['busiest_hour_calls']}), 429s received {api['throttled_429']}, "
        f"injected faults {api['injected_fault_responses']}, peak share of the 10 s budget "
        f"{api['peak_budget_share']:.0%}",
        "faults injected     "
        + ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in report["faults"].items()),
        "traffic             " + ", ".join(f"{name} {count}" for name, count in report["traffic"].items()),
        f"writes sent        Back Market {report['writes']['backmarket']}, "
        f"WholeCell {report['writes']['wholecell']}",
    ]
    recorded = report["decisions"].get("recorded")
    if recorded is not None:
        lines.append(
            "shadow mode recorded "
            + ", ".join(f"{kind.replace('_', ' ')} {count}" for kind, count in recorded.items())
        )
    return "\n".join(lines)


def _tail_lines(tails: dict[str, Any]) -> list[str]:
    """Each direction's slowest events, the causes they are attributed to, and a few of them."""
    lines: list[str] = []
    for name, tail in tails.items():
        if not tail["events"]:
            continue
        causes = ", ".join(f"{cause} {count}" for cause, count in tail["by_cause"].items())
        lines += [
            "",
            f"slowest {tail['share']:.0%} of {name.replace('_', ' ')}: {tail['events']} event(s) of "
            f"{_seconds(tail['from_s'])} or more; causes: {causes}",
        ]
        for event in tail["slowest"]:
            detail = "; ".join(
                part
                for part in (
                    "overlapped " + ", ".join(event["overlapping"]) if event["overlapping"] else "",
                    "bmsync said " + " -> ".join(event["states"]) if event["states"] else "",
                    "done by " + ", ".join(event["finished_by"]) if event["finished_by"] else "",
                )
                if part
            )
            lines.append(
                f"  {_seconds(event['seconds']):>8}  {event['key']:<14} {event['cause']:<20} {detail}"
            )
    return lines


def _progress_to(stream: TextIO) -> Callable[[str], None]:
    """Progress lines go to the terminal the command started with (the functions' logs go to a file)."""

    def show(line: str) -> None:
        stream.write(line + "\n")
        stream.flush()

    return show


def run_simulate(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run one simulation per seed; exit status 1 when any invariant is broken."""
    stream = out or sys.stdout
    reports = []
    for seed in args.seed:
        config = SimulationConfig(
            days=args.days,
            seed=seed,
            faults=args.faults,
            strategy=args.strategy,
            extra_skus=args.extra_skus,
            mode=args.mode,
        )
        report = simulate(config, progress=_progress_to(sys.stderr))
        reports.append(report)
        stream.write(render(report) + "\n\n")
        stream.flush()
    if args.json is not None:
        args.json.write_text(json.dumps(reports if len(reports) > 1 else reports[0], indent=2) + "\n")
    broken = [report["config"]["seed"] for report in reports if not report["ok"]]
    if broken:
        stream.write(f"invariants broken for seed(s) {', '.join(map(str, broken))}: replay with --seed\n")
        return 1
    return 0

"""The ``bmsync simulate`` options, importable without loading the simulation (the CLI stays fast)."""

from __future__ import annotations

import argparse
from pathlib import Path

STRATEGIES = ("bmsync", "periodic-15m")
FAULT_LEVELS = ("none", "light", "heavy")
MODES = ("live", "shadow")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=float, default=1.0, help="simulated days of traffic (0.25 = 6 h)")
    parser.add_argument("--seed", type=int, nargs="+", default=[1], help="one or more seeds")
    parser.add_argument("--faults", choices=FAULT_LEVELS, default="light")
    parser.add_argument("--strategy", choices=STRATEGIES, default="bmsync")
    parser.add_argument(
        "--mode", choices=MODES, default="live", help="shadow: record what bmsync would write, write nothing"
    )
    parser.add_argument("--extra-skus", type=int, default=20, help="SKUs added to the demo catalogue")
    parser.add_argument("--json", type=Path, default=None, help="also write the report(s) here")

"""The harness's commands of ``bmsync`` (``up``, ``sandbox``, ``simulate``), added by the product CLI.

``bmsync.cli`` calls :func:`register` when this package is installed (a clone with its dev extras); the
Lambda layer and a product-only install have the ``admin`` commands alone.
"""

from __future__ import annotations

import argparse

from bmsync_sandbox.simulator.options import add_arguments as add_simulate_arguments


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``up``, ``sandbox`` and ``simulate``; each sets ``run``, the function that carries it out."""
    up = commands.add_parser("up", help="run the whole system on the local sandbox, with demo data")
    up.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    up.add_argument("--moto-port", type=int, default=5500)
    up.add_argument("--backmarket-port", type=int, default=5501)
    up.add_argument("--wholecell-port", type=int, default=5502)
    up.add_argument("--admin-port", type=int, default=5503)
    up.add_argument("--state-dir", default=".bmsync", help="where local.json and the dead-letter file go")
    up.add_argument(
        "--no-demo",
        action="store_true",
        help="start with empty accounts and no connection: add your own in the admin",
    )
    up.set_defaults(run=_up)

    emulator = commands.add_parser("sandbox", help="run one API emulator on its own")
    emulator.add_argument("service", choices=["backmarket", "wholecell"])
    emulator.add_argument("--port", type=int, default=0, help="0 picks a free port")
    emulator.add_argument("--no-demo", action="store_true", help="start with an empty account")
    emulator.set_defaults(run=_sandbox)

    simulate = commands.add_parser(
        "simulate", help="days of trading in minutes: a seeded, simulated-clock run and its invariants"
    )
    add_simulate_arguments(simulate)
    simulate.set_defaults(run=_simulate)


# The commands import what they run only when chosen: `bmsync --help` stays fast.
def _up(args: argparse.Namespace) -> int:
    from bmsync_sandbox.runtime.system import run_up

    return run_up(args)


def _sandbox(args: argparse.Namespace) -> int:
    if args.service == "backmarket":
        from bmsync_sandbox.backmarket.server import serve_forever as serve_backmarket

        return serve_backmarket(port=args.port, demo=not args.no_demo)
    from bmsync_sandbox.wholecell.server import serve_forever as serve_wholecell

    return serve_wholecell(port=args.port, demo=not args.no_demo)


def _simulate(args: argparse.Namespace) -> int:
    from bmsync_sandbox.simulator.report import run_simulate

    return run_simulate(args)

"""The ``bmsync`` command: the local system, the emulators, the simulator, and admin chores."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bmsync", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="run the whole system on the local sandbox, with demo data")
    up.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    up.add_argument("--moto-port", type=int, default=5500)
    up.add_argument("--backmarket-port", type=int, default=5501)
    up.add_argument("--wholecell-port", type=int, default=5502)
    up.add_argument("--admin-port", type=int, default=5503)
    up.add_argument("--state-dir", default=".bmsync", help="where local.json and the dead-letter file go")
    up.add_argument("--no-demo", action="store_true", help="start with empty accounts")

    emulator = commands.add_parser("sandbox", help="run one API emulator on its own")
    emulator.add_argument("service", choices=["backmarket", "wholecell"])
    emulator.add_argument("--port", type=int, default=0, help="0 picks a free port")
    emulator.add_argument("--no-demo", action="store_true", help="start with an empty account")

    simulate = commands.add_parser(
        "simulate", help="days of trading in minutes: a seeded, simulated-clock run and its invariants"
    )
    from bmsync_sandbox.simulator.options import add_arguments as add_simulate_arguments

    add_simulate_arguments(simulate)

    admin = commands.add_parser("admin", help="admin chores")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    password = admin_commands.add_parser("set-password", help="set the admin console password")
    password.add_argument(
        "--local",
        action="store_true",
        help="write to the running local sandbox (.bmsync/local.json) instead of AWS",
    )
    password.add_argument("--state-dir", default=".bmsync")
    password.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    api_token = admin_commands.add_parser(
        "create-api-token", help="create a bearer token for admin API clients (shown once)"
    )
    api_token.add_argument(
        "--local",
        action="store_true",
        help="write to the running local sandbox (.bmsync/local.json) instead of AWS",
    )
    api_token.add_argument("--state-dir", default=".bmsync")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "up":
        from bmsync_sandbox.runtime.system import run_up

        return run_up(args)
    if args.command == "sandbox":
        if args.service == "backmarket":
            from bmsync_sandbox.backmarket.server import serve_forever as serve_backmarket

            return serve_backmarket(port=args.port, demo=not args.no_demo)
        from bmsync_sandbox.wholecell.server import serve_forever as serve_wholecell

        return serve_wholecell(port=args.port, demo=not args.no_demo)
    if args.command == "simulate":
        from bmsync_sandbox.simulator.report import run_simulate

        return run_simulate(args)
    if args.command == "admin" and args.admin_command == "set-password":
        from bmsync_sandbox.admin_password import set_password

        return set_password(args)
    if args.command == "admin" and args.admin_command == "create-api-token":
        from bmsync_sandbox.admin_password import create_api_token

        return create_api_token(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())

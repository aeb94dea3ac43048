"""``bmsync probe --connection ID``: check the API contract of a connection's accounts, read-only.

Reads the connection's settings and credentials as the functions do (AWS, or the running local sandbox
with ``--local``), runs :func:`bmsync.probe.probe` and prints one line per finding. Exit status 0 when
the contract holds, 1 when it does not, 2 when the probe could not start.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bmsync import backmarket, wholecell
from bmsync.cli.admin import CommandRefused, add_local_arguments, use_local_sandbox
from bmsync.clock import SystemClock
from bmsync.probe import FixtureWriter, probe, record_confirmations
from bmsync.store.settings_repo import SettingsRepository
from bmsync.store.sync_state import SyncStateRepository


def register(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "probe", help="check, read-only, that WholeCell and Back Market answer as bmsync expects"
    )
    command.add_argument("--connection", required=True, help="the connection id")
    add_local_arguments(command, "read the running local sandbox (.bmsync/local.json) instead of AWS")
    command.add_argument("--json", metavar="FILE", help="also write the report as JSON to FILE")
    command.add_argument(
        "--save-fixtures", metavar="DIR", help="keep every response, redacted, as files in DIR"
    )
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        if args.local:
            use_local_sandbox(args.state_dir)
        settings = SettingsRepository().get(args.connection)
    except CommandRefused as error:
        print(f"bmsync: {error}", file=sys.stderr)
        return 2
    if settings is None:
        print(f"bmsync: no connection {args.connection!r}", file=sys.stderr)
        return 2
    clock = SystemClock()
    report = probe(
        wholecell=wholecell.client_for(settings, clock),
        backmarket=backmarket.client_for(settings, clock),
        clock=clock,
        fixtures=FixtureWriter(Path(args.save_fixtures)) if args.save_fixtures else None,
        wholecell_requests_per_second=settings.wholecell.requests_per_second,
    )
    for line in report.lines():
        print(line)
    for point in record_confirmations(
        report, SyncStateRepository(settings.connection_id, clock), at=clock.now()
    ):
        print(f"Recorded as confirmed on connection {settings.connection_id!r}: {point}")
    if args.json:
        Path(args.json).write_text(report.model_dump_json(indent=2) + "\n")
    print("The contract holds." if report.holds else "The contract does NOT hold: see the PROBLEM lines.")
    return 0 if report.holds else 1

"""``bmsync admin set-password`` and ``create-api-token``: the admin credentials, in AWS or locally.

Without ``--local`` the default AWS credentials and region of the shell are used, as for any AWS CLI
call. ``--local`` writes to the running local sandbox instead (the harness, ``bmsync_sandbox``, knows
where it listens).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from bmsync import secrets
from bmsync.admin.credentials import MIN_PASSWORD_LENGTH, WeakPassword, add_api_token, set_admin_password
from bmsync.settings import ADMIN_SECRET_NAME


class NoLocalSandbox(Exception):
    pass


def register(commands: argparse._SubParsersAction) -> None:
    admin = commands.add_parser("admin", help="admin chores")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    password = admin_commands.add_parser("set-password", help="set the admin console password")
    add_local_arguments(password)
    password.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    password.set_defaults(run=set_password)
    api_token = admin_commands.add_parser(
        "create-api-token", help="create a bearer token for admin API clients (shown once)"
    )
    add_local_arguments(api_token)
    api_token.set_defaults(run=create_api_token)


def add_local_arguments(
    command: argparse.ArgumentParser,
    help_text: str = "write to the running local sandbox (.bmsync/local.json) instead of AWS",
) -> None:
    command.add_argument("--local", action="store_true", help=help_text)
    command.add_argument("--state-dir", default=".bmsync")


def use_local_sandbox(state_dir: str) -> None:
    try:
        from bmsync_sandbox.local_admin import LocalSandboxNotRunning, use_local_sandbox
    except ModuleNotFoundError as missing:
        raise NoLocalSandbox(
            "--local needs the local sandbox (bmsync_sandbox), which is not installed"
        ) from (missing)
    try:
        use_local_sandbox(Path(state_dir))
    except LocalSandboxNotRunning as error:
        raise NoLocalSandbox(str(error)) from error


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"New admin password (at least {MIN_PASSWORD_LENGTH} characters): ")
    second = getpass.getpass("Repeat it: ")
    if first != second:
        raise WeakPassword("the two passwords differ")
    return first


def set_password(args: argparse.Namespace) -> int:
    try:
        if args.local:
            use_local_sandbox(args.state_dir)
        password = _read_password(args.password_stdin)
        set_admin_password(password)
    except (NoLocalSandbox, WeakPassword) as error:
        print(f"bmsync: {error}", file=sys.stderr)
        return 2
    where = "the local sandbox" if args.local else "AWS Secrets Manager"
    print(f"Admin password set in {where} (secret {ADMIN_SECRET_NAME}); existing sessions are signed out.")
    return 0


def create_api_token(args: argparse.Namespace) -> int:
    """Print a new bearer token once: only its hash is stored, so it cannot be shown again."""
    try:
        if args.local:
            use_local_sandbox(args.state_dir)
        token = add_api_token()
    except (NoLocalSandbox, secrets.SecretMissing) as error:
        print(f"bmsync: {error}", file=sys.stderr)
        return 2
    print("API token (send it as 'Authorization: Bearer <token>'; it is not shown again):")
    print(token)
    return 0

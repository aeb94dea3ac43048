"""``bmsync admin ...``: the admin password and the API tokens, in AWS or locally.

Without ``--local`` the default AWS credentials and region of the shell are used, as for any AWS CLI
call; sessions and API tokens live in the stack's ``sync_state`` table, found through CloudFormation
(``--stack``, or ``BMSYNC_TABLE_SYNC_STATE`` names it). ``--local`` writes to the running local
sandbox instead (the harness, ``bmsync_sandbox``, knows where it listens).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from bmsync import secrets
from bmsync.admin.credentials import (
    MIN_PASSWORD_LENGTH,
    WeakPassword,
    create_api_token,
    migrate_legacy_api_tokens,
    set_admin_password,
)
from bmsync.clock import SystemClock
from bmsync.settings import ADMIN_SECRET_NAME
from bmsync.store.admin_auth import AdminAuthStore
from bmsync.store.dynamo import reset_connections
from bmsync.store.tables import SYNC_STATE

DEFAULT_TOKEN_DAYS = 365
MAX_TOKEN_DAYS = 3650


class CommandRefused(Exception):
    """The command cannot run as asked: the message says why and what to do."""


def register(commands: argparse._SubParsersAction) -> None:
    admin = commands.add_parser("admin", help="admin chores")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    password = admin_commands.add_parser(
        "set-password", help="set the admin console password (signs every session out)"
    )
    _add_target_arguments(password)
    password.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    password.add_argument(
        "--revoke-api-tokens",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also revoke every API token (asked when not given and the shell is interactive)",
    )
    password.set_defaults(run=set_password)
    create = admin_commands.add_parser(
        "create-api-token", help="create a bearer token for admin API clients (shown once)"
    )
    _add_target_arguments(create)
    create.add_argument("--label", default="API client", help="what the token is for (shown in the list)")
    create.add_argument(
        "--days", type=int, default=DEFAULT_TOKEN_DAYS, help=f"how long it works (1 to {MAX_TOKEN_DAYS})"
    )
    create.set_defaults(run=create_token)
    listing = admin_commands.add_parser("list-api-tokens", help="the API tokens: id, label, dates")
    _add_target_arguments(listing)
    listing.set_defaults(run=list_tokens)
    revoke = admin_commands.add_parser("revoke-api-token", help="revoke an API token at once")
    _add_target_arguments(revoke)
    revoke.add_argument("token_id", help="the id shown by list-api-tokens")
    revoke.set_defaults(run=revoke_token)


def _add_target_arguments(command: argparse.ArgumentParser) -> None:
    add_local_arguments(command)
    command.add_argument("--stack", default="bmsync", help="the CloudFormation stack (AWS only)")


def add_local_arguments(
    command: argparse.ArgumentParser,
    help_text: str = "write to the running local sandbox (.bmsync/local.json) instead of AWS",
) -> None:
    command.add_argument("--local", action="store_true", help=help_text)
    command.add_argument("--state-dir", default=".bmsync")


def use_local_sandbox(state_dir: str) -> None:
    try:
        from bmsync_sandbox.local_admin import LocalSandboxNotRunning
        from bmsync_sandbox.local_admin import use_local_sandbox as point_at_local_sandbox
    except ModuleNotFoundError as missing:
        raise CommandRefused(
            "--local needs the local sandbox (bmsync_sandbox), which is not installed"
        ) from missing
    try:
        point_at_local_sandbox(Path(state_dir))
    except LocalSandboxNotRunning as error:
        raise CommandRefused(str(error)) from error


def _sync_state_table_of(stack: str) -> str:
    """The physical name of the stack's sync_state table (CloudFormation names it)."""
    wanted = SYNC_STATE.logical_name.replace("_", "").lower()
    try:
        pages = boto3.client("cloudformation").get_paginator("list_stack_resources").paginate(StackName=stack)
        for page in pages:
            for resource in page["StackResourceSummaries"]:
                logical_id = resource["LogicalResourceId"].lower()
                if resource["ResourceType"] == "AWS::DynamoDB::Table" and wanted in logical_id:
                    return str(resource["PhysicalResourceId"])
    except (BotoCoreError, ClientError) as error:
        raise CommandRefused(f"cannot read the stack {stack!r}: {error}") from error
    raise CommandRefused(f"the stack {stack!r} has no sync_state table: is --stack right?")


def _store(args: argparse.Namespace) -> AdminAuthStore:
    """Point this process at the target (local sandbox or AWS) and open the admin's records there."""
    if args.local:
        use_local_sandbox(args.state_dir)
        from bmsync.store.tables import local_table_environment

        os.environ.update(local_table_environment())
    elif not os.environ.get(SYNC_STATE.env_var):
        os.environ[SYNC_STATE.env_var] = _sync_state_table_of(args.stack)
    reset_connections()
    return AdminAuthStore(SystemClock())


def _refusing(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (CommandRefused, WeakPassword, secrets.SecretMissing) as error:
            print(f"bmsync: {error}", file=sys.stderr)
            return 2

    return run


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"New admin password (at least {MIN_PASSWORD_LENGTH} characters): ")
    second = getpass.getpass("Repeat it: ")
    if first != second:
        raise WeakPassword("the two passwords differ")
    return first


def _revoke_tokens_answer(args: argparse.Namespace, store: AdminAuthStore) -> bool:
    if args.revoke_api_tokens is not None:
        return bool(args.revoke_api_tokens)
    if args.password_stdin or not sys.stdin.isatty():
        return False  # a script decides with --revoke-api-tokens; keeping them is the safe default
    migrate_legacy_api_tokens(store)
    count = len(store.api_tokens())
    if not count:
        return False
    answer = input(f"Also revoke the {count} API token(s)? Clients using them stop working. [y/N] ")
    return answer.strip().lower() in ("y", "yes")


@_refusing
def set_password(args: argparse.Namespace) -> int:
    store = _store(args)
    password = _read_password(args.password_stdin)
    revoke = _revoke_tokens_answer(args, store)
    set_admin_password(password, store=store, revoke_api_tokens=revoke)
    where = "the local sandbox" if args.local else "AWS Secrets Manager"
    print(f"Admin password set in {where} (secret {ADMIN_SECRET_NAME}); every session is signed out.")
    print("Every API token was revoked." if revoke else "API tokens are kept (bmsync admin list-api-tokens).")
    return 0


@_refusing
def create_token(args: argparse.Namespace) -> int:
    """Print a new bearer token once: only its hash is stored, so it cannot be shown again."""
    if not 1 <= args.days <= MAX_TOKEN_DAYS:
        raise CommandRefused(f"--days must be between 1 and {MAX_TOKEN_DAYS}")
    label = args.label.strip()
    if not label or len(label) > 100:
        raise CommandRefused("--label must have 1 to 100 characters")
    store = _store(args)
    record, token = create_api_token(store, SystemClock(), label=label, lifetime=timedelta(days=args.days))
    print(f"API token {record.token_id} ({record.label}), valid until {record.expires_at}.")
    print("Send it as 'Authorization: Bearer <token>'; it is not shown again:")
    print(token)
    return 0


@_refusing
def list_tokens(args: argparse.Namespace) -> int:
    store = _store(args)
    migrate_legacy_api_tokens(store)
    records = sorted(store.api_tokens(), key=lambda record: record.created_at or "")
    if not records:
        print("No API tokens (bmsync admin create-api-token makes one).")
        return 0
    print(f"{'ID':<17} {'CREATED':<21} {'EXPIRES':<21} {'LAST USED':<21} LABEL")
    for record in records:
        print(
            f"{record.token_id:<17} {record.created_at or 'unknown':<21} {record.expires_at or 'never':<21} "
            f"{record.last_used_at or 'never':<21} {record.label}"
        )
    return 0


@_refusing
def revoke_token(args: argparse.Namespace) -> int:
    store = _store(args)
    migrate_legacy_api_tokens(store)
    if not store.delete_api_token(args.token_id):
        raise CommandRefused(f"no API token {args.token_id!r} (bmsync admin list-api-tokens lists them)")
    print(f"API token {args.token_id} revoked: it is refused from now on.")
    return 0

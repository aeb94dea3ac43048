"""``bmsync admin set-password`` and ``create-api-token``: admin credentials, locally or in AWS.

``--local`` writes to the running sandbox: ``bmsync up`` leaves the local (moto) endpoint in
``<state-dir>/local.json`` as ``{"aws_endpoint_url": ..., "region": ...}``. Without it the default AWS
credentials and region of the shell are used, as for any AWS CLI call.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path

from bmsync import secrets
from bmsync.admin.credentials import (
    MIN_PASSWORD_LENGTH,
    WeakPassword,
    add_api_token,
    generate_password,
    set_admin_password,
)
from bmsync.settings import ADMIN_SECRET_NAME

LOCAL_FILE = "local.json"


class LocalSandboxNotRunning(Exception):
    pass


def _use_local_sandbox(state_dir: Path) -> None:
    path = state_dir / LOCAL_FILE
    try:
        local = json.loads(path.read_text())
        endpoint = str(local["aws_endpoint_url"])
    except (OSError, ValueError, KeyError) as error:
        raise LocalSandboxNotRunning(
            f"{path} is missing or has no aws_endpoint_url: start the sandbox with `bmsync up` first"
        ) from error
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ["AWS_DEFAULT_REGION"] = str(local.get("region") or "eu-west-1")
    # The local account accepts any identity; never send real credentials to it.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        os.environ[name] = "sandbox"
    os.environ.pop("AWS_PROFILE", None)
    secrets.reset_cache()


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
            _use_local_sandbox(Path(args.state_dir))
        password = _read_password(args.password_stdin)
        set_admin_password(password)
    except (LocalSandboxNotRunning, WeakPassword) as error:
        print(f"bmsync: {error}", file=sys.stderr)
        return 2
    where = "the local sandbox" if args.local else "AWS Secrets Manager"
    print(f"Admin password set in {where} (secret {ADMIN_SECRET_NAME}); existing sessions are signed out.")
    return 0


def create_api_token(args: argparse.Namespace) -> int:
    """Print a new bearer token once: only its hash is stored, so it cannot be shown again."""
    try:
        if args.local:
            _use_local_sandbox(Path(args.state_dir))
        token = add_api_token()
    except (LocalSandboxNotRunning, secrets.SecretMissing) as error:
        print(f"bmsync: {error}", file=sys.stderr)
        return 2
    print("API token (send it as 'Authorization: Bearer <token>'; it is not shown again):")
    print(token)
    return 0


def seed_local_admin_password(state_dir: str | Path) -> str:
    """Give a fresh local sandbox an admin password; returns it so ``bmsync up`` can print it.

    ``state_dir`` is where ``bmsync up`` keeps its files; the password itself is not written there
    (only its hash, in the local Secrets Manager).
    """
    Path(state_dir).mkdir(parents=True, exist_ok=True)
    password = generate_password()
    set_admin_password(password)
    return password

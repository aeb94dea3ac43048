"""The local sandbox's side of the admin credentials: its password at start-up, and ``--local``.

``bmsync up`` leaves the local (moto) endpoint in ``<state-dir>/local.json`` as
``{"aws_endpoint_url": ..., "region": ...}``; ``bmsync admin ... --local`` points boto3 at it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from bmsync import secrets
from bmsync.admin.credentials import generate_password, set_admin_password

LOCAL_FILE = "local.json"


class LocalSandboxNotRunning(Exception):
    pass


def use_local_sandbox(state_dir: Path) -> None:
    """Send this process's AWS calls to the running local sandbox, with sandbox credentials only."""
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


def seed_local_admin_password(state_dir: str | Path) -> str:
    """Give a fresh local sandbox an admin password; returns it so ``bmsync up`` can print it.

    ``state_dir`` is where ``bmsync up`` keeps its files; the password itself is not written there
    (only its hash, in the local Secrets Manager).
    """
    Path(state_dir).mkdir(parents=True, exist_ok=True)
    password = generate_password()
    set_admin_password(password)
    return password

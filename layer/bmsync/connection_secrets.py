"""A connection's secrets: its Back Market token and its WholeCell App ID and App Secret.

Their names follow from the connection id alone (``bmsync/<connection>/backmarket-token``,
``bmsync/<connection>/wholecell``): never an input, never an ARN, and never the admin's own secret
(``bmsync/admin``), which nothing here can name. In AWS the sync functions' roles may read only
these two name patterns (``infra/functions.py``).
"""

from __future__ import annotations

import json
import re
from typing import Literal

from pydantic import BaseModel, SecretStr, ValidationError

from bmsync import secrets
from bmsync.observability import register_secret
from bmsync.secrets import SecretCache, SecretMissing
from bmsync.settings import CONNECTION_ID_PATTERN

SecretKind = Literal["backmarket-token", "wholecell"]
SECRET_KINDS: tuple[SecretKind, ...] = ("backmarket-token", "wholecell")


class WholeCellCredentials(BaseModel):
    app_id: str
    app_secret: SecretStr


def secret_name(connection_id: str, kind: SecretKind) -> str:
    """The name of one of a connection's secrets; a malformed connection id is refused."""
    if not re.match(CONNECTION_ID_PATTERN, connection_id) or kind not in SECRET_KINDS:
        raise ValueError(f"not a connection's secret: {connection_id!r}/{kind!r}")
    return f"bmsync/{connection_id}/{kind}"


def name_pattern(kind: SecretKind) -> str:
    """The IAM name pattern of every connection's ``kind`` secret (``*`` stands for the connection id)."""
    return secret_name("connection", kind).replace("/connection/", "/*/", 1)


def read_backmarket_token(
    connection_id: str, *, version: str = "", force_fetch: bool = False, cache: SecretCache | None = None
) -> str:
    name = secret_name(connection_id, "backmarket-token")
    return secrets.read_secret(name, version=version, force_fetch=force_fetch, cache=cache).strip()


def read_wholecell_credentials(
    connection_id: str, *, version: str = "", force_fetch: bool = False, cache: SecretCache | None = None
) -> WholeCellCredentials:
    name = secret_name(connection_id, "wholecell")
    raw = secrets.read_secret(name, version=version, force_fetch=force_fetch, cache=cache)
    try:
        credentials = WholeCellCredentials.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as error:
        raise SecretMissing(f"secret {name!r} does not hold a WholeCell App ID and App Secret") from error
    register_secret(credentials.app_secret.get_secret_value())
    return credentials


def write_backmarket_token(connection_id: str, token: str) -> None:
    secrets.write_secret(
        secret_name(connection_id, "backmarket-token"),
        token,
        description=f"Back Market token ({connection_id})",
    )


def write_wholecell_credentials(connection_id: str, app_id: str, app_secret: str) -> None:
    secrets.write_secret(
        secret_name(connection_id, "wholecell"),
        json.dumps({"app_id": app_id, "app_secret": app_secret}),
        description=f"WholeCell App ID and App Secret ({connection_id})",
    )


def secrets_set(connection_id: str) -> dict[SecretKind, bool]:
    """Whether each of the connection's secrets holds a value (never the value)."""
    return {kind: secrets.secret_is_set(secret_name(connection_id, kind)) for kind in SECRET_KINDS}


def delete_connection_secrets(connection_id: str) -> list[str]:
    """Delete the connection's secrets; the names of those that existed."""
    names = [secret_name(connection_id, kind) for kind in SECRET_KINDS]
    return [name for name in names if secrets.delete_secret(name)]

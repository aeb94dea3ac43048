"""Secrets Manager: tokens are read through Powertools Parameters (cached) and written only by the admin.

A 401 from Back Market or WholeCell means the cached value may be stale (the seller reset the token
and saved the new one in the admin): callers then read again with ``force_fetch``.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from aws_lambda_powertools.utilities import parameters
from botocore.exceptions import ClientError
from pydantic import BaseModel, SecretStr, ValidationError

from bmsync.observability import register_secret

CACHE_SECONDS = 300


class SecretMissing(Exception):
    """The secret does not exist or holds no value yet: the admin must set it."""


class WholeCellCredentials(BaseModel):
    app_id: str
    app_secret: SecretStr


# Powertools' cache lives in the provider: one per process (reset when the sandbox moves the endpoint).
_cached_provider: parameters.SecretsProvider | None = None


def _provider() -> parameters.SecretsProvider:
    global _cached_provider
    if _cached_provider is None:
        _cached_provider = parameters.SecretsProvider()
    return _cached_provider


def reset_cache() -> None:
    global _cached_provider
    _cached_provider = None


def read_secret(name: str, *, force_fetch: bool = False) -> str:
    try:
        value = _provider().get(name, max_age=CACHE_SECONDS, force_fetch=force_fetch)
    except parameters.exceptions.GetParameterError as error:
        raise SecretMissing(f"secret {name!r} is not set: set it in the admin console") from error
    if not isinstance(value, str) or not value.strip():
        raise SecretMissing(f"secret {name!r} is empty: set it in the admin console")
    register_secret(value)
    return value


def read_backmarket_token(name: str, *, force_fetch: bool = False) -> str:
    return read_secret(name, force_fetch=force_fetch).strip()


def read_wholecell_credentials(name: str, *, force_fetch: bool = False) -> WholeCellCredentials:
    raw = read_secret(name, force_fetch=force_fetch)
    try:
        credentials = WholeCellCredentials.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as error:
        raise SecretMissing(f"secret {name!r} does not hold a WholeCell App ID and App Secret") from error
    register_secret(credentials.app_secret.get_secret_value())
    return credentials


def _client() -> Any:
    return boto3.client("secretsmanager")


def write_secret(name: str, value: str, *, description: str = "") -> None:
    """Create or replace a secret's value. Write-only: nothing here ever returns a value."""
    client = _client()
    try:
        client.put_secret_value(SecretId=name, SecretString=value)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        client.create_secret(Name=name, SecretString=value, Description=description or "bmsync")
    register_secret(value)


def write_wholecell_credentials(name: str, app_id: str, app_secret: str) -> None:
    write_secret(name, json.dumps({"app_id": app_id, "app_secret": app_secret}))


def secret_is_set(name: str) -> bool:
    """Whether a secret holds a value, without reading the value."""
    try:
        metadata = _client().describe_secret(SecretId=name)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            return False
        raise
    versions = metadata.get("VersionIdsToStages") or {}
    return any("AWSCURRENT" in stages for stages in versions.values())

"""Secrets Manager: values read through Powertools Parameters (cached) and written only by the admin.

This module takes secret names: only :mod:`bmsync.connection_secrets` (a connection's tokens, named
after its id) and the admin's credentials call it. A read may carry a *version*, the stamp the admin
writes next to the settings when it saves a token: a read with another version than the cached
value's fetches again, so a token saved in the admin is used at the next run in every container.
A 401 from Back Market or WholeCell means the cached value may be stale anyway (the token was
changed in Secrets Manager directly): callers then read again with ``force_fetch``.
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools.utilities import parameters
from botocore.exceptions import ClientError

from bmsync.observability import register_secret

CACHE_SECONDS = 300


class SecretMissing(Exception):
    """The secret does not exist or holds no value yet: the admin must set it."""


class SecretCache:
    """One container's cache: Powertools' provider, and the version each cached value was read at."""

    def __init__(self) -> None:
        self._provider = parameters.SecretsProvider()
        self._versions: dict[str, str] = {}

    def read(self, name: str, *, version: str = "", force_fetch: bool = False) -> str:
        stale = self._versions.get(name, version) != version
        try:
            value = self._provider.get(name, max_age=CACHE_SECONDS, force_fetch=force_fetch or stale)
        except parameters.exceptions.GetParameterError as error:
            raise SecretMissing(f"secret {name!r} is not set: set it in the admin console") from error
        self._versions[name] = version
        if not isinstance(value, str) or not value.strip():
            raise SecretMissing(f"secret {name!r} is empty: set it in the admin console")
        register_secret(value)
        return value


# One cache per process, like Lambda's container (reset when the sandbox moves the endpoint).
_process_cache: SecretCache | None = None


def process_cache() -> SecretCache:
    global _process_cache
    if _process_cache is None:
        _process_cache = SecretCache()
    return _process_cache


def reset_cache() -> None:
    global _process_cache
    _process_cache = None


def read_secret(
    name: str, *, version: str = "", force_fetch: bool = False, cache: SecretCache | None = None
) -> str:
    return (cache or process_cache()).read(name, version=version, force_fetch=force_fetch)


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


def delete_secret(name: str) -> bool:
    """Delete a secret at once (no recovery window); False when there was none."""
    try:
        _client().delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            return False
        raise
    return True


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

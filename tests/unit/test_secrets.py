"""Secrets Manager access: cached reads, a forced refresh after a 401, write-only helpers."""

from __future__ import annotations

import boto3
import pytest

from bmsync import secrets
from bmsync.observability import REDACTED, redact_text

NAME = "bmsync/uk/backmarket-token"


def _set_behind_bmsync(name: str, value: str) -> None:
    """Change a secret the way another process (the admin in another Lambda) would."""
    boto3.client("secretsmanager").put_secret_value(SecretId=name, SecretString=value)


def test_a_read_is_cached_until_a_forced_refresh(aws: None) -> None:
    secrets.write_secret(NAME, "token-one-111")
    assert secrets.read_backmarket_token(NAME) == "token-one-111"

    _set_behind_bmsync(NAME, "token-two-222")
    # Within the cache window the old value is served without a call to Secrets Manager...
    assert secrets.read_backmarket_token(NAME) == "token-one-111"
    # ...until a 401 makes the client ask again with force_fetch.
    assert secrets.read_backmarket_token(NAME, force_fetch=True) == "token-two-222"
    assert secrets.read_backmarket_token(NAME) == "token-two-222"


def test_the_token_is_stripped_of_surrounding_whitespace(aws: None) -> None:
    secrets.write_secret(NAME, "  pasted-token-333\n")
    assert secrets.read_backmarket_token(NAME) == "pasted-token-333"


def test_a_missing_secret_says_where_to_set_it(aws: None) -> None:
    with pytest.raises(secrets.SecretMissing, match=r"'bmsync/uk/backmarket-token' is not set.*admin"):
        secrets.read_backmarket_token(NAME)


def test_a_blank_secret_counts_as_missing(aws: None) -> None:
    secrets.write_secret(NAME, "   ")
    with pytest.raises(secrets.SecretMissing, match="is empty"):
        secrets.read_backmarket_token(NAME)


def test_wholecell_credentials_round_trip_and_stay_hidden(aws: None) -> None:
    secrets.write_wholecell_credentials("bmsync/uk/wholecell", "app-42", "app-secret-444")
    credentials = secrets.read_wholecell_credentials("bmsync/uk/wholecell")
    assert credentials.app_id == "app-42"
    assert credentials.app_secret.get_secret_value() == "app-secret-444"
    assert "app-secret-444" not in repr(credentials)


def test_malformed_wholecell_credentials_are_reported_not_crashed_on(aws: None) -> None:
    secrets.write_secret("bmsync/uk/wholecell", "not json at all")
    with pytest.raises(secrets.SecretMissing, match="does not hold a WholeCell App ID and App Secret"):
        secrets.read_wholecell_credentials("bmsync/uk/wholecell")
    secrets.write_secret("bmsync/uk/wholecell", '{"app_id": "only-an-id"}')
    with pytest.raises(secrets.SecretMissing):
        secrets.read_wholecell_credentials("bmsync/uk/wholecell", force_fetch=True)


def test_writing_creates_then_replaces_and_is_set_reports_without_reading(aws: None) -> None:
    assert secrets.secret_is_set(NAME) is False
    secrets.write_secret(NAME, "first-token-555", description="Back Market token (uk)")
    assert secrets.secret_is_set(NAME) is True
    secrets.write_secret(NAME, "second-token-666")
    stored = boto3.client("secretsmanager").get_secret_value(SecretId=NAME)["SecretString"]
    assert stored == "second-token-666"


def test_every_value_read_or_written_is_scrubbed_from_log_text(aws: None) -> None:
    secrets.write_secret(NAME, "written-token-888")
    boto3.client("secretsmanager").create_secret(Name="bmsync/uk/other", SecretString="read-token-999")
    secrets.read_secret("bmsync/uk/other")
    line = redact_text("got written-token-888 and read-token-999")
    assert line == f"got {REDACTED} and {REDACTED}"

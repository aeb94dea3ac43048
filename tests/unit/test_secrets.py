"""Secrets Manager access: cached reads, a forced refresh after a 401, write-only helpers."""

from __future__ import annotations

import boto3
import pytest

from bmsync import connection_secrets, secrets
from bmsync.observability import REDACTED, redact_text

NAME = "bmsync/uk/backmarket-token"


def _set_behind_bmsync(name: str, value: str) -> None:
    """Change a secret the way another process (the admin in another Lambda) would."""
    boto3.client("secretsmanager").put_secret_value(SecretId=name, SecretString=value)


def test_a_read_is_cached_until_a_forced_refresh(aws: None) -> None:
    secrets.write_secret(NAME, "token-one-111")
    assert connection_secrets.read_backmarket_token("uk") == "token-one-111"

    _set_behind_bmsync(NAME, "token-two-222")
    # Within the cache window the old value is served without a call to Secrets Manager...
    assert connection_secrets.read_backmarket_token("uk") == "token-one-111"
    # ...until a 401 makes the client ask again with force_fetch.
    assert connection_secrets.read_backmarket_token("uk", force_fetch=True) == "token-two-222"
    assert connection_secrets.read_backmarket_token("uk") == "token-two-222"


def test_the_token_is_stripped_of_surrounding_whitespace(aws: None) -> None:
    secrets.write_secret(NAME, "  pasted-token-333\n")
    assert connection_secrets.read_backmarket_token("uk") == "pasted-token-333"


def test_a_missing_secret_says_where_to_set_it(aws: None) -> None:
    with pytest.raises(secrets.SecretMissing, match=r"'bmsync/uk/backmarket-token' is not set.*admin"):
        connection_secrets.read_backmarket_token("uk")


def test_a_blank_secret_counts_as_missing(aws: None) -> None:
    secrets.write_secret(NAME, "   ")
    with pytest.raises(secrets.SecretMissing, match="is empty"):
        connection_secrets.read_backmarket_token("uk")


def test_wholecell_credentials_round_trip_and_stay_hidden(aws: None) -> None:
    connection_secrets.write_wholecell_credentials("uk", "app-42", "app-secret-444")
    credentials = connection_secrets.read_wholecell_credentials("uk")
    assert credentials.app_id == "app-42"
    assert credentials.app_secret.get_secret_value() == "app-secret-444"
    assert "app-secret-444" not in repr(credentials)


def test_malformed_wholecell_credentials_are_reported_not_crashed_on(aws: None) -> None:
    secrets.write_secret("bmsync/uk/wholecell", "not json at all")
    with pytest.raises(secrets.SecretMissing, match="does not hold a WholeCell App ID and App Secret"):
        connection_secrets.read_wholecell_credentials("uk")
    secrets.write_secret("bmsync/uk/wholecell", '{"app_id": "only-an-id"}')
    with pytest.raises(secrets.SecretMissing):
        connection_secrets.read_wholecell_credentials("uk", force_fetch=True)


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


def test_a_token_saved_in_the_admin_is_used_at_the_next_run_in_every_container(aws: None) -> None:
    from bmsync.settings import Settings
    from bmsync.store.settings_repo import SettingsRepository

    repository = SettingsRepository()
    repository.save(Settings(connection_id="uk"))
    connection_secrets.write_backmarket_token("uk", "old-token-111")
    containers = (secrets.SecretCache(), secrets.SecretCache())
    before = repository.get_or_default("uk")
    for cache in containers:
        assert connection_secrets.read_backmarket_token(
            "uk", version=before.secrets_version, cache=cache
        ) == ("old-token-111")
    # The admin saves a new token (bmsync.admin.connection_service): the secret, then the stamp.
    connection_secrets.write_backmarket_token("uk", "new-token-222")
    repository.stamp_secrets("uk")
    after = repository.get_or_default("uk")
    assert after.secrets_version != before.secrets_version
    for cache in containers:
        # A run still holding the settings it read before the save gets the cached token...
        assert connection_secrets.read_backmarket_token(
            "uk", version=before.secrets_version, cache=cache
        ) == ("old-token-111")
    for cache in containers:
        # ...and the next run, reading the settings again, the new one: well before the 5-minute cache ends.
        assert connection_secrets.read_backmarket_token("uk", version=after.secrets_version, cache=cache) == (
            "new-token-222"
        )
    # A settings save keeps the stamp (it is beside the document, not in it).
    repository.save(after.model_copy(update={"display_name": "UK"}))
    assert repository.get_or_default("uk").secrets_version == after.secrets_version


def test_connection_secret_names_follow_from_the_id_and_never_name_the_admin_secret() -> None:
    assert connection_secrets.secret_name("uk", "backmarket-token") == "bmsync/uk/backmarket-token"
    assert connection_secrets.secret_name("uk", "wholecell") == "bmsync/uk/wholecell"
    for bad in (
        "",
        "../admin",
        "uk/../admin",
        "arn:aws:secretsmanager:eu-west-1:1:secret:bmsync/admin",
        "UK",
    ):
        with pytest.raises(ValueError):
            connection_secrets.secret_name(bad, "backmarket-token")

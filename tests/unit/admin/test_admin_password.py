"""The admin secret and ``bmsync admin set-password``: hashes only, never the password."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import boto3
import pytest

from bmsync.admin import credentials
from bmsync.cli import main
from bmsync.clock import SystemClock
from bmsync.settings import ADMIN_SECRET_NAME
from bmsync.store.admin_auth import AdminAuthStore
from bmsync_sandbox.local_admin import seed_local_admin_password


def _stored() -> dict:
    raw = boto3.client("secretsmanager").get_secret_value(SecretId=ADMIN_SECRET_NAME)["SecretString"]
    return json.loads(raw)


def test_hash_is_salted_pbkdf2_and_verifies() -> None:
    first = credentials.hash_password("correct horse battery", iterations=1000)
    second = credentials.hash_password("correct horse battery", iterations=1000)
    assert first != second  # salted
    assert first.startswith("pbkdf2_sha256$1000$")
    assert credentials.verify_password("correct horse battery", first)
    assert not credentials.verify_password("correct horse batterY", first)
    assert not credentials.verify_password("anything", "garbage")


def test_default_iterations_are_high() -> None:
    assert credentials.PBKDF2_ITERATIONS >= 600_000


def test_short_password_refused() -> None:
    with pytest.raises(credentials.WeakPassword):
        credentials.hash_password("short")


def test_seed_local_admin_password_stores_only_a_hash(aws: None, tmp_path: Path) -> None:
    password = seed_local_admin_password(tmp_path / "state")
    stored = _stored()
    assert password not in json.dumps(stored)
    assert credentials.verify_password(password, stored["password_hash"])
    assert len(credentials.session_key_bytes(credentials.AdminSecret.model_validate(stored))) == 32


def _token_from(out: str) -> str:
    return out.strip().splitlines()[-1]


def test_cli_sets_password_from_stdin_and_keeps_api_tokens(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_local_admin_password("unused")
    assert main(["admin", "create-api-token", "--label", "warehouse script"]) == 0
    token = _token_from(capsys.readouterr().out)
    store = AdminAuthStore(SystemClock())
    store.put_session("a-session", "csrf", SystemClock().now() + timedelta(hours=1))
    monkeypatch.setattr("sys.stdin", io.StringIO("a brand new passphrase\n"))
    assert main(["admin", "set-password", "--password-stdin"]) == 0
    stored = _stored()
    assert credentials.verify_password("a brand new passphrase", stored["password_hash"])
    assert [record.token_hash for record in store.api_tokens()] == [credentials.hash_api_token(token)]
    assert store.session("a-session") is None  # every session signed out
    out = capsys.readouterr().out
    assert "a brand new passphrase" not in out
    assert "API tokens are kept" in out


def test_cli_set_password_can_revoke_every_api_token(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_local_admin_password("unused")
    for label in ("one", "two"):
        assert main(["admin", "create-api-token", "--label", label]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("a brand new passphrase\n"))
    assert main(["admin", "set-password", "--password-stdin", "--revoke-api-tokens"]) == 0
    assert "Every API token was revoked" in capsys.readouterr().out
    assert AdminAuthStore(SystemClock()).api_tokens() == []


def test_cli_set_password_asks_whether_to_revoke_api_tokens(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_local_admin_password("unused")
    assert main(["admin", "create-api-token"]) == 0
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    monkeypatch.setattr("getpass.getpass", lambda prompt: "an interactive passphrase")
    asked: list[str] = []
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or "y")
    assert main(["admin", "set-password"]) == 0
    assert asked and "revoke the 1 API token" in asked[0]
    assert AdminAuthStore(SystemClock()).api_tokens() == []


def test_cli_lists_and_revokes_api_tokens(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    seed_local_admin_password("unused")
    assert main(["admin", "create-api-token", "--label", "warehouse script", "--days", "30"]) == 0
    token = _token_from(capsys.readouterr().out)
    token_id = credentials.api_token_id(credentials.hash_api_token(token))
    assert main(["admin", "list-api-tokens"]) == 0
    listed = capsys.readouterr().out
    assert token_id in listed and "warehouse script" in listed
    assert token not in listed
    assert main(["admin", "revoke-api-token", token_id]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["admin", "revoke-api-token", token_id]) == 2
    assert "no API token" in capsys.readouterr().err
    assert main(["admin", "list-api-tokens"]) == 0
    assert "No API tokens" in capsys.readouterr().out


def test_tokens_kept_in_the_admin_secret_are_migrated_and_keep_working(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_local_admin_password("unused")
    legacy = credentials.new_api_token()
    secret = credentials.AdminSecret.model_validate(_stored())
    secret.api_token_hashes = [credentials.hash_api_token(legacy)]
    credentials.save_admin_secret(secret)
    assert main(["admin", "list-api-tokens"]) == 0
    listed = capsys.readouterr().out
    assert credentials.MIGRATED_LABEL in listed and "never" in listed
    assert _stored()["api_token_hashes"] == []
    record = AdminAuthStore(SystemClock()).api_token(
        credentials.api_token_id(credentials.hash_api_token(legacy))
    )
    assert record is not None and record.token_hash == credentials.hash_api_token(legacy)


def test_cli_refuses_weak_password_and_changes_nothing(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_local_admin_password("unused")
    before = _stored()
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["admin", "set-password", "--password-stdin"]) == 2
    assert "at least 12 characters" in capsys.readouterr().err
    assert _stored() == before


def test_cli_local_without_running_sandbox_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["admin", "set-password", "--local", "--state-dir", str(tmp_path), "--password-stdin"]) == 2
    assert "bmsync up" in capsys.readouterr().err


def test_cli_local_writes_to_the_sandbox_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bmsync_sandbox.runtime.local_aws import LocalAws

    with LocalAws() as local:
        (tmp_path / "local.json").write_text(json.dumps({"aws_endpoint_url": local.endpoint_url}))
        monkeypatch.setattr("sys.stdin", io.StringIO("local sandbox passphrase\n"))
        assert (
            main(["admin", "set-password", "--local", "--state-dir", str(tmp_path), "--password-stdin"]) == 0
        )
        raw = local.secrets_manager().get_secret_value(SecretId=ADMIN_SECRET_NAME)["SecretString"]
        assert credentials.verify_password("local sandbox passphrase", json.loads(raw)["password_hash"])


def test_cli_creates_an_api_token_shown_once_and_stored_hashed(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["admin", "create-api-token"]) == 2
    assert "set the admin password first" in capsys.readouterr().err
    seed_local_admin_password("unused")
    assert main(["admin", "create-api-token", "--days", "0"]) == 2
    assert "--days" in capsys.readouterr().err
    assert main(["admin", "create-api-token", "--label", "shop script", "--days", "30"]) == 0
    token = _token_from(capsys.readouterr().out)
    assert token.startswith("bmsync_")
    assert token not in json.dumps(_stored())
    (record,) = AdminAuthStore(SystemClock()).api_tokens()
    assert record.token_hash == credentials.hash_api_token(token)
    assert record.label == "shop script"
    assert record.created_at and record.expires_at and record.last_used_at is None
    assert token not in record.model_dump_json()


def test_cli_finds_the_stacks_sync_state_table_in_aws(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bmsync.store.tables import SYNC_STATE

    key_schema = [
        {"AttributeName": "connection_id", "KeyType": "HASH"},
        {"AttributeName": "state_key", "KeyType": "RANGE"},
    ]
    attributes = [{"AttributeName": name, "AttributeType": "S"} for name in ("connection_id", "state_key")]
    template = {
        "Resources": {
            # CDK's logical id of Tables/sync_state: the construct path and a hash.
            "Tablessyncstate5B1E8A3C": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "KeySchema": key_schema,
                    "AttributeDefinitions": attributes,
                    "BillingMode": "PAY_PER_REQUEST",
                },
            }
        }
    }
    boto3.client("cloudformation").create_stack(StackName="shop-stack", TemplateBody=json.dumps(template))
    seed_local_admin_password("unused")
    monkeypatch.delenv(SYNC_STATE.env_var)  # a shell with AWS credentials only
    assert main(["admin", "create-api-token", "--stack", "shop-stack", "--label", "in the stack"]) == 0
    capsys.readouterr()
    assert main(["admin", "list-api-tokens", "--stack", "shop-stack"]) == 0
    assert "in the stack" in capsys.readouterr().out
    monkeypatch.delenv(SYNC_STATE.env_var)
    assert main(["admin", "list-api-tokens", "--stack", "no-such-stack"]) == 2
    assert "no-such-stack" in capsys.readouterr().err

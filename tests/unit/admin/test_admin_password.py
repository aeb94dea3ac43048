"""The admin secret and ``bmsync admin set-password``: hashes only, never the password."""

from __future__ import annotations

import io
import json
from pathlib import Path

import boto3
import pytest

from bmsync.admin import credentials
from bmsync.cli import main
from bmsync.settings import ADMIN_SECRET_NAME
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


def test_cli_sets_password_from_stdin_and_keeps_api_tokens(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_local_admin_password("unused")
    token = credentials.add_api_token()
    old_key = _stored()["session_key"]
    monkeypatch.setattr("sys.stdin", io.StringIO("a brand new passphrase\n"))
    assert main(["admin", "set-password", "--password-stdin"]) == 0
    stored = _stored()
    assert credentials.verify_password("a brand new passphrase", stored["password_hash"])
    assert credentials.hash_api_token(token) in stored["api_token_hashes"]
    assert stored["session_key"] != old_key  # every session signed out
    assert "a brand new passphrase" not in capsys.readouterr().out


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
    assert main(["admin", "create-api-token"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert token.startswith("bmsync_")
    stored = _stored()
    assert token not in json.dumps(stored)
    assert stored["api_token_hashes"] == [credentials.hash_api_token(token)]

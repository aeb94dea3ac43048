"""Starting a listing import: an async Lambda invoke in AWS, the runtime's own starter elsewhere."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from bmsync.admin import ports
from bmsync.clock import ManualClock


def test_in_aws_the_import_is_an_async_invoke_of_listing_import(
    monkeypatch: pytest.MonkeyPatch, clock: ManualClock
) -> None:
    client = boto3.client("lambda", region_name="eu-west-1")
    stubber = Stubber(client)
    expected_event: dict[str, Any] = {
        "source": "bmsync.admin",  # on demand: it runs even if an import ran minutes ago
        "function": "listing_import",
        "scheduled_time": "2026-01-05T09:00:00Z",
        "connection_id": "shop-eu",
        "task": None,
        "options": {},
        "rerun": False,  # an on-demand import, not a scheduled run's rerun
    }
    stubber.add_response(
        "invoke",
        {"StatusCode": 202},
        {
            "FunctionName": "bmsync-listing-import",
            "InvocationType": "Event",
            "Payload": json.dumps(expected_event, separators=(",", ":")).encode(),
        },
    )
    monkeypatch.setattr(ports.boto3, "client", lambda service: client)
    monkeypatch.setenv(ports.LISTING_IMPORT_FUNCTION_ENV, "bmsync-listing-import")
    starter = ports.listing_import_starter(lambda: clock)
    assert isinstance(starter, ports.LambdaListingImportStarter)
    with stubber:
        starter("shop-eu")
        stubber.assert_no_pending_responses()


def test_outside_lambda_the_installed_local_starter_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ports.LISTING_IMPORT_FUNCTION_ENV, raising=False)
    started: list[str] = []
    monkeypatch.setattr(ports, "local_starter", started.append)
    starter = ports.listing_import_starter(ManualClock)
    assert starter is not None
    starter("demo")
    assert started == ["demo"]


def test_without_configuration_there_is_no_starter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ports.LISTING_IMPORT_FUNCTION_ENV, raising=False)
    monkeypatch.setattr(ports, "local_starter", None)
    assert ports.listing_import_starter(ManualClock) is None

"""Starting a listing import: an async Lambda invoke in AWS, in-process in the local sandbox."""

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


def test_outside_lambda_the_import_runs_in_process(
    monkeypatch: pytest.MonkeyPatch, clock: ManualClock
) -> None:
    monkeypatch.delenv(ports.LISTING_IMPORT_FUNCTION_ENV, raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    calls: list[tuple[dict[str, Any], Any]] = []
    monkeypatch.setattr(
        "bmsync.sync.listing_import.handle", lambda event, context, c: calls.append((event, c))
    )
    starter = ports.listing_import_starter(lambda: clock)
    assert isinstance(starter, ports.InProcessListingImportStarter)
    starter("demo")
    assert calls[0][0]["connection_id"] == "demo" and calls[0][0]["function"] == "listing_import"
    assert calls[0][1] is clock


def test_inside_lambda_without_configuration_there_is_no_starter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ports.LISTING_IMPORT_FUNCTION_ENV, raising=False)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "bmsync-admin")
    assert ports.listing_import_starter(ManualClock) is None

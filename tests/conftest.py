"""Fixtures every test layer shares: fake AWS credentials, moto, and the tables from their one definition."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bmsync.store.tables import local_table_environment

REPO = Path(__file__).resolve().parents[1]
#: What the tests read (Back Market's OpenAPI description, anonymized samples): tests/fixtures/README.md.
FIXTURES = REPO / "tests" / "fixtures"

# Never reach AWS from a test: fake credentials and a fixed region, set before boto3 is used.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ["AWS_DEFAULT_REGION"] = "eu-west-1"
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "bmsync")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.pop("AWS_ENDPOINT_URL", None)
# The tests run the emulators on 127.0.0.1, as the local runtime does (bmsync.settings.local_sandbox_hosts).
os.environ["BMSYNC_LOCAL_SANDBOX_HOSTS"] = "127.0.0.1,localhost"
# The table names CDK gives the functions in AWS; here the sandbox's names (bmsync-<name>).
for _variable, _table_name in local_table_environment().items():
    os.environ.setdefault(_variable, _table_name)


@pytest.fixture
def aws() -> Iterator[None]:
    """In-process moto with every bmsync table created from the shared definitions."""
    import boto3
    from moto import mock_aws

    from bmsync import secrets
    from bmsync.store import ALL_TABLES
    from bmsync.store.dynamo import reset_connections

    with mock_aws():
        reset_connections()
        secrets.reset_cache()
        client = boto3.client("dynamodb")
        for definition in ALL_TABLES:
            client.create_table(**definition.create_table_kwargs())
        yield
    reset_connections()
    secrets.reset_cache()


@pytest.fixture
def clock():
    from bmsync.clock import ManualClock

    return ManualClock()


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Everything the shared Powertools logger writes, through its real (redacting) formatter."""
    from bmsync.observability import logger

    handler = logger.registered_handler
    stream = io.StringIO()
    assert hasattr(handler, "setStream")
    previous = handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.setStream(previous)

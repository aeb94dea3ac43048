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


#: The files that take minutes (simulations), started first and in this order: ``make test`` hands
#: files out in collection order (``--dist loadfile --no-loadscope-reorder``), so each worker starts
#: on one of them and the short files fill in beside them, instead of them running last, one after
#: the other on one worker while the other idles.
SLOW_FILES_FIRST = (
    "tests/chaos/test_sim_short_run.py",
    "tests/chaos/test_sim_shadow_mode.py",
    "tests/chaos/test_bench_quick.py",
    "tests/sandbox/simulator/test_sim_replay.py",
    "tests/chaos/test_bench_scale.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        return SLOW_FILES_FIRST.index(path) if path in SLOW_FILES_FIRST else len(SLOW_FILES_FIRST)

    items.sort(key=rank)  # stable: every other file keeps its place


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

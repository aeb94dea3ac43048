"""Tables from their one definition, functions as the catalogue describes them, and the monitoring."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bmsync.catalog import FUNCTIONS
from bmsync.store.tables import ALL_TABLES, TableDef, by_logical_name
from infra.config import REPO
from infra.monitoring import TOKEN_REJECTED_METRIC


@pytest.mark.parametrize("definition", ALL_TABLES, ids=lambda d: d.logical_name)
def test_table_matches_its_definition_and_is_protected(deployed: Any, definition: TableDef) -> None:
    resource = deployed.raw["Resources"][
        deployed.logical_id(deployed.stack.tables.by_name[definition.logical_name])
    ]
    properties = resource["Properties"]
    expected = definition.create_table_kwargs()
    assert properties["KeySchema"] == expected["KeySchema"]
    assert sorted(properties["AttributeDefinitions"], key=str) == sorted(
        expected["AttributeDefinitions"], key=str
    )
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert properties["DeletionProtectionEnabled"] is True
    assert resource["DeletionPolicy"] == "Retain"
    indexes = {
        index["IndexName"]: (index["KeySchema"], index["Projection"]["ProjectionType"])
        for index in properties.get("GlobalSecondaryIndexes", [])
    }
    assert indexes == {
        index["IndexName"]: (index["KeySchema"], index["Projection"]["ProjectionType"])
        for index in expected.get("GlobalSecondaryIndexes", [])
    }
    if definition.ttl_attribute:
        assert properties["TimeToLiveSpecification"] == {
            "AttributeName": definition.ttl_attribute,
            "Enabled": True,
        }
    else:
        assert "TimeToLiveSpecification" not in properties
    if definition.stream:
        assert properties["StreamSpecification"] == {"StreamViewType": definition.stream}
    else:
        assert "StreamSpecification" not in properties


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda s: s.name)
def test_function_as_the_catalogue_describes_it(deployed: Any, spec: Any) -> None:
    function = deployed.stack.functions.by_name[spec.name]
    properties = deployed.raw["Resources"][deployed.logical_id(function)]["Properties"]
    assert properties["Runtime"] == "python3.12"
    assert properties["Architectures"] == ["x86_64"]
    assert properties["Handler"] == "handler.handler"
    assert properties["Timeout"] == spec.timeout_seconds
    assert properties["MemorySize"] == spec.memory_mb
    assert properties["TracingConfig"] == {"Mode": "Active"}
    assert properties["LoggingConfig"]["LogFormat"] == "JSON"
    assert properties["LoggingConfig"]["LogGroup"] == {
        "Ref": deployed.logical_id(deployed.stack.functions.log_groups[spec.name])
    }
    assert properties["Layers"] == [{"Ref": deployed.logical_id(deployed.stack.functions.layer)}]
    variables = properties["Environment"]["Variables"]
    table_variables = {key: value for key, value in variables.items() if key.startswith("BMSYNC_TABLE_")}
    tables = deployed.stack.tables.by_name
    assert table_variables == {
        by_logical_name(name).env_var: {"Ref": deployed.logical_id(tables[name])} for name in spec.tables
    }
    assert variables["POWERTOOLS_SERVICE_NAME"] == "bmsync"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "bmsync"
    if spec.function_url:
        assert properties["ReservedConcurrentExecutions"] == 5  # the public admin is capped
    elif spec.calls_backmarket:
        # quantity_sync reads two streams and runs a schedule: it needs three at once.
        expected = 3 if spec.name == "quantity_sync" else 2
        assert properties["ReservedConcurrentExecutions"] == expected
    else:
        assert "ReservedConcurrentExecutions" not in properties


def test_every_log_group_has_a_retention(deployed: Any, customized: Any) -> None:
    groups = deployed.resources("AWS::Logs::LogGroup")
    assert len(groups) == len(FUNCTIONS)
    assert {group["Properties"]["RetentionInDays"] for group in groups.values()} == {30}
    custom = customized.resources("AWS::Logs::LogGroup").values()
    assert {group["Properties"]["RetentionInDays"] for group in custom} == {90}


def _alarms_on(deployed: Any, metric_name: str) -> list[dict[str, Any]]:
    return [
        alarm["Properties"]
        for alarm in deployed.resources("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == metric_name
    ]


def _dimension(alarm: dict[str, Any], name: str) -> Any:
    return next(d["Value"] for d in alarm["Dimensions"] if d["Name"] == name)


def test_alarms_on_errors_throttles_and_iterator_age_of_every_function(deployed: Any) -> None:
    topic = {"Ref": deployed.logical_id(deployed.stack.monitoring.topic)}
    functions = {
        spec.name: {"Ref": deployed.logical_id(deployed.stack.functions.by_name[spec.name])}
        for spec in FUNCTIONS
    }
    for metric in ("Errors", "Throttles"):
        alarms = _alarms_on(deployed, metric)
        assert sorted(map(str, (_dimension(a, "FunctionName") for a in alarms))) == sorted(
            map(str, functions.values())
        )
        assert all(a["AlarmActions"] == [topic] and a["Threshold"] == 1 for a in alarms)
    iterator = _alarms_on(deployed, "IteratorAge")
    streamed = [functions[spec.name] for spec in FUNCTIONS if spec.streams]
    assert sorted(map(str, (_dimension(a, "FunctionName") for a in iterator))) == sorted(map(str, streamed))
    assert all(a["Threshold"] == 15 * 60 * 1000 for a in iterator)


def test_every_dead_letter_queue_is_alarmed(deployed: Any) -> None:
    reruns = {deployed.logical_id(queue) for queue in deployed.stack.functions.rerun_queues.values()}
    # The rerun queues (test_infra_reruns.py) hand each message to their function at once.
    queues = {lid: queue for lid, queue in deployed.resources("AWS::SQS::Queue").items() if lid not in reruns}
    alarmed = {
        _dimension(alarm, "QueueName")["Fn::GetAtt"][0]
        for alarm in _alarms_on(deployed, "ApproximateNumberOfMessagesVisible")
    }
    assert alarmed == set(queues)
    # One per function that Lambda invokes asynchronously or from a stream, and Scheduler's own.
    assert len(queues) == len([s for s in FUNCTIONS if s.schedules or s.streams]) + 1
    for queue in queues.values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
        assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_revoked_back_market_token_is_alarmed_from_the_logs_of_every_back_market_caller(
    deployed: Any,
) -> None:
    filters = deployed.resources("AWS::Logs::MetricFilter").values()
    log_groups = deployed.stack.functions.log_groups
    watched = {f["Properties"]["LogGroupName"]["Ref"] for f in filters}
    assert watched == {deployed.logical_id(log_groups[s.name]) for s in FUNCTIONS if s.calls_backmarket}
    for metric_filter in filters:
        function = next(
            s
            for s in FUNCTIONS
            if metric_filter["Properties"]["LogGroupName"]["Ref"] == deployed.logical_id(log_groups[s.name])
        )
        pattern = metric_filter["Properties"]["FilterPattern"]
        assert '$.error_type = "Unauthorized"' in pattern
        # WholeCell's 401 is an Unauthorized too: where both are called, the service must be Back Market.
        assert ('$.remote_service = "backmarket"' in pattern) is function.calls_wholecell
        [transform] = metric_filter["Properties"]["MetricTransformations"]
        assert (transform["MetricNamespace"], transform["MetricName"]) == ("bmsync", TOKEN_REJECTED_METRIC)
    [alarm] = _alarms_on(deployed, TOKEN_REJECTED_METRIC)
    assert "Recover my token" in alarm["AlarmDescription"]


@pytest.mark.usefixtures("aws")
def test_token_rejection_pattern_matches_what_the_flow_runner_logs(clock: Any) -> None:
    """A flow stopped by a rejected token logs a line the metric filter's fields match."""
    import io
    import logging

    from bmsync.backmarket.errors import Unauthorized
    from bmsync.observability import logger
    from bmsync.store.sync_state import SyncStateRepository
    from bmsync.sync.flow import run_flow

    def body(run: Any) -> None:
        raise Unauthorized()

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    std_logger = logging.getLogger(logger.name)
    std_logger.addHandler(handler)
    try:
        run_flow("order_import", SyncStateRepository("default", clock), clock, body, services=("backmarket",))
    finally:
        std_logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert any(
        line.get("remote_service") == "backmarket" and line.get("error_type") == "Unauthorized"
        for line in lines
    ), lines


def test_dashboard_exists(deployed: Any) -> None:
    [dashboard] = deployed.resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for title in ("Invocations", "Errors and throttles", "Stream iterator age", "Dead letters waiting"):
        assert title in body
    # The Status page's figures, from the EMF metrics the functions publish (every connection's line).
    searches = body.replace("\\", "")
    for metric in (
        "QuantitySyncLatency",
        "OrderImportLatency",
        "ShipmentExportLatency",
        "OrdersImported",
        "QuantitiesPushed",
        "ShipmentsExported",
        "BackMarketSkuUpdatesRemaining",
        "BackMarketRequestsRemaining",
        "Errors",
    ):
        assert f"SEARCH('{{bmsync,connection,function,service}} MetricName=\"{metric}\"'" in searches, metric
    for statistic in ("p50", "p95", "Sum", "Minimum"):
        assert f"'{statistic}'" in searches


def test_a_flood_of_the_public_admin_leaves_the_sync_functions_their_concurrency(deployed: Any) -> None:
    """Issue 18, point 5: the admin's cap is small, and every Back Market caller keeps its own share."""
    reserved = {
        spec.name: deployed.raw["Resources"][
            deployed.logical_id(deployed.stack.functions.by_name[spec.name])
        ]["Properties"].get("ReservedConcurrentExecutions")
        for spec in FUNCTIONS
    }
    assert reserved.pop("admin") == 5
    for spec in FUNCTIONS:
        if spec.calls_backmarket:
            # At least one batch per stream and one scheduled run at once: a flood cannot throttle them.
            assert reserved[spec.name] >= max(1, len(spec.streams) + bool(spec.schedules)), spec.name
    # The account's quota must leave room for all of it: docs/deploy.md states the total.
    total = 5 + sum(n or 0 for n in reserved.values())
    documented = " ".join((REPO / "docs" / "deploy.md").read_text().split())
    assert f"reserved concurrency ({total} by default" in documented


@pytest.mark.parametrize(("table", "attribute"), [("orders", "expires_at"), ("sync_state", "expires_at")])
def test_rows_that_must_expire_have_a_ttl(deployed: Any, table: str, attribute: str) -> None:
    """Issue 18: finished orders (points 10) and sign-in failure rows in sync_state (point 8) expire."""
    properties = deployed.raw["Resources"][deployed.logical_id(deployed.stack.tables.by_name[table])][
        "Properties"
    ]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": attribute, "Enabled": True}
    assert by_logical_name(table).ttl_attribute == attribute

"""The stream pump has Lambda's semantics for DynamoDB stream event sources (against moto's server)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent

from bmsync.catalog import FunctionSpec, StreamSource
from bmsync.clock import ManualClock
from bmsync.store.tables import STOCK
from bmsync_sandbox.runtime.events import RuntimeEvent
from bmsync_sandbox.runtime.invoker import Invoker
from bmsync_sandbox.runtime.local_aws import LocalAws
from bmsync_sandbox.runtime.streams import DeadLetters, StreamPump

# A stream consumer for these tests. Each item says how the consumer treats it: "ok", "fail_once"
# (reported in batchItemFailures the first time it is seen), "fail_always" (reported every time) or
# "raise" (the function errors). Every invocation's records are appended to calls.jsonl.
CONSUMER = textwrap.dedent(
    """
    import json
    from pathlib import Path

    CALLS = Path(__file__).parent / "calls.jsonl"


    def handler(event, context):
        records = event["Records"]
        with CALLS.open("a") as file:
            file.write(json.dumps(records) + "\\n")
        seen = {}
        for line in CALLS.read_text().splitlines():
            for record in json.loads(line):
                key = record["dynamodb"]["Keys"]["variation_id"]["S"]
                seen[key] = seen.get(key, 0) + 1
        failures = []
        for record in records:
            image = record["dynamodb"].get("NewImage", {})
            behaviour = image.get("behaviour", {}).get("S", "ok")
            key = record["dynamodb"]["Keys"]["variation_id"]["S"]
            if behaviour == "raise":
                raise RuntimeError(f"cannot handle {key}")
            if behaviour == "fail_always" or (behaviour == "fail_once" and seen[key] == 1):
                failures.append({"itemIdentifier": record["dynamodb"]["SequenceNumber"]})
        return {"batchItemFailures": failures}
    """
)


@pytest.fixture
def local_aws() -> Iterator[LocalAws]:
    with LocalAws() as aws:
        yield aws


@pytest.fixture
def functions_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "functions" / "consumer"
    folder.mkdir(parents=True)
    (folder / "handler.py").write_text(CONSUMER)
    return tmp_path / "functions"


class Harness:
    def __init__(self, aws: LocalAws, functions_dir: Path, source: StreamSource, clock: ManualClock) -> None:
        spec = FunctionSpec("consumer", "test consumer", streams=(source,))
        self.clock = clock
        self.events: list[RuntimeEvent] = []
        self.dead_letters = DeadLetters(functions_dir.parent / "state" / "dead-letters.jsonl")
        self.calls_file = functions_dir / "consumer" / "calls.jsonl"
        self.pump = StreamPump(
            Invoker(clock, functions_dir=functions_dir, specs=(spec,)),
            clock,
            self.dead_letters,
            streams_client=aws.dynamodb_streams(),
            dynamodb_client=aws.dynamodb(),
            on_event=self.events.append,
        )
        self.table = boto3.resource("dynamodb").Table(STOCK.physical_name)

    def put(self, variation_id: str, behaviour: str = "ok", **extra: Any) -> None:
        self.table.put_item(
            Item={"connection_id": "uk", "variation_id": variation_id, "behaviour": behaviour, **extra}
        )

    def deliveries(self) -> list[list[str]]:
        """The variation ids of every invocation, in order."""
        if not self.calls_file.exists():
            return []
        return [
            [record["dynamodb"]["Keys"]["variation_id"]["S"] for record in json.loads(line)]
            for line in self.calls_file.read_text().splitlines()
        ]

    def raw_deliveries(self) -> list[list[dict[str, Any]]]:
        return [json.loads(line) for line in self.calls_file.read_text().splitlines()]


def harness(local_aws: LocalAws, functions_dir: Path, **source: Any) -> Harness:
    return Harness(local_aws, functions_dir, StreamSource(STOCK, **source), ManualClock())


def test_records_arrive_in_lambdas_event_shape(local_aws: LocalAws, functions_dir: Path) -> None:
    h = harness(local_aws, functions_dir)
    h.put("v1", quantity=3)
    h.table.update_item(
        Key={"connection_id": "uk", "variation_id": "v1"},
        UpdateExpression="SET quantity = :q",
        ExpressionAttributeValues={":q": 2},
    )
    assert h.pump.drain() == 1

    (records,) = h.raw_deliveries()
    stream_arn = boto3.client("dynamodb").describe_table(TableName=STOCK.physical_name)["Table"][
        "LatestStreamArn"
    ]
    event = DynamoDBStreamEvent({"Records": records})
    insert, modify = list(event.records)
    assert [record["eventName"] for record in records] == ["INSERT", "MODIFY"]
    assert {record["eventSourceARN"] for record in records} == {stream_arn}
    assert {record["eventSource"] for record in records} == {"aws:dynamodb"}
    assert {record["awsRegion"] for record in records} == {"eu-west-1"}
    assert insert.dynamodb is not None and modify.dynamodb is not None
    assert insert.dynamodb.keys == {"connection_id": "uk", "variation_id": "v1"}
    assert insert.dynamodb.new_image["quantity"] == 3
    assert modify.dynamodb.old_image["quantity"] == 3 and modify.dynamodb.new_image["quantity"] == 2
    assert int(modify.dynamodb.sequence_number or 0) > int(insert.dynamodb.sequence_number or 0)
    assert insert.dynamodb.stream_view_type is not None
    assert insert.dynamodb.stream_view_type.name == "NEW_AND_OLD_IMAGES"
    assert isinstance(records[0]["dynamodb"]["ApproximateCreationDateTime"], int)


def test_batches_hold_at_most_batch_size_records_in_stream_order(
    local_aws: LocalAws, functions_dir: Path
) -> None:
    h = harness(local_aws, functions_dir, batch_size=3)
    for number in range(7):
        h.put(f"v{number}")
    assert h.pump.drain() == 3
    assert h.deliveries() == [["v0", "v1", "v2"], ["v3", "v4", "v5"], ["v6"]]
    assert [event.outcome for event in h.events] == ["ok", "ok", "ok"]
    assert h.events[0].trigger == "stream:stock" and h.events[0].connection == "uk"


def test_a_partial_failure_redelivers_from_the_lowest_failed_record(
    local_aws: LocalAws, functions_dir: Path
) -> None:
    h = harness(local_aws, functions_dir, batch_size=4)
    h.put("a")
    h.put("b", "fail_once")
    h.put("c")
    h.put("d", "fail_once")
    h.pump.drain()
    # a is checkpointed; b, c and d come again (d is reported too, but redelivery starts at b).
    assert h.deliveries() == [["a", "b", "c", "d"], ["b", "c", "d"]]
    assert [event.outcome for event in h.events] == ["partial", "ok"]
    assert h.dead_letters.read() == []


def test_an_unknown_item_identifier_fails_the_whole_batch(local_aws: LocalAws, functions_dir: Path) -> None:
    (functions_dir / "consumer" / "handler.py").write_text(
        textwrap.dedent(
            """
            import json
            from pathlib import Path

            def handler(event, context):
                calls = Path(__file__).parent / "calls.jsonl"
                first = not calls.exists()
                with calls.open("a") as file:
                    file.write(json.dumps(event["Records"]) + "\\n")
                return {"batchItemFailures": [{"itemIdentifier": "not-a-sequence-number"}] if first else []}
            """
        )
    )
    h = harness(local_aws, functions_dir)
    h.put("a")
    h.put("b")
    h.pump.drain()
    assert h.deliveries() == [["a", "b"], ["a", "b"]]


def test_after_the_retry_budget_a_batch_goes_to_the_dead_letter_file_and_the_next_batch_flows(
    local_aws: LocalAws, functions_dir: Path
) -> None:
    h = harness(local_aws, functions_dir, batch_size=2, max_retries=2, bisect_on_error=False)
    h.put("bad", "fail_always")
    h.put("ok1")
    h.put("ok2")
    h.pump.drain()

    # The first batch is tried 1 + 2 times, then given up; the batch after it is delivered.
    assert h.deliveries() == [["bad", "ok1"], ["bad", "ok1"], ["bad", "ok1"], ["ok2"]]
    (letter,) = h.dead_letters.read()
    assert letter["function"] == "consumer" and letter["table"] == "stock"
    assert letter["retries"] == 2
    assert "batchItemFailures" in letter["reason"]
    assert [record["keys"] for record in letter["records"]] == [
        {"connection_id": "uk", "variation_id": "bad"},
        {"connection_id": "uk", "variation_id": "ok1"},
    ]
    assert letter["start_sequence_number"] == letter["records"][0]["sequence_number"]
    assert [event.outcome for event in h.events] == ["partial", "partial", "dead-letter", "ok"]


def test_a_function_error_bisects_the_batch_until_the_bad_record_is_alone(
    local_aws: LocalAws, functions_dir: Path
) -> None:
    h = harness(local_aws, functions_dir, batch_size=4, max_retries=1, bisect_on_error=True)
    h.put("a")
    h.put("b")
    h.put("bad", "raise")
    h.put("d")
    h.put("after")
    h.pump.drain()

    assert h.deliveries() == [
        ["a", "b", "bad", "d"],  # error: split (not a retry)
        ["a", "b"],  # fine
        ["bad", "d"],  # error: split
        ["bad"],  # error: retry 1/1
        ["bad"],  # error: retries exhausted -> dead letter
        ["d"],
        ["after"],
    ]
    (letter,) = h.dead_letters.read()
    assert letter["reason"] == "RuntimeError: cannot handle bad"
    assert letter["error_type"] == "RuntimeError"
    assert [record["keys"]["variation_id"] for record in letter["records"]] == ["bad"]


def test_records_older_than_the_maximum_age_are_dead_lettered(
    local_aws: LocalAws, functions_dir: Path
) -> None:
    h = harness(local_aws, functions_dir, max_retries=1000, max_record_age_seconds=60, bisect_on_error=False)
    h.put("stuck", "raise")
    assert h.pump.pump_once() == 1
    h.clock.advance(61)
    h.put("fresh")
    h.pump.drain()
    (letter,) = h.dead_letters.read()
    assert "maximum record age" in letter["reason"]
    assert [record["keys"]["variation_id"] for record in letter["records"]] == ["stuck"]
    assert h.deliveries() == [["stuck"], ["fresh"]]


def test_a_functions_own_writes_are_filtered_out(local_aws: LocalAws, functions_dir: Path) -> None:
    h = harness(local_aws, functions_dir)
    h.put("mine", last_writer="consumer")
    h.put("theirs", last_writer="wholecell_watch")
    h.pump.drain()
    assert h.deliveries() == [["theirs"]]


def test_pump_once_does_nothing_when_the_stream_is_quiet(local_aws: LocalAws, functions_dir: Path) -> None:
    h = harness(local_aws, functions_dir)
    assert h.pump.pump_once() == 0
    assert not h.pump.busy
    h.put("later")
    assert h.pump.pump_once() == 1
    assert h.pump.pump_once() == 0
    assert h.deliveries() == [["later"]]


def test_the_catalogues_filters_apply_event_names_and_states(
    local_aws: LocalAws, functions_dir: Path
) -> None:
    h = harness(local_aws, functions_dir, only_when=("behaviour", ("ok",)))
    h.put("wanted")
    h.put("other-state", "fail_once")
    h.table.delete_item(Key={"connection_id": "uk", "variation_id": "wanted"})  # REMOVE: not asked for
    h.pump.drain()
    assert h.deliveries() == [["wanted"]]


def test_removals_reach_a_source_that_asks_for_them(local_aws: LocalAws, functions_dir: Path) -> None:
    h = harness(local_aws, functions_dir, event_names=("INSERT", "MODIFY", "REMOVE"))
    h.put("gone", last_writer="consumer")  # its own write: filtered out
    h.table.delete_item(Key={"connection_id": "uk", "variation_id": "gone"})
    h.pump.drain()
    (records,) = h.raw_deliveries()
    assert [record["eventName"] for record in records] == ["REMOVE"]
    assert "NewImage" not in records[0]["dynamodb"] and "OldImage" in records[0]["dynamodb"]

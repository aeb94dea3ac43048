"""DynamoDB stream event sources with Lambda's semantics, pumped step by step.

For every function subscribed to a table's stream (``bmsync.catalog``), the pump reads the stream
from moto, drops the records the event source's filter patterns reject (the very patterns CDK puts on
the event source: no own writes, only the event names and states the function acts on), and invokes
the function with batches of at most ``batch_size`` records in Lambda's event shape. As Lambda does:

* a partial batch response (``batchItemFailures``) checkpoints the records before the lowest failed
  sequence number and redelivers from there; an identifier that is not in the batch fails the batch;
* a function error splits the batch in two when ``bisect_on_error`` is on (splitting does not count
  as a retry), otherwise retries it;
* after ``max_retries`` retries (or once a record is older than ``max_record_age_seconds``) what is
  left of the batch goes to the dead-letter file with the reason, and the records after it flow on.

Nothing runs in the background: :meth:`StreamPump.pump_once` does one invocation per subscription
that has work, :meth:`StreamPump.drain` repeats it until every stream is consumed. A loop (``bmsync
up``) or a simulator (driving a ManualClock) decides when.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bmsync.catalog import StreamSource
from bmsync.clock import Clock, utc_iso
from bmsync_sandbox.runtime.event_filter import matches_filter
from bmsync_sandbox.runtime.events import EventSink, RuntimeEvent, ignore_events, summarize
from bmsync_sandbox.runtime.invoker import Invocation, Invoker
from bmsync_sandbox.runtime.local_aws import REGION

READ_LIMIT = 1000  # records per GetRecords call


class DeadLetters:
    """The local stand-in for the event sources' on-failure destination: one JSON line per batch."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, sort_keys=True, default=str)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as file:
                file.write(line + "\n")

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]


@dataclass
class _Delivery:
    """Records handed to the function together, and how many times they have failed."""

    records: list[dict[str, Any]]
    failures: int = 0


@dataclass
class Subscription:
    """One event source mapping: a function reading one table's stream."""

    function: str
    source: StreamSource
    stream_arn: str
    filter_patterns: list[dict[str, Any]] = field(default_factory=list)
    shard_iterators: dict[str, str | None] = field(default_factory=dict)
    waiting: deque[dict[str, Any]] = field(default_factory=deque)  # read, not yet in a delivery
    deliveries: deque[_Delivery] = field(default_factory=deque)  # in order; the first one is next

    @property
    def table(self) -> str:
        return self.source.table.logical_name

    @property
    def busy(self) -> bool:
        return bool(self.waiting or self.deliveries)


class StreamPump:
    def __init__(
        self,
        invoker: Invoker,
        clock: Clock,
        dead_letters: DeadLetters,
        *,
        streams_client: Any,
        dynamodb_client: Any,
        functions: set[str] | None = None,
        on_event: EventSink = ignore_events,
        region: str = REGION,
    ) -> None:
        """Subscribe every stream-triggered function of the invoker (or only ``functions``)."""
        self.invoker = invoker
        self.clock = clock
        self.dead_letters = dead_letters
        self._streams = streams_client
        self._on_event = on_event
        self._region = region
        self._lock = threading.Lock()
        self.subscriptions: list[Subscription] = []
        for spec in invoker.specs.values():
            if functions is not None and spec.name not in functions:
                continue
            for source in spec.streams:
                described = dynamodb_client.describe_table(TableName=source.table.physical_name)
                stream_arn = described["Table"]["LatestStreamArn"]
                self.subscriptions.append(
                    Subscription(spec.name, source, stream_arn, source.filter_patterns(spec.name))
                )

    # -- reading
    def _read(self, subscription: Subscription) -> None:
        if not subscription.shard_iterators:
            shards = self._streams.describe_stream(StreamArn=subscription.stream_arn)["StreamDescription"]
            for shard in shards.get("Shards", []):
                iterator = self._streams.get_shard_iterator(
                    StreamArn=subscription.stream_arn,
                    ShardId=shard["ShardId"],
                    ShardIteratorType="TRIM_HORIZON",
                )["ShardIterator"]
                subscription.shard_iterators[shard["ShardId"]] = iterator
        received_at = self.clock.now()
        for shard_id, iterator in list(subscription.shard_iterators.items()):
            if iterator is None:
                continue  # a closed shard
            page = self._streams.get_records(ShardIterator=iterator, Limit=READ_LIMIT)
            subscription.shard_iterators[shard_id] = page.get("NextShardIterator")
            for raw in page.get("Records", []):
                record = self._lambda_record(raw, subscription.stream_arn, received_at)
                if any(matches_filter(pattern, record) for pattern in subscription.filter_patterns):
                    subscription.waiting.append(record)

    def _lambda_record(self, raw: dict[str, Any], stream_arn: str, received_at: datetime) -> dict[str, Any]:
        stream = raw["dynamodb"]
        dynamodb: dict[str, Any] = {
            "ApproximateCreationDateTime": int(received_at.timestamp()),
            "Keys": _wire(stream["Keys"]),
            "SequenceNumber": str(stream["SequenceNumber"]),
            "SizeBytes": int(stream.get("SizeBytes", 0)),
            "StreamViewType": stream["StreamViewType"],
        }
        for image in ("NewImage", "OldImage"):
            if image in stream:
                dynamodb[image] = _wire(stream[image])
        return {
            "eventID": raw["eventID"],
            "eventName": raw["eventName"],
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": self._region,
            "dynamodb": dynamodb,
            "eventSourceARN": stream_arn,
        }

    # -- delivering
    def pump_once(self) -> int:
        """Read every stream and make at most one invocation per subscription; the number made."""
        invocations = 0
        with self._lock:
            for subscription in self.subscriptions:
                self._read(subscription)
                if self._deliver_next(subscription):
                    invocations += 1
        return invocations

    def drain(self, max_invocations: int = 10_000) -> int:
        """Pump until every stream is consumed (retries included); the number of invocations."""
        total = 0
        while total < max_invocations:
            made = self.pump_once()
            total += made
            if made == 0 and not self.busy:
                return total
        raise RuntimeError(f"the streams did not drain within {max_invocations} invocations")

    @property
    def busy(self) -> bool:
        return any(subscription.busy for subscription in self.subscriptions)

    def _deliver_next(self, subscription: Subscription) -> bool:
        if not subscription.deliveries and subscription.waiting:
            batch = [
                subscription.waiting.popleft()
                for _ in range(min(subscription.source.batch_size, len(subscription.waiting)))
            ]
            subscription.deliveries.append(_Delivery(batch))
        if not subscription.deliveries:
            return False
        delivery = subscription.deliveries[0]
        self._expire_old_records(subscription, delivery)
        if not delivery.records:
            subscription.deliveries.popleft()
            return False
        invocation = self.invoker.invoke(subscription.function, {"Records": delivery.records})
        self._settle(subscription, delivery, invocation)
        return True

    def _expire_old_records(self, subscription: Subscription, delivery: _Delivery) -> None:
        oldest_allowed = self.clock.now() - timedelta(seconds=subscription.source.max_record_age_seconds)
        expired = [r for r in delivery.records if _received_at(r) < oldest_allowed]
        if expired:
            delivery.records = [r for r in delivery.records if r not in expired]
            max_age = subscription.source.max_record_age_seconds
            reason = f"older than the event source's maximum record age ({max_age} s)"
            self._dead_letter(subscription, _Delivery(expired, delivery.failures), reason, None)

    def _settle(self, subscription: Subscription, delivery: _Delivery, invocation: Invocation) -> None:
        source = subscription.source
        if invocation.ok:
            failed_from = _first_failed_index(delivery.records, invocation.result)
            if failed_from is None:
                subscription.deliveries.popleft()
                self._report(subscription, delivery.records, "ok", f"{len(delivery.records)} record(s)")
                return
            delivery.records = delivery.records[failed_from:]
            reason = f"{len(delivery.records)} record(s) reported in batchItemFailures"
            error_type: str | None = "PartialBatchFailure"
        else:
            reason = f"{invocation.error_type}: {invocation.error}"
            error_type = invocation.error_type
            if source.bisect_on_error and len(delivery.records) > 1:
                # Splitting does not count as a retry; each half goes again, in order.
                middle = len(delivery.records) // 2
                subscription.deliveries.popleft()
                subscription.deliveries.extendleft(
                    [
                        _Delivery(delivery.records[middle:], delivery.failures),
                        _Delivery(delivery.records[:middle], delivery.failures),
                    ]
                )
                self._report(subscription, delivery.records, "bisect", summarize(reason))
                return
        delivery.failures += 1
        if delivery.failures > source.max_retries:
            subscription.deliveries.popleft()
            self._dead_letter(subscription, delivery, reason, error_type)
            return
        outcome = "partial" if error_type == "PartialBatchFailure" else "error"
        self._report(
            subscription,
            delivery.records,
            outcome,
            f"retry {delivery.failures}/{source.max_retries}: {summarize(reason)}",
        )

    def _dead_letter(
        self, subscription: Subscription, delivery: _Delivery, reason: str, error_type: str | None
    ) -> None:
        records = delivery.records
        self.dead_letters.write(
            {
                "function": subscription.function,
                "table": subscription.table,
                "stream_arn": subscription.stream_arn,
                "failed_at": utc_iso(self.clock.now()),
                "reason": reason,
                "error_type": error_type,
                "retries": max(0, delivery.failures - 1),
                "batch_size": len(records),
                "start_sequence_number": records[0]["dynamodb"]["SequenceNumber"],
                "end_sequence_number": records[-1]["dynamodb"]["SequenceNumber"],
                "records": [
                    {
                        "sequence_number": record["dynamodb"]["SequenceNumber"],
                        "event_name": record["eventName"],
                        "keys": _plain(record["dynamodb"]["Keys"]),
                    }
                    for record in records
                ],
            }
        )
        self._report(
            subscription,
            records,
            "dead-letter",
            f"{len(records)} record(s) after {max(0, delivery.failures - 1)} retries: {summarize(reason)} "
            f"(see {self.dead_letters.path})",
        )

    def _report(
        self, subscription: Subscription, records: list[dict[str, Any]], outcome: str, detail: str
    ) -> None:
        connections = sorted({str(_plain(r["dynamodb"]["Keys"]).get("connection_id", "-")) for r in records})
        self._on_event(
            RuntimeEvent(
                at=self.clock.now(),
                function=subscription.function,
                trigger=f"stream:{subscription.table}",
                connection=",".join(connections) or "-",
                outcome=outcome,
                detail=detail,
            )
        )


def _first_failed_index(records: list[dict[str, Any]], result: Any) -> int | None:
    """Where redelivery starts after a partial batch response, or None when the batch succeeded."""
    if not isinstance(result, dict):
        return None
    failures = result.get("batchItemFailures") or []
    if not failures:
        return None
    positions = {record["dynamodb"]["SequenceNumber"]: index for index, record in enumerate(records)}
    indexes = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if identifier not in positions:
            return 0  # an empty or unknown identifier fails the whole batch, as in Lambda
        indexes.append(positions[identifier])
    return min(indexes)


def _received_at(record: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(record["dynamodb"]["ApproximateCreationDateTime"], UTC)


def _wire(value: Any) -> Any:
    """boto3's parsed attribute values back to the JSON Lambda delivers (binary as base64)."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {key: _wire(item) for key, item in value.items()}
    if isinstance(value, list | set):
        return [_wire(item) for item in value]
    return value


def _plain(attributes: dict[str, Any]) -> dict[str, Any]:
    """``{"connection_id": {"S": "uk"}}`` -> ``{"connection_id": "uk"}`` (keys are strings or numbers)."""
    return {name: next(iter(value.values())) for name, value in attributes.items()}

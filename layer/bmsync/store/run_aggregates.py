"""Per-minute aggregates of every run, per connection, in ``sync_state`` (the status page's pictures).

One item per connection and minute (``state_key`` ``minute#<YYYY-MM-DDTHH:MM>``), written with one
``UpdateItem ADD`` per run (and per alert raised), deleted by the table's TTL a little after a day.
The attributes are counters:

- ``runs.<function>``, ``failed_runs``, ``errors``, ``alerts`` and the watched counts (``orders_imported``,
  ``quantities_pushed``, ``shipments_sent``);
- ``lat.<direction>.<bound>``: crossings of a direction whose latency fell in the bucket ending at
  ``bound`` seconds (a fixed-bucket sketch, from which p50/p95 are read);
- ``sku_left`` and ``requests_left`` are set (not added): Back Market's budgets after the last push.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bmsync.clock import parse_iso
from bmsync.observability import LATENCY_BUCKETS, RunMeasures, run_errors
from bmsync.store.dynamo import from_dynamo, paginate, table, to_dynamo
from bmsync.store.tables import SYNC_STATE

if TYPE_CHECKING:
    from bmsync.store.sync_state import RunRecord

PREFIX = "minute#"
#: A day of pictures, plus an hour so that the oldest minute of the day is still there.
KEEP = timedelta(hours=25)
#: ``(flow, count) -> attribute``: what a person reads per hour.
WATCHED = {
    ("order_import", "imported"): "orders_imported",
    ("quantity_sync", "pushed"): "quantities_pushed",
    ("quantity_sync.drift_check", "pushed"): "quantities_pushed",
    ("shipment_export", "sent"): "shipments_sent",
}
DIRECTIONS = ("QuantitySync", "OrderImport", "ShipmentExport")


def minute_key(moment: datetime) -> str:
    return PREFIX + moment.strftime("%Y-%m-%dT%H:%M")


@dataclass
class Minute:
    """One minute of one connection, as read back."""

    minute: datetime
    counts: dict[str, int] = field(default_factory=dict)
    latency: dict[str, dict[int, int]] = field(default_factory=dict)
    sku_left: int | None = None
    requests_left: int | None = None

    def count(self, name: str) -> int:
        return self.counts.get(name, 0)


class RunAggregatesRepository:
    def __init__(self, connection_id: str, dynamo_table: Any | None = None) -> None:
        self.connection_id = connection_id
        self._table = dynamo_table if dynamo_table is not None else table(SYNC_STATE)

    def _add(self, moment: datetime, counters: dict[str, int], settings: dict[str, int]) -> None:
        """``counters`` (never empty) are added, ``settings`` set, and the expiry moved on."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {":expires": int((moment + KEEP).timestamp())}
        adds: list[str] = []
        sets = ["expires_at = :expires"]
        for index, (name, amount) in enumerate(sorted(counters.items())):
            names[f"#a{index}"] = name
            values[f":a{index}"] = amount
            adds.append(f"#a{index} :a{index}")
        for index, (name, value) in enumerate(sorted(settings.items())):
            names[f"#s{index}"] = name
            values[f":s{index}"] = value
            sets.append(f"#s{index} = :s{index}")
        expression = "SET " + ", ".join(sets) + (" ADD " + ", ".join(adds) if adds else "")
        self._table.update_item(
            Key={"connection_id": self.connection_id, "state_key": minute_key(moment)},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def add_run(self, function: str, run: RunRecord, measures: RunMeasures) -> None:
        """One run into its minute (the minute it finished): one ``UpdateItem``."""
        counters = {
            f"runs.{function}": 1,
            "errors": run_errors(run),
            "failed_runs": int(run.status == "failed"),
        }
        for (flow, count), name in WATCHED.items():
            if run.flow == flow and run.counts.get(count):
                counters[name] = counters.get(name, 0) + run.counts[count]
        for direction, buckets in measures.latency_counts.items():
            for bound, amount in buckets.items():
                counters[f"lat.{direction}.{bound}"] = amount
        budgets = {}
        if measures.sku_updates_left is not None:
            budgets["sku_left"] = measures.sku_updates_left
        if measures.requests_left is not None:
            budgets["requests_left"] = measures.requests_left
        self._add(parse_iso(run.finished_at or run.started_at), counters, budgets)

    def add_alert(self, moment: datetime) -> None:
        self._add(moment, {"alerts": 1}, {})

    def minutes(self, since: datetime, until: datetime) -> list[Minute]:
        """The minutes from ``since`` to ``until`` that saw a run, oldest first."""
        items = paginate(
            self._table.query,
            KeyConditionExpression="connection_id = :c AND state_key BETWEEN :a AND :b",
            ExpressionAttributeValues=to_dynamo(
                {":c": self.connection_id, ":a": minute_key(since), ":b": minute_key(until)}
            ),
        )
        return [_minute(from_dynamo(item)) for item in items]


def _minute(item: dict[str, Any]) -> Minute:
    minute = Minute(minute=parse_iso(item["state_key"].removeprefix(PREFIX) + ":00+00:00"))
    for name, value in item.items():
        if name.startswith("lat."):
            _, direction, bound = name.split(".")
            minute.latency.setdefault(direction, {})[int(bound)] = int(value)
        elif name in ("sku_left", "requests_left"):
            setattr(minute, name, int(value))
        elif name not in ("connection_id", "state_key", "expires_at"):
            minute.counts[name] = int(value)
    return minute


def percentile(buckets: dict[int, int], fraction: float) -> int | None:
    """The upper bound of the latency bucket holding the ``fraction`` quantile (None without samples)."""
    total = sum(buckets.values())
    if not total:
        return None
    rank = fraction * total
    seen = 0
    for bound in LATENCY_BUCKETS:
        seen += buckets.get(bound, 0)
        if seen >= rank:
            return bound
    return LATENCY_BUCKETS[-1]

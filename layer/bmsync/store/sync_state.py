"""Cursors, locks with expiry, run records and alerts of each flow (the ``sync_state`` table)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from bmsync.clock import Clock, utc_iso
from bmsync.store.dynamo import from_dynamo, paginate, table, to_dynamo
from bmsync.store.run_aggregates import RunAggregatesRepository
from bmsync.store.tables import SYNC_STATE

Severity = Literal["info", "warning", "error", "critical"]


class RunRecord(BaseModel):
    """What one run of a flow did (every flow's one result type): scheduled runs are stored and shown on
    the admin's status page; stream batches' runs are logged and measured."""

    flow: str
    run_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: str
    finished_at: str | None = None
    status: Literal["running", "succeeded", "failed", "skipped"] = "running"
    counts: dict[str, int] = Field(default_factory=dict)
    progress: str = ""
    error: str | None = None

    def count(self, name: str, amount: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + amount


class Alert(BaseModel):
    """Something a person must act on, in plain words, with the action that fixes it."""

    alert_id: str
    severity: Severity = "error"
    message: str
    action: str = ""
    subject: str = ""  # e.g. "listing 5874627", "order 123456", "connection"
    raised_at: str
    count: int = 1


class SyncStateRepository:
    def __init__(self, connection_id: str, clock: Clock, dynamo_table: Any | None = None) -> None:
        self.connection_id = connection_id
        self._clock = clock
        self._table = dynamo_table if dynamo_table is not None else table(SYNC_STATE)

    def _key(self, state_key: str) -> dict[str, str]:
        return {"connection_id": self.connection_id, "state_key": state_key}

    def _get(self, state_key: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key=self._key(state_key), ConsistentRead=True).get("Item")
        return from_dynamo(item) if item else None

    # -- cursors
    def get_cursor(self, flow: str) -> str | None:
        item = self._get(f"cursor#{flow}")
        return str(item["value"]) if item else None

    def set_cursor(self, flow: str, value: str) -> None:
        self._table.put_item(
            Item={**self._key(f"cursor#{flow}"), "value": value, "updated_at": utc_iso(self._clock.now())}
        )

    # -- generic small documents (e.g. "last reconciliation", per-flow memory)
    def get_document(self, name: str) -> dict[str, Any] | None:
        item = self._get(f"doc#{name}")
        return json.loads(item["document"]) if item else None

    def put_document(self, name: str, document: dict[str, Any]) -> None:
        self._table.put_item(
            Item={
                **self._key(f"doc#{name}"),
                "document": json.dumps(document, sort_keys=True, default=str),
                "updated_at": utc_iso(self._clock.now()),
            }
        )

    def documents(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Every document whose name starts with ``prefix``, by name (one query)."""
        return {
            str(item["state_key"]).removeprefix("doc#"): json.loads(item["document"])
            for item in self._query_prefix(f"doc#{prefix}")
        }

    def delete_document(self, name: str) -> None:
        self._table.delete_item(Key=self._key(f"doc#{name}"))

    # -- locks with expiry: a crashed holder never blocks a flow for longer than the lease
    def acquire_lock(self, flow: str, owner: str, lease: timedelta) -> bool:
        now = self._clock.now()
        try:
            self._table.put_item(
                Item={
                    **self._key(f"lock#{flow}"),
                    "owner": owner,
                    "lease_until": utc_iso(now + lease),
                    "expires_at": int((now + lease + timedelta(days=1)).timestamp()),
                },
                ConditionExpression="attribute_not_exists(state_key) OR lease_until < :now OR #o = :owner",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":now": utc_iso(now), ":owner": owner},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release_lock(self, flow: str, owner: str) -> None:
        try:
            self._table.delete_item(
                Key=self._key(f"lock#{flow}"),
                ConditionExpression="#o = :owner",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":owner": owner},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    # -- run records: the last run of each flow, and the one before the current
    def start_run(self, flow: str) -> RunRecord:
        run = RunRecord(flow=flow, started_at=utc_iso(self._clock.now()))
        self.save_run(run)
        return run

    def save_run(self, run: RunRecord) -> None:
        self._table.put_item(Item={**self._key(f"run#{run.flow}"), "document": run.model_dump_json()})

    def finish_run(
        self, run: RunRecord, status: Literal["succeeded", "failed", "skipped"], error: str | None = None
    ) -> RunRecord:
        finished = run.model_copy(
            update={"status": status, "error": error, "finished_at": utc_iso(self._clock.now())}
        )
        self.save_run(finished)
        return finished

    def last_run(self, flow: str) -> RunRecord | None:
        item = self._get(f"run#{flow}")
        return RunRecord.model_validate_json(item["document"]) if item else None

    def runs(self) -> list[RunRecord]:
        return [RunRecord.model_validate_json(item["document"]) for item in self._query_prefix("run#")]

    # -- alerts: one item per alert id, raised again = counted, cleared when resolved
    def raise_alert(
        self,
        alert_id: str,
        message: str,
        *,
        severity: Severity = "error",
        action: str = "",
        subject: str = "",
        expires_in: timedelta | None = None,
    ) -> Alert:
        """Raise (or count again) an alert; ``expires_in``: the table's TTL removes it that long after
        it was last raised (for alerts that are moot once old)."""
        existing = self._get(f"alert#{alert_id}")
        count = 1
        raised_at = utc_iso(self._clock.now())
        if existing:
            previous = Alert.model_validate_json(existing["document"])
            count = previous.count + 1
            raised_at = previous.raised_at
        alert = Alert(
            alert_id=alert_id,
            severity=severity,
            message=message,
            action=action,
            subject=subject,
            raised_at=raised_at,
            count=count,
        )
        item: dict[str, Any] = {**self._key(f"alert#{alert_id}"), "document": alert.model_dump_json()}
        if expires_in is not None:
            item["expires_at"] = int((self._clock.now() + expires_in).timestamp())
        self._table.put_item(Item=item)
        if existing is None:
            RunAggregatesRepository(self.connection_id, self._table).add_alert(self._clock.now())
        return alert

    def clear_alert(self, alert_id: str) -> None:
        self._table.delete_item(Key=self._key(f"alert#{alert_id}"))

    def raised_alerts(self, alert_ids: Iterable[str]) -> list[str]:
        """Those of ``alert_ids`` that are raised: one read (keys only), whatever their number."""
        wanted = set(alert_ids)
        raised = [
            item["state_key"].removeprefix("alert#") for item in self._query_prefix("alert#", keys_only=True)
        ]
        return [alert_id for alert_id in raised if alert_id in wanted]

    def alerts(self) -> list[Alert]:
        order = {"critical": 0, "error": 1, "warning": 2, "info": 3}
        alerts = [Alert.model_validate_json(item["document"]) for item in self._query_prefix("alert#")]
        return sorted(alerts, key=lambda alert: (order[alert.severity], alert.raised_at))

    def _query_prefix(self, prefix: str, *, keys_only: bool = False) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "connection_id = :c AND begins_with(state_key, :p)",
            "ExpressionAttributeValues": to_dynamo({":c": self.connection_id, ":p": prefix}),
            "ConsistentRead": True,
        }
        if keys_only:
            kwargs["ProjectionExpression"] = "state_key"
        return list(paginate(self._table.query, **kwargs))

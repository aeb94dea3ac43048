"""The admin's own records in ``sync_state`` (partition ``_admin``): sign-in counters, sessions, API tokens.

Every record carries ``expires_at`` (epoch seconds, the table's TTL attribute), so DynamoDB removes
what has lapsed; the code still checks expiry itself (TTL deletes lazily, within a couple of days).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

from bmsync.clock import Clock, parse_iso, utc_iso
from bmsync.store.dynamo import from_dynamo, paginate, table, to_dynamo
from bmsync.store.tables import SYNC_STATE

#: sync_state rows of the admin itself (not of a connection).
ADMIN_STATE_PARTITION = "_admin"


class ApiTokenRecord(BaseModel):
    """An API bearer token as stored: its hash, never the token."""

    token_id: str
    label: str
    token_hash: str
    created_at: str | None = None  # None: created before tokens were recorded one by one
    expires_at: str | None = None  # None: never expires (only tokens migrated from the admin secret)
    last_used_at: str | None = None


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


class AdminAuthStore:
    def __init__(self, clock: Clock, dynamo_table: Any | None = None) -> None:
        self._clock = clock
        self._table = dynamo_table if dynamo_table is not None else table(SYNC_STATE)

    def _key(self, state_key: str) -> dict[str, str]:
        return {"connection_id": ADMIN_STATE_PARTITION, "state_key": state_key}

    def _keys_with_prefix(self, prefix: str, *, keys_only: bool = False) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "connection_id = :c AND begins_with(state_key, :p)",
            "ExpressionAttributeValues": to_dynamo({":c": ADMIN_STATE_PARTITION, ":p": prefix}),
            "ConsistentRead": True,
        }
        if keys_only:
            kwargs["ProjectionExpression"] = "state_key"
        return list(paginate(self._table.query, **kwargs))

    # -- counters: one atomic conditional ADD, so concurrent callers can never all get past the limit
    def take_attempt(self, counter: str, limit: int, window: timedelta) -> int | None:
        """Count one attempt in the current fixed window of ``counter``: the new count, or None when the
        window already holds ``limit`` attempts (nothing is counted then)."""
        now = self._clock.now()
        seconds = int(window.total_seconds())
        window_start = _epoch(now) // seconds * seconds
        try:
            reply = self._table.update_item(
                Key=self._key(f"attempts#{counter}#{window_start}"),
                UpdateExpression="ADD attempts :one SET expires_at = :expires",
                ConditionExpression="attribute_not_exists(attempts) OR attempts < :limit",
                ExpressionAttributeValues={
                    ":one": 1,
                    ":limit": limit,
                    ":expires": window_start + 2 * seconds,
                },
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return int(reply["Attributes"]["attempts"])

    def refund_attempt(self, counter: str, window: timedelta, counted_at: datetime) -> None:
        """Give back an attempt that turned out to be legitimate (a right password)."""
        seconds = int(window.total_seconds())
        window_start = _epoch(counted_at) // seconds * seconds
        try:
            self._table.update_item(
                Key=self._key(f"attempts#{counter}#{window_start}"),
                UpdateExpression="ADD attempts :minus_one",
                ConditionExpression="attempts > :zero",
                ExpressionAttributeValues={":minus_one": -1, ":zero": 0},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    # -- sessions
    def put_session(self, session_id: str, csrf: str, expires: datetime) -> None:
        self._table.put_item(
            Item={
                **self._key(f"session#{session_id}"),
                "csrf": csrf,
                "expires": utc_iso(expires),
                "expires_at": _epoch(expires),
            }
        )

    def session(self, session_id: str) -> tuple[str, datetime] | None:
        """The session's CSRF token and end, or None when there is no such session (ended, or never
        issued)."""
        item = self._table.get_item(Key=self._key(f"session#{session_id}"), ConsistentRead=True).get("Item")
        if not item:
            return None
        return str(item["csrf"]), parse_iso(str(item["expires"]))

    def delete_session(self, session_id: str) -> None:
        self._table.delete_item(Key=self._key(f"session#{session_id}"))

    def delete_all_sessions(self) -> int:
        keys = self._keys_with_prefix("session#", keys_only=True)
        for item in keys:
            self._table.delete_item(Key=self._key(item["state_key"]))
        return len(keys)

    # -- API tokens
    def put_api_token(self, record: ApiTokenRecord) -> None:
        item: dict[str, Any] = {
            **self._key(f"api-token#{record.token_id}"),
            "document": record.model_dump_json(),
        }
        if record.expires_at:
            # TTL removes the record a day after the token lapsed (the code refuses it at once).
            item["expires_at"] = _epoch(datetime.fromisoformat(record.expires_at) + timedelta(days=1))
        self._table.put_item(Item=item)

    @staticmethod
    def _token_from(item: dict[str, Any]) -> ApiTokenRecord:
        record = ApiTokenRecord.model_validate_json(item["document"])
        return record.model_copy(update={"last_used_at": item.get("last_used_at")})

    def api_token(self, token_id: str) -> ApiTokenRecord | None:
        item = self._table.get_item(Key=self._key(f"api-token#{token_id}"), ConsistentRead=True).get("Item")
        return self._token_from(from_dynamo(item)) if item else None

    def api_tokens(self) -> list[ApiTokenRecord]:
        return [self._token_from(item) for item in self._keys_with_prefix("api-token#")]

    def touch_api_token(self, token_id: str, used_at: datetime) -> None:
        """Note the token's last use; never brings back a token revoked meanwhile."""
        try:
            self._table.update_item(
                Key=self._key(f"api-token#{token_id}"),
                UpdateExpression="SET last_used_at = :used",
                ConditionExpression="attribute_exists(state_key)",
                ExpressionAttributeValues={":used": utc_iso(used_at)},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def delete_api_token(self, token_id: str) -> bool:
        """Delete the token's record; False when there was none."""
        reply = self._table.delete_item(Key=self._key(f"api-token#{token_id}"), ReturnValues="ALL_OLD")
        return bool(reply.get("Attributes"))

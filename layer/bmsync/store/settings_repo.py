"""Settings of each connection, with optimistic locking on ``version``.

The item holds the settings ``document`` and, beside it, ``secrets_version``: the stamp the admin
writes when it saves a token (a save of the settings never overwrites it).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from botocore.exceptions import ClientError

from bmsync.settings import STORED_ITEM, ConnectionMode, Settings
from bmsync.store.dynamo import paginate, table
from bmsync.store.tables import SETTINGS


class StaleSettings(Exception):
    """The settings were changed by someone else since they were read (a 409 for the admin)."""

    def __init__(self, connection_id: str, expected_version: int) -> None:
        super().__init__(
            f"the settings of connection {connection_id!r} changed since version {expected_version} "
            "was read; reload them and apply your change again"
        )
        self.connection_id = connection_id
        self.expected_version = expected_version


class SettingsRepository:
    def __init__(self, dynamo_table: Any | None = None) -> None:
        self._table = dynamo_table if dynamo_table is not None else table(SETTINGS)

    def _item(self, connection_id: str) -> dict[str, Any]:
        item = self._table.get_item(Key={"connection_id": connection_id}, ConsistentRead=True).get("Item")
        return item or {}

    def get(self, connection_id: str) -> Settings | None:
        """The stored settings (None before the first save, even when a token was saved)."""
        return _settings(self._item(connection_id))

    def get_or_default(self, connection_id: str) -> Settings:
        item = self._item(connection_id)
        # A connection never saved starts in shadow mode: it writes nothing until a person goes live.
        return _settings(item) or Settings(
            connection_id=connection_id,
            secrets_version=str(item.get("secrets_version", "")),
            mode=ConnectionMode.SHADOW,
        )

    def list(self) -> list[Settings]:
        stored = (_settings(item) for item in paginate(self._table.scan, ConsistentRead=True))
        return sorted(
            (settings for settings in stored if settings is not None),
            key=lambda settings: settings.connection_id,
        )

    def stamp_secrets(self, connection_id: str) -> str:
        """Record that one of the connection's secrets changed: every container reads it again."""
        stamp = uuid.uuid4().hex
        self._table.update_item(
            Key={"connection_id": connection_id},
            UpdateExpression="SET secrets_version = :stamp",
            ExpressionAttributeValues={":stamp": stamp},
        )
        return stamp

    def delete(self, connection_id: str) -> bool:
        """Delete the connection's settings item; False when there was none."""
        old = self._table.delete_item(Key={"connection_id": connection_id}, ReturnValues="ALL_OLD")
        return bool(old.get("Attributes"))

    def save(self, settings: Settings) -> Settings:
        """Store ``settings`` if the stored version is still ``settings.version``; return the new one.

        Version 0 means "not stored yet". Raises :class:`StaleSettings` when someone saved in between.
        """
        expected = settings.version
        saved = settings.model_copy(update={"version": expected + 1})
        document = json.dumps(saved.model_dump(mode="json"), sort_keys=True)
        # An item holding only a secrets stamp has no version yet: it is "not stored yet" too.
        condition = "attribute_not_exists(#version)" if expected == 0 else "#version = :expected"
        values: dict[str, Any] = {":version": saved.version, ":document": document}
        if expected:
            values[":expected"] = expected
        try:
            # An update, not a put: the secrets stamp beside the document is kept.
            self._table.update_item(
                Key={"connection_id": saved.connection_id},
                UpdateExpression="SET #version = :version, #document = :document",
                ExpressionAttributeNames={"#version": "version", "#document": "document"},
                ExpressionAttributeValues=values,
                ConditionExpression=condition,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise StaleSettings(settings.connection_id, expected) from None
            raise
        return saved


def _settings(item: dict[str, Any]) -> Settings | None:
    if "document" not in item:
        return None
    stored = Settings.model_validate_json(str(item["document"]), context=STORED_ITEM)
    return stored.model_copy(update={"secrets_version": str(item.get("secrets_version", ""))})

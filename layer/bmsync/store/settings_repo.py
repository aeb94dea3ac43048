"""Settings of each connection, with optimistic locking on ``version``."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from bmsync.settings import Settings
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

    def get(self, connection_id: str) -> Settings | None:
        item = self._table.get_item(Key={"connection_id": connection_id}, ConsistentRead=True).get("Item")
        if not item:
            return None
        return Settings.model_validate_json(str(item["document"]))

    def get_or_default(self, connection_id: str) -> Settings:
        return self.get(connection_id) or Settings(connection_id=connection_id)

    def list(self) -> list[Settings]:
        return sorted(
            (
                Settings.model_validate_json(str(item["document"]))
                for item in paginate(self._table.scan, ConsistentRead=True)
            ),
            key=lambda settings: settings.connection_id,
        )

    def save(self, settings: Settings) -> Settings:
        """Store ``settings`` if the stored version is still ``settings.version``; return the new one.

        Version 0 means "not stored yet". Raises :class:`StaleSettings` when someone saved in between.
        """
        expected = settings.version
        saved = settings.model_copy(update={"version": expected + 1})
        document = json.dumps(saved.model_dump(mode="json"), sort_keys=True)
        condition: dict[str, Any]
        if expected == 0:
            condition = {"ConditionExpression": "attribute_not_exists(connection_id)"}
        else:
            condition = {
                "ConditionExpression": "version = :expected",
                "ExpressionAttributeValues": {":expected": expected},
            }
        try:
            self._table.put_item(
                Item={"connection_id": saved.connection_id, "version": saved.version, "document": document},
                **condition,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise StaleSettings(settings.connection_id, expected) from None
            raise
        return saved

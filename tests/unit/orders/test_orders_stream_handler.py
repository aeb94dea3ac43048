"""shipment_export's handler: Lambda's DynamoDB stream batch in, partial batch failures out."""

from __future__ import annotations

from typing import Any

from bmsync.catalog import by_name
from bmsync_sandbox.runtime.invoker import Invoker


def _record(sequence: str, image: dict[str, Any]) -> dict[str, Any]:
    return {
        "eventID": sequence,
        "eventName": "MODIFY",
        "eventSource": "aws:dynamodb",
        "eventSourceARN": "arn:aws:dynamodb:eu-west-1:123456789012:table/bmsync-orders/stream/x",
        "dynamodb": {
            "Keys": {"connection_id": {"S": "uk"}, "order_id": {"S": "1"}},
            "NewImage": image,
            "SequenceNumber": sequence,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


def test_own_writes_and_settled_exports_are_ignored_and_a_broken_record_is_reported(aws: None, clock) -> None:
    invoker = Invoker(clock, specs=(by_name("shipment_export"),))
    event = {
        "Records": [
            # Written by shipment_export itself: never re-triggers it.
            _record(
                "100",
                {
                    "connection_id": {"S": "uk"},
                    "order_id": {"S": "1"},
                    "export_state": {"S": "pending"},
                    "last_writer": {"S": "shipment_export"},
                },
            ),
            # Nothing to send.
            _record(
                "101",
                {
                    "connection_id": {"S": "uk"},
                    "order_id": {"S": "2"},
                    "export_state": {"S": "sent"},
                    "last_writer": {"S": "wholecell_watch"},
                },
            ),
            # A connection that no longer exists: nothing to do, not an error.
            _record(
                "102",
                {
                    "connection_id": {"S": "gone"},
                    "order_id": {"S": "3"},
                    "export_state": {"S": "pending"},
                    "last_writer": {"S": "wholecell_watch"},
                },
            ),
            # An image without its key cannot be handled: reported so Lambda retries, then dead-letters.
            _record(
                "103",
                {
                    "connection_id": {"S": "uk"},
                    "export_state": {"S": "pending"},
                    "last_writer": {"S": "wholecell_watch"},
                },
            ),
        ]
    }

    invocation = invoker.invoke("shipment_export", event)

    assert invocation.ok, invocation.error
    assert invocation.result == {"batchItemFailures": [{"itemIdentifier": "103"}]}

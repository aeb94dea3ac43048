"""Which points of the inferred WholeCell contract were seen to work on a connection's real account.

One ``sync_state`` document per connection, ``contract_confirmed``: ``{point: {"by": ..., "at": ...}}``.
A point is recorded by ``bmsync probe`` or by a flow that watched it work (order_import records
``external_id_lookup`` after it created an order and found it again by its external id). Rules that
would be unsafe on an unconfirmed point ask a person instead (order_import's unclear creates).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from bmsync.clock import utc_iso

DOCUMENT = "contract_confirmed"
#: ``find_sales_order_by_external_id`` finds an order bmsync created (the field round-trips).
EXTERNAL_ID_LOOKUP = "external_id_lookup"


class DocumentStore(Protocol):
    """What this uses of ``bmsync.store.sync_state.SyncStateRepository``."""

    def get_document(self, name: str) -> dict[str, Any] | None: ...
    def put_document(self, name: str, document: dict[str, Any]) -> None: ...


def is_confirmed(state: DocumentStore, point: str) -> bool:
    return point in (state.get_document(DOCUMENT) or {})


def record_confirmed(state: DocumentStore, point: str, *, by: str, at: datetime) -> None:
    document = state.get_document(DOCUMENT) or {}
    if point in document:
        return
    document[point] = {"by": by, "at": utc_iso(at)}
    state.put_document(DOCUMENT, document)

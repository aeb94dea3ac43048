"""Shadow mode: the flows read and decide as in live mode; what they would write is recorded instead.

The boundary is the two clients: a flow's ``wire`` wraps them (:func:`backmarket_for`,
:func:`wholecell_for`). Reads go through untouched; each write the flows use is replaced by a record
in :class:`bmsync.store.shadow_repo.ShadowRepository` and :class:`WriteRecorded` is raised where live
mode would have had Back Market's or WholeCell's answer. A flow catches it only where it must keep its
own state honest: nothing it stores pretends the write happened (no WholeCell order id, no quantity
"sent"), so the first live run decides again from the state of the moment and sends what is still due.

Anything else a flow calls must be a read (:data:`READ_PREFIXES`): an unknown method is refused in
shadow mode rather than risk an unrecorded write.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NoReturn

from bmsync import backmarket, wholecell
from bmsync.backmarket.states import PublicationState
from bmsync.clock import Clock
from bmsync.settings import ConnectionMode, Settings
from bmsync.store.shadow_repo import ShadowItem, ShadowRepository, ShadowWrite
from bmsync.wholecell.models import Customer, SalesOrderCreate

#: Client methods that only read: forwarded as they are in shadow mode.
READ_PREFIXES = ("iter_", "get_", "find_", "list_", "count_", "read_")
READS = frozenset({"listing_counts", "requests_remaining", "sku_updates_remaining"})
#: The id of a customer shadow mode would create: it only ever appears in a shadow record.
NEW_CUSTOMER_ID = 0


class WriteRecorded(Exception):
    """Shadow mode: the write was recorded, not sent (``write`` is what was recorded)."""

    def __init__(self, write: ShadowWrite) -> None:
        super().__init__(f"shadow mode: {write.kind} {write.subject} recorded, not sent")
        self.write = write


class _Reads:
    """Forwards the wrapped client's reads; refuses anything not known to be one."""

    def __init__(self, client: Any, recorder: ShadowRepository) -> None:
        self._client = client
        self._recorder = recorder

    def __getattr__(self, name: str) -> Any:
        if name.startswith(READ_PREFIXES) or name in READS:
            return getattr(self._client, name)
        raise AttributeError(f"shadow mode: {name} is not known to be a read, so it is not called")

    def _record(self, write: ShadowWrite) -> NoReturn:
        raise WriteRecorded(self._recorder.record(write))


class ShadowBackMarket(_Reads):
    """The Back Market client of a connection in shadow mode."""

    def hold_sku_updates(self, count: int, *, keep: int) -> bool:
        return True  # nothing is sent: the SKU-update budget is not spent

    def update_listing(
        self,
        listing_ref: str | int,
        *,
        quantity: int | None = None,
        pub_state: int | None = None,
        **fields: Any,
    ) -> NoReturn:
        self._record(
            ShadowWrite(
                kind="quantity",
                subject=str(listing_ref),
                quantity=quantity,
                put_online=pub_state == PublicationState.ONLINE,
            )
        )

    def accept_orderline(self, order_id: int, sku: str) -> NoReturn:
        self._record(ShadowWrite(kind="validation", subject=f"{order_id}#{sku}", action="accepted"))

    def cancel_orderline(self, order_id: int, sku: str) -> NoReturn:
        self._record(ShadowWrite(kind="validation", subject=f"{order_id}#{sku}", action="cancelled"))

    def ship_order(
        self,
        order_id: int,
        *,
        tracking_number: str,
        shipper: str | None = None,
        tracking_url: str | None = None,
        date_shipping: datetime | None = None,
        imei: str | None = None,
        serial_number: str | None = None,
    ) -> NoReturn:
        identifiers = _identifiers(imei, serial_number)
        self._record(
            ShadowWrite(
                kind="shipment",
                subject=str(order_id),
                tracking_number=tracking_number,
                shipper=shipper,
                identifiers=identifiers,
            )
        )

    def set_orderline_identifiers(
        self, orderline_id: int, *, imei: str | None = None, serial_number: str | None = None
    ) -> NoReturn:
        identifiers = _identifiers(imei, serial_number)
        self._record(ShadowWrite(kind="shipment", subject=f"line {orderline_id}", identifiers=identifiers))


class ShadowWholeCell(_Reads):
    """The WholeCell client of a connection in shadow mode."""

    def find_or_create_customer(self, name: str) -> Customer:
        found: Customer | None = self._client.find_customer(name)
        # The order recorded next says whether it needs a new customer (no buyer's name is recorded).
        return found if found is not None else Customer(id=NEW_CUSTOMER_ID, name=name)

    def create_sales_order(self, order: SalesOrderCreate) -> NoReturn:
        self._record(
            ShadowWrite(
                kind="order",
                subject=order.external_id,
                status=order.status,
                customer="a new customer"
                if order.customer_id == NEW_CUSTOMER_ID
                else f"WholeCell customer {order.customer_id}",
                items=[
                    ShadowItem(
                        sku=item.sku,
                        description=item.description,
                        quantity=item.quantity,
                        price_cents=item.price,
                        product_variation_id=item.product_variation_id,
                    )
                    for item in order.order_items
                ],
                notes=order.notes,
            )
        )

    def update_sales_order_status(self, order_id: int, status: str) -> NoReturn:
        self._record(ShadowWrite(kind="order_status", subject=str(order_id), status=status))


def _identifiers(imei: str | None, serial_number: str | None) -> dict[str, str]:
    return {name: value for name, value in (("imei", imei), ("serial_number", serial_number)) if value}


def in_shadow(settings: Settings) -> bool:
    return settings.mode is ConnectionMode.SHADOW


def backmarket_for(settings: Settings, clock: Clock) -> Any:
    """The connection's Back Market client: the real one when live, its shadow otherwise."""
    client = backmarket.client_for(settings, clock)
    if not in_shadow(settings):
        return client
    return ShadowBackMarket(client, ShadowRepository(settings.connection_id, clock))


def wholecell_for(settings: Settings, clock: Clock) -> Any:
    """The connection's WholeCell client: the real one when live, its shadow otherwise."""
    client = wholecell.client_for(settings, clock)
    if not in_shadow(settings):
        return client
    return ShadowWholeCell(client, ShadowRepository(settings.connection_id, clock))

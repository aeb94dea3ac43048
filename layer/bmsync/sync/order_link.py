"""A person's answer "it is in WholeCell: order #N" to an order waiting as ``needs_confirmation``.

order_import never re-creates an order whose create may have reached WholeCell when it cannot find it
there (docs/orders.md, *Exactly once*). The seller looks in WholeCell; finding it, they name its sales
order. That order is read (read-only) and checked plausible before anything changes: of the channel
``Backmarket``, not linked to another Back Market order of the connection, and not naming another one
(its external id, bmsync's marker, or a mention of another of the connection's orders in its notes).
The next order_import run then links it as an adopted order is linked (never creates one).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bmsync.settings import SALES_CHANNEL
from bmsync.store.orders_repo import OrdersRepository
from bmsync.store.sync_state import SyncStateRepository
from bmsync.sync.order_import import ANY_MARKER, confirm_present, order_marker
from bmsync.sync.ports import WholeCellSalesOrder
from bmsync.sync.shipment_export import order_numbers


class LinkRefused(Exception):
    """The named sales order cannot be this order's: the message says why (nothing was changed)."""


def refusal(
    sales_order: WholeCellSalesOrder,
    *,
    connection_id: str,
    order_id: str,
    linked_to: str | None,
    known_orders: set[str],
) -> str | None:
    """Why ``sales_order`` cannot be Back Market order ``order_id``'s; None when it is plausible.

    ``linked_to``: the connection's Back Market order already linked to it, if any; ``known_orders``:
    those of the numbers its external id and notes mention that are orders of this connection.
    """
    name = f"WholeCell sales order {sales_order.id}"
    if sales_order.channel != SALES_CHANNEL:
        return f"{name} is in the channel {sales_order.channel or '(none)'!r}, not {SALES_CHANNEL!r}"
    if linked_to is not None and linked_to != order_id:
        return f"{name} is already linked to Back Market order {linked_to}"
    external_id = (sales_order.external_id or "").strip()
    if external_id.isdigit() and external_id != order_id:
        return f"{name} has the external id {external_id}: it is Back Market order {external_id}'s"
    notes = sales_order.notes or ""
    own = order_marker(connection_id, order_id)
    markers = [marker for marker in ANY_MARKER.findall(notes) if marker != own]
    if markers and own not in notes:
        return f"{name} carries bmsync's marker {markers[0]} in its notes: it is that order's"
    others = sorted(known_orders - {order_id}, key=int)
    if others and order_id not in order_numbers(sales_order):
        return f"{name} names Back Market order {others[0]} in its notes, not {order_id}"
    return None


def check_named_order(
    *,
    orders: OrdersRepository,
    read_sales_order: Callable[[int], WholeCellSalesOrder],
    connection_id: str,
    order_id: str,
    wholecell_order_id: int,
) -> WholeCellSalesOrder:
    """The named sales order, read from WholeCell; :class:`LinkRefused` when it cannot be this order's."""
    sales_order = read_sales_order(wholecell_order_id)
    linked_to = next(
        (
            record.order_id
            for record in orders.list(connection_id)
            if wholecell_order_id in (record.wholecell_order_id, record.confirmed_wholecell_order_id)
            and record.order_id != order_id
        ),
        None,
    )
    mentioned = order_numbers(sales_order)
    known = set(orders.get_many(connection_id, mentioned)) if mentioned else set()
    reason = refusal(
        sales_order, connection_id=connection_id, order_id=order_id, linked_to=linked_to, known_orders=known
    )
    if reason is not None:
        raise LinkRefused(reason)
    return sales_order


def confirm_in_wholecell(
    *,
    orders: OrdersRepository,
    state: SyncStateRepository,
    read_sales_order: Callable[[int], WholeCellSalesOrder],
    connection_id: str,
    order_id: str,
    wholecell_order_id: int,
    now: datetime,
) -> bool:
    """Check the named sales order (:class:`LinkRefused`: nothing changed) and record the answer;
    False when the order was not waiting for a confirmation."""
    check_named_order(
        orders=orders,
        read_sales_order=read_sales_order,
        connection_id=connection_id,
        order_id=order_id,
        wholecell_order_id=wholecell_order_id,
    )
    return confirm_present(
        orders=orders,
        state=state,
        connection_id=connection_id,
        order_id=order_id,
        wholecell_order_id=wholecell_order_id,
        now=now,
    )

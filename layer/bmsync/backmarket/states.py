"""Back Market's numeric states, named once: the rules and the Back Market emulator both use these.

Back Market sends and takes plain ints; an :class:`~enum.IntEnum` compares and serializes as that int,
so a model field typed ``int`` holds these unchanged. The numbers 8 and 9 mean different things for
orders and orderlines.
"""

from __future__ import annotations

from enum import IntEnum


class OrderState(IntEnum):
    """An order's state (read-only for the seller)."""

    PAYMENT_CHECK = 0  # payment being checked: hidden from the order list
    PAID = 1  # the seller must accept or cancel each line
    ACCEPTED = 3  # every line accepted: ship it
    NOT_PAID = 8  # hidden from the order list
    FINISHED = 9  # every line shipped, cancelled or refunded
    PENDING_PAYMENT = 10  # deferred payment not received yet


#: The order states the seller has work on (lines to validate, or an order to ship).
OPEN_ORDER_STATES = (OrderState.PAID, OrderState.ACCEPTED)
#: Order states Back Market never lists.
HIDDEN_ORDER_STATES = frozenset({OrderState.PAYMENT_CHECK, OrderState.NOT_PAID})


class LineState(IntEnum):
    """An orderline's state; the seller moves a line with ``new_state`` (2, 3, 4, 5 or 6)."""

    NEW = 0
    PAID = 1  # accept (-> 2) or cancel (-> 4)
    ACCEPTED = 2  # ship (-> 3) or refund before shipping (-> 5)
    SHIPPED = 3  # refund after shipping (-> 6)
    CANCELLED = 4
    REFUNDED_BEFORE_SHIPPING = 5
    REFUNDED_AFTER_SHIPPING = 6
    NOT_PAID = 7
    PENDING_PAYMENT = 8
    ON_HOLD = 9  # on hold for a partner check


#: Lines that will never ship: cancelled, refunded or not paid.
CLOSED_LINE_STATES = frozenset(
    {
        LineState.CANCELLED,
        LineState.REFUNDED_BEFORE_SHIPPING,
        LineState.REFUNDED_AFTER_SHIPPING,
        LineState.NOT_PAID,
    }
)
REFUNDED_LINE_STATES = frozenset({LineState.REFUNDED_BEFORE_SHIPPING, LineState.REFUNDED_AFTER_SHIPPING})


class PublicationState(IntEnum):
    """A listing's ``publication_state`` (0, 1 and 4 exist; their meaning is not verified)."""

    STATE_0 = 0
    STATE_1 = 1
    ONLINE = 2  # active and in stock
    OFFLINE = 3
    STATE_4 = 4

"""Automatic validation of new Back Market orderlines (optional, off by default).

Back Market waits for the seller to accept (new_state 2) or cancel each paid line. With
``auto_validation`` set, bmsync accepts lines by itself: always, or only when WholeCell's calculated
quantity covers the line; a line that is not covered waits for a person, or is cancelled if the seller
chose that. Every decision is recorded on the order (once per line), so the doctor can say why.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bmsync.clock import utc_iso
from bmsync.errors import IntegrationError
from bmsync.settings import AutoValidation, Settings
from bmsync.store.orders_repo import OrderLineRecord, OrderRecord, ValidationRecord
from bmsync.sync.ports import BackMarketOrder, BackMarketOrders
from bmsync.sync.shadow import WriteRecorded

LINE_PAID = 1

#: How much of a line's variations is sellable now (None: unknown), before this order is counted.
CoverageLookup = Callable[[OrderLineRecord], int | None]


def validate_new_lines(
    settings: Settings,
    order: BackMarketOrder,
    record: OrderRecord,
    backmarket: BackMarketOrders,
    coverage: CoverageLookup,
    now: datetime,
) -> tuple[BackMarketOrder, list[ValidationRecord]]:
    """Accept, cancel or leave each paid line per the settings; return the newest order and decisions.

    Lines decided before (on ``record``) are not decided again, so a replay never validates twice.
    """
    if settings.auto_validation == AutoValidation.OFF:
        return order, []
    decided = {validation.sku for validation in record.validations if validation.action != "waiting"}
    waiting = {validation.sku for validation in record.validations if validation.action == "waiting"}
    lines_by_id = {line.line_id: line for line in record.lines}
    decisions: list[ValidationRecord] = []
    current = order
    for line in order.orderlines:
        if line.state != LINE_PAID or line.listing in decided:
            continue
        stored_line = lines_by_id.get(line.id)
        action, reason = _decide(settings, line.listing, line.quantity, stored_line, coverage)
        if action == "waiting":
            if line.listing not in waiting:
                decisions.append(
                    ValidationRecord(at=utc_iso(now), sku=line.listing, action=action, reason=reason)
                )
            continue
        try:
            if action == "accepted":
                current = backmarket.accept_orderline(order.order_id, line.listing)
            else:
                current = backmarket.cancel_orderline(order.order_id, line.listing)
        except WriteRecorded:
            continue  # shadow mode: not a decision yet, the first live run decides the line again
        except IntegrationError as error:
            if error.needs_attention or error.retryable:
                # Not a decision: the order is read again (the cursor waits) and the line retried.
                raise
            decisions.append(
                ValidationRecord(
                    at=utc_iso(now),
                    sku=line.listing,
                    action="failed",
                    reason=f"Back Market refused to mark line {line.listing} {action}: {error.message}",
                )
            )
            continue
        decisions.append(ValidationRecord(at=utc_iso(now), sku=line.listing, action=action, reason=reason))
    return current, decisions


def _decide(
    settings: Settings,
    sku: str,
    quantity: int,
    line: OrderLineRecord | None,
    coverage: CoverageLookup,
) -> tuple[str, str]:
    if settings.auto_validation == AutoValidation.ALWAYS:
        return "accepted", f"accepted automatically (automatic validation: always) for {quantity} x {sku}"
    sellable = coverage(line) if line is not None else None
    if sellable is not None and sellable >= quantity:
        return "accepted", (
            f"accepted automatically: WholeCell's calculated quantity ({sellable}) covers {quantity} x {sku}"
        )
    shortfall = (
        f"WholeCell's calculated quantity ({sellable}) does not cover {quantity} x {sku}"
        if sellable is not None
        else f"no WholeCell stock is known for {sku}"
    )
    if settings.cancel_uncovered_lines:
        return "cancelled", f"cancelled automatically: {shortfall} (the settings cancel uncovered lines)"
    return "waiting", f"waiting for a person to validate it on Back Market: {shortfall}"

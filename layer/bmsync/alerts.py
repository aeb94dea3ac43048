"""Every alert bmsync raises, in one catalogue: its id, severity, words and the action that fixes it.

An alert is one item per id in ``sync_state`` (raised again = counted, cleared when resolved), so the
id pattern decides what is one problem: ``unknown-sku-{sku_key}`` is one alert per SKU, whatever
the orders. The texts are what the admin's status page shows a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from bmsync.errors import IntegrationError
from bmsync.store.sync_state import Alert, Severity


class AlertStore(Protocol):
    """What raising alerts uses of ``bmsync.store.sync_state.SyncStateRepository``."""

    def raise_alert(
        self,
        alert_id: str,
        message: str,
        *,
        severity: Severity = "error",
        action: str = "",
        subject: str = "",
    ) -> Alert: ...
    def clear_alert(self, alert_id: str) -> None: ...


@dataclass(frozen=True)
class AlertKind:
    """One kind of alert; its id, message, action and subject are templates filled from ``fields``."""

    id: str
    severity: Severity
    message: str
    action: str
    subject: str

    def alert_id(self, **fields: Any) -> str:
        return self.id.format(**fields)

    def raise_on(self, state: AlertStore, *, action: str = "", **fields: Any) -> Alert:
        """Raise it; ``action`` replaces the catalogue's when the cause names its own fix."""
        return state.raise_alert(
            self.alert_id(**fields),
            self.message.format(**fields),
            severity=self.severity,
            action=action or self.action.format(**fields),
            subject=self.subject.format(**fields),
        )

    def clear_on(self, state: AlertStore, **fields: Any) -> None:
        state.clear_alert(self.alert_id(**fields))


ORDER_IMPORT_OFF = AlertKind(
    id="order-import-off",
    severity="info",
    message="Order import is switched off: Back Market orders are not imported into WholeCell.",
    action="Switch on 'Enable order import' in the settings.",
    subject="connection",
)
ORDER_STATUS_UNMAPPED = AlertKind(
    id="order-status-unmapped-{status}",
    severity="warning",
    message="Orders in {label} are not imported: that state is not mapped to a WholeCell status "
    "(last: order {order_id}).",
    action="Map the Back Market state to a WholeCell sales-order status under Order statuses.",
    subject="order {order_id}",
)
UNKNOWN_SKU_NO_VARIATION = AlertKind(
    id="unknown-sku-{sku_key}",
    severity="error",
    message="Order {order_id}: the line {sku!r} was imported as 'Unknown SKU': "
    "no WholeCell product variation has the SKU {sku!r}.",
    action="Add the SKU {sku!r} to a product variation in WholeCell (the SKUs must match on both "
    "sides), then pick the variation on the order's item in WholeCell.",
    subject="order {order_id}",
)
UNKNOWN_SKU_NOT_CHOSEN = AlertKind(
    id="unknown-sku-{sku_key}",
    severity="error",
    message="Order {order_id}: the line {sku!r} was imported as 'Unknown SKU': "
    "no imported listing with the SKU {sku!r} has a product variation chosen.",
    action="Import your listings, then choose the product variation of the listing "
    "{sku!r} ('Product not set!'), and pick it on the order's item in WholeCell.",
    subject="order {order_id}",
)
#: One alert per foreign currency (8% of a real UK seller's orders are in EUR from EU markets).
ORDER_OTHER_CURRENCY = AlertKind(
    id="order-currency-{currency}",
    severity="warning",
    message="Order {order_id} ({market}) is priced in {currency}, not in the account currency "
    "{account_currency}: it was imported with its {currency} amounts, not converted.",
    action="Treat the prices of orders marked {currency} (Orders page, WholeCell notes) as {currency}. "
    "If {account_currency} is not your account's currency, set 'Account currency' in the settings.",
    subject="order {order_id}",
)
ORDER_NOT_IMPORTED = AlertKind(
    id="order-import-{order_id}",
    severity="error",
    message="Order {order_id} {reason}",
    action="Correct the order's data in WholeCell or Back Market; it is retried daily.",
    subject="order {order_id}",
)
#: An unclear create (a crash, a timeout) that neither witness found, on an account where the
#: external-id lookup was never seen to work: bmsync does not re-create it by itself.
ORDER_MAY_EXIST = AlertKind(
    id="order-may-exist-{order_id}",
    severity="error",
    message="Order {order_id} may already be in WholeCell: check and confirm.",
    action="Look for Back Market order {order_id} among WholeCell's Backmarket sales orders. If it is "
    "not there, press 'It is not in WholeCell: create it' on the order's page; the next run creates it.",
    subject="order {order_id}",
)
#: Orders of the Backmarket channel bmsync did not create, made in the last hour (cutover).
OTHER_INTEGRATION_IMPORTING = AlertKind(
    id="other-integration-importing",
    severity="critical",
    message="Another integration is still importing Back Market orders into WholeCell: switch WholeCell's "
    "Back Market integration off ({count} order(s) of the last hour, last: WholeCell sales order "
    "{wholecell_order_id}).",
    action="Switch off WholeCell's own Back Market integration (WholeCell settings, integrations): two "
    "integrations importing at once create duplicate orders. bmsync links the orders it made (adopted).",
    subject="connection",
)
SHIPMENT_NOT_SENT = AlertKind(
    id="shipment-{order_id}",
    severity="error",
    message="Order {order_id}: {reason}",
    action="Check the order on Back Market and enter the tracking there if it still has to ship.",
    subject="order {order_id}",
)
#: One alert per carrier: every shipment with it is held until the carrier map names a known shipper.
SHIPMENT_UNKNOWN_CARRIER = AlertKind(
    id="shipment-carrier-{carrier_key}",
    severity="error",
    message="Shipments with the carrier {carrier!r} are held (last: order {order_id}): Back Market "
    "does not know a shipper of that name and would refuse them.",
    action="Map {carrier!r} to a Back Market shipper (e.g. Royal Mail, DPD UK, DHL Express) under "
    "Carriers (carrier_map) in the settings; the held shipments are then sent by themselves.",
    subject="order {order_id}",
)
#: One WholeCell record bmsync cannot read is left out (quarantined); the rest of the run goes on.
WHOLECELL_ITEM_QUARANTINED = AlertKind(
    id="wholecell-unreadable-{kind}-{item_id}",
    severity="warning",
    message="WholeCell {kind} {item_id} was left out: bmsync cannot read its {fields} ({problems}). "
    "Everything else syncs; this {kind} counts for nothing until it can be read.",
    action="Open {kind} {item_id} in WholeCell and fill in its {fields}; if it looks right there, run "
    "'bmsync probe' and send its report to the bmsync maintainers.",
    subject="WholeCell {kind} {item_id}",
)
#: An endpoint no public source advertises is missing on this account: what bmsync does instead.
WHOLECELL_ENDPOINT_MISSING = AlertKind(
    id="wholecell-missing-endpoint-{slug}",
    severity="warning",
    message="WholeCell's API has no {path} on this account: {cost}",
    action="{action}",
    subject="connection",
)
_ASK_WHOLECELL = "Ask WholeCell support whether your API App can read {path}, then run 'bmsync probe'."
#: What each missing endpoint costs, and what a person can do: (cost, action).
MISSING_ENDPOINT_COSTS: dict[str, tuple[str, str]] = {
    "/product_variations": (
        "bmsync learns the product variations from the units in the inventory list instead, so a "
        "variation without any unit is unknown: a listing with its SKU stays not connected, and a Back "
        "Market order of it is imported without its variation (Unknown SKU), until a unit of it is received.",
        _ASK_WHOLECELL,
    ),
    "/sales_order_statuses": (
        "bmsync cannot read which sales-order statuses are open, so it counts the orders in the "
        "statuses set under 'Open sales-order statuses' ({open_statuses}) as open.",
        "Check the open sales-order statuses in the settings match your WholeCell account. " + _ASK_WHOLECELL,
    ),
    "/sales_orders": (
        "open sales orders are not subtracted from the quantities sent to Back Market (it may be "
        "shown units already sold elsewhere), Back Market orders cannot be imported and tracking "
        "numbers are not sent back.",
        _ASK_WHOLECELL,
    ),
    "/customers": (
        "Back Market orders cannot be imported into WholeCell (each needs a customer); stock still syncs.",
        _ASK_WHOLECELL,
    ),
    "/stock_levels": (
        "nothing stops: bmsync computes the quantities from the inventory list itself.",
        _ASK_WHOLECELL,
    ),
}


def _endpoint_slug(path: str) -> str:
    return path.strip("/").replace("/", "-").replace("_", "-")


def raise_endpoint_missing(state: AlertStore, path: str, **details: str) -> Alert:
    """The connection's alert that WholeCell has no ``path``, saying what bmsync does without it."""
    cost, action = MISSING_ENDPOINT_COSTS.get(path, ("bmsync cannot use it.", _ASK_WHOLECELL))
    return WHOLECELL_ENDPOINT_MISSING.raise_on(
        state,
        action=action.format(path=path),
        slug=_endpoint_slug(path),
        path=path,
        cost=cost.format(**details) if details else cost,
    )


def clear_endpoint_missing(state: AlertStore, path: str) -> None:
    WHOLECELL_ENDPOINT_MISSING.clear_on(state, slug=_endpoint_slug(path))


#: A revoked token, a blocked account...: every flow that talks to that service stops until a person
#: acts; a successful run of any flow talking to the service clears it (``bmsync.sync.flow``).
NEEDS_PERSON = AlertKind(
    id="{service}-{error_type}",
    severity="critical",
    message="{message}",
    action="Check the connection on the Connection page.",
    subject="connection",
)
#: The error classes (lower-cased) whose NEEDS_PERSON alerts a successful run clears.
NEEDS_PERSON_ERRORS = ("unauthorized", "forbidden", "blocked")


def needs_person_alert_ids(service: str) -> tuple[str, ...]:
    return tuple(NEEDS_PERSON.alert_id(service=service, error_type=name) for name in NEEDS_PERSON_ERRORS)


def raise_needs_person(state: AlertStore, error: IntegrationError, *, message: str = "") -> Alert:
    """The connection's critical alert for an error only a person can fix (``error.needs_attention``)."""
    return NEEDS_PERSON.raise_on(
        state,
        action=error.action,
        service=error.service,
        error_type=type(error).__name__.lower(),
        message=message or error.message,
    )

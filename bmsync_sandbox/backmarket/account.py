"""A Back Market seller account in memory: listings, orders and their state machine, batch tasks.

Pure logic, no HTTP: every method takes and returns JSON-ready dicts shaped like the live API (see the
samples in the reference) and raises :class:`ApiError` with Back Market's error body. Time comes from
the injected clock. Not thread-safe on its own: the server holds one lock around every call.
"""

from __future__ import annotations

import copy
import csv
import io
import random
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from bmsync.backmarket.models import market_currency
from bmsync.backmarket.shippers import KNOWN_SHIPPERS
from bmsync.backmarket.states import HIDDEN_ORDER_STATES, LineState, OrderState, PublicationState
from bmsync.clock import Clock, parse_iso, utc_iso
from bmsync.settings import PLATFORMS
from bmsync_sandbox import demo_catalogue

LINE_STATE_NAMES: dict[int, str] = {state: state.name.lower().replace("_", " ") for state in LineState}
#: new_state -> the line states it may come from (the reference's orderline state machine).
TRANSITIONS: dict[int, set[LineState]] = {
    LineState.ACCEPTED: {LineState.PAID},
    LineState.CANCELLED: {LineState.PAID},
    LineState.SHIPPED: {LineState.ACCEPTED},
    LineState.REFUNDED_BEFORE_SHIPPING: {LineState.ACCEPTED},
    LineState.REFUNDED_AFTER_SHIPPING: {LineState.SHIPPED},
}
RETURN_REASONS = {0, 1, 11, 12, 13, 21, 22, 23, 24, 25}
GRADE_STATES = {"PREMIUM": 9, "EXCELLENT": 0, "VERY_GOOD": 1, "GOOD": 2, "FAIR": 3, "STALLONE": 4}
ONLINE, OFFLINE = PublicationState.ONLINE, PublicationState.OFFLINE
MAX_BATCH_LINES = 15000
UPDATABLE_LISTING_FIELDS = {
    "quantity",
    "price",
    "currency",
    "min_price",
    "comment",
    "warranty_delay",
    "pub_state",
    *(
        f"{kind}_{n}"
        for kind in ("shipper", "shipper_display", "shipping_price", "shipping_delay")
        for n in (1, 2, 3)
    ),
}
#: Units of each currency per euro: the emulator's stand-in for the separate price a seller sets on each
#: market. A buyer on another market than the account's pays the listing's price converted at this rate.
UNITS_PER_EURO = {"EUR": Decimal("1"), "GBP": Decimal("0.85"), "SEK": Decimal("11.5")}
UNITS_PER_EURO |= {"USD": Decimal("1.08"), "JPY": Decimal("160"), "AUD": Decimal("1.65")}
#: The share of a real UK seller's orders placed on other EU markets, in EUR (the demo account's mix).
REAL_FOREIGN_MARKET_SHARE = 0.08
_CITIES = {"GB": "London", "DE": "Berlin", "ES": "Madrid", "FR": "Paris", "IT": "Rome", "BE": "Brussels"}

_BUYERS = (
    ("Alex", "Martin"),
    ("Sam", "Taylor"),
    ("Jamie", "Evans"),
    ("Robin", "Clarke"),
    ("Chris", "Walker"),
)


class ApiError(Exception):
    """An error answer: ``body`` is what Back Market sends (ErrorResponseV1, or a bare string)."""

    def __init__(self, status: int, code: str, message: str, *, bare: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.body: Any = message if bare else {"error": {"code": code, "message": message}}


def _bad(message: str, code: str = "invalid-request") -> ApiError:
    return ApiError(400, code, message)


def parse_filter_datetime(name: str, text: str) -> datetime:
    """``date_creation``/``date_modification``: RFC 3339 or ``YYYY-MM-DD HH:MM:SS`` (UTC)."""
    try:
        return parse_iso(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise _bad(f"{name}: {text!r} is not a datetime (use RFC 3339 or YYYY-MM-DD HH:MM:SS)") from None


def _money(value: Any, name: str) -> str:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise _bad(f"{name}: {value!r} is not a price") from None
    if amount < 0 or not amount.is_finite():
        raise _bad(f"{name}: {value!r} is not a price")
    return str(amount.quantize(Decimal("0.01")))


def _quantity(value: Any) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"\d{1,7}", text):
        raise _bad(f"quantity: {value!r} is not a whole number of 0 or more")
    return int(text)


def valid_imei(imei: str) -> bool:
    """15 digits with a valid Luhn check digit."""
    if not re.fullmatch(r"\d{15}", imei):
        return False
    total = 0
    for index, char in enumerate(reversed(imei)):
        digit = int(char)
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


@dataclass
class Budgets:
    requests_per_window: int = 200
    window_seconds: float = 10.0
    block_seconds: float = 10.0
    sku_updates_per_hour: int = 2000


@dataclass
class Task:
    task_id: int
    due: datetime
    rows: list[dict[str, str]]
    action_status: int = 0
    result: dict[str, Any] = field(default_factory=dict)


class Account:
    def __init__(self, clock: Clock, *, market: str = "en-gb", seed: int = 7) -> None:
        self.clock = clock
        self.market = market
        self.currency = market_currency(market)
        self.random = random.Random(seed)
        #: Share (0..1) of new buyer orders without a given market placed on another market of the
        #: platform, in that market's currency (like the real seller's EUR orders on a GBP account).
        self.foreign_market_share = 0.0
        self._market_random = random.Random(seed + 1)
        self.listings: dict[str, dict[str, Any]] = {}  # by UUID
        self.orders: dict[int, dict[str, Any]] = {}
        self.tasks: dict[int, Task] = {}
        #: Listings taken offline by a quantity of 0 (not by the seller): restocking republishes them.
        self.offline_for_stock: set[str] = set()
        self.task_delay_seconds = 60.0
        self._next_listing_id = 5_000_001
        self._next_product_id = 500_001
        self._next_order_id = 78_000_001
        self._next_line_id = 78_500_001
        self._next_task_id = 1_000_001
        self._next_buyer = 0

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.random.getrandbits(128), version=4))

    def _now(self) -> str:
        return utc_iso(self.clock.now())

    # --- listings

    def add_listing(
        self,
        sku: str,
        quantity: int,
        *,
        price: Decimal | str = "99.00",
        grade: str = "GOOD",
        title: str | None = None,
        publication_state: int | None = None,
    ) -> dict[str, Any]:
        if not sku.strip():
            raise _bad("sku: must not be blank")
        if self.find_by_sku(sku) is not None:
            raise ApiError(
                409, "duplicate-sku", f"sku {sku!r} is already used by another listing (case-insensitive)"
            )
        if grade not in GRADE_STATES:
            raise _bad(f"grade: {grade!r} is not one of {', '.join(GRADE_STATES)}")
        quantity = _quantity(quantity)
        listing: dict[str, Any] = {
            "id": self._uuid(),
            "listing_id": self._next_listing_id,
            "product_id": self._uuid(),
            "backmarket_id": self._next_product_id,
            "sku": sku,
            "title": title or sku,
            "quantity": quantity,
            "price": _money(price, "price"),
            "currency": self.currency,
            "min_price": None,
            "max_price": int(Decimal(str(price)) * 3),
            "publication_state": publication_state
            if publication_state is not None
            else (ONLINE if quantity > 0 else OFFLINE),
            "grade": grade,
            "state": GRADE_STATES[grade],
            "warranty_delay": 12,
            "comment": "Fully functional, tested and cleaned.",
            "shippings": [],
            "snowden": False,
            "new_battery": False,
        }
        self._next_listing_id += 1
        self._next_product_id += 1
        self.listings[listing["id"]] = listing
        if listing["publication_state"] == OFFLINE and quantity <= 0:
            self.offline_for_stock.add(listing["id"])
        return dict(listing)

    def find_by_sku(self, sku: str) -> dict[str, Any] | None:
        wanted = sku.casefold()
        return next((item for item in self.listings.values() if item["sku"].casefold() == wanted), None)

    def listing_by_ref(self, ref: str) -> dict[str, Any]:
        listing = self.listings.get(ref)
        if listing is None and ref.isdigit():
            listing = next((item for item in self.listings.values() if item["listing_id"] == int(ref)), None)
        if listing is None:
            raise ApiError(
                404, "not-found", "Listing not found, or it does not belong to the authenticated merchant"
            )
        return listing

    def listing_by_sku(self, sku: str) -> dict[str, Any]:
        listing = self.find_by_sku(sku)
        if listing is None:
            raise ApiError(404, "not-found", f"No listing with sku {sku!r}")
        return listing

    def list_listings(
        self, *, publication_state: int | None, min_quantity: int | None, max_quantity: int | None
    ) -> list[dict[str, Any]]:
        return [
            dict(item)
            for item in sorted(self.listings.values(), key=lambda listing: listing["listing_id"])
            if (publication_state is None or item["publication_state"] == publication_state)
            and (min_quantity is None or item["quantity"] >= min_quantity)
            and (max_quantity is None or item["quantity"] <= max_quantity)
        ]

    def set_quantity(self, listing: dict[str, Any], quantity: int) -> None:
        """Sold out (0, or -1 after a double checkout) takes a listing offline; restocking one that
        stock took offline republishes it."""
        listing["quantity"] = quantity
        if quantity <= 0 and listing["publication_state"] == ONLINE:
            listing["publication_state"] = OFFLINE
            self.offline_for_stock.add(listing["id"])
        elif quantity > 0 and listing["id"] in self.offline_for_stock:
            listing["publication_state"] = ONLINE
            self.offline_for_stock.discard(listing["id"])

    def update_listing(self, listing: dict[str, Any], body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _bad("the body must be a JSON object of the fields to change")
        for frozen in ("sku", "grade"):
            if frozen in body and str(body[frozen]) != str(listing[frozen]):
                raise _bad(f"{frozen}: the {frozen} of an existing listing cannot be changed")
        unknown = sorted(set(body) - UPDATABLE_LISTING_FIELDS - {"sku", "grade"})
        if unknown:
            raise _bad(f"{unknown[0]}: not a field that can be updated")
        if "currency" in body and body["currency"] != self.currency:
            raise _bad(
                f"currency: {body['currency']!r} is not the currency of market "
                f"{self.market} ({self.currency})"
            )
        for name in ("price", "min_price"):
            if name in body:
                listing[name] = (
                    None if body[name] is None and name == "min_price" else _money(body[name], name)
                )
        if "comment" in body:
            comment = body["comment"]
            if comment is not None and (not isinstance(comment, str) or len(comment) > 500):
                raise _bad("comment: at most 500 characters")
            listing["comment"] = comment
        if "warranty_delay" in body:
            listing["warranty_delay"] = _quantity(body["warranty_delay"])
        if "quantity" in body:
            self.set_quantity(listing, _quantity(body["quantity"]))
        if "pub_state" in body:
            if body["pub_state"] not in (ONLINE, OFFLINE):
                raise _bad("pub_state: must be 2 (online) or 3 (offline)")
            listing["publication_state"] = body["pub_state"]
            self.offline_for_stock.discard(listing["id"])
        return {**listing, "statuscode": 200}

    # --- batch tasks

    def submit_batch(self, body: Any) -> tuple[int, int]:
        """Queue a CSV update; returns (task id, SKU lines). The task completes after the task delay."""
        if not isinstance(body, dict) or not body.get("catalog"):
            raise ApiError(400, "", "parameter catalog not found", bare=True)
        delimiter = body.get("delimiter") or ","
        quotechar = body.get("quotechar") or '"'
        try:
            rows = list(
                csv.DictReader(io.StringIO(str(body["catalog"])), delimiter=delimiter, quotechar=quotechar)
            )
        except (csv.Error, TypeError) as error:
            raise ApiError(400, "", f"catalog is not valid CSV: {error}", bare=True) from None
        if not rows or "sku" not in rows[0]:
            raise ApiError(400, "", "catalog must have a header line with a sku column", bare=True)
        if len(rows) > MAX_BATCH_LINES:
            raise ApiError(
                400, "", f"catalog has {len(rows)} lines; the limit is {MAX_BATCH_LINES}", bare=True
            )
        task = Task(self._next_task_id, self.clock.now() + timedelta(seconds=self.task_delay_seconds), rows)
        self._next_task_id += 1
        self.tasks[task.task_id] = task
        return task.task_id, len(rows)

    def task(self, task_id: int) -> dict[str, Any]:
        task = self.tasks.get(task_id)
        if task is None:
            raise ApiError(
                404, "not-found", "Task does not exist, or is not accessible for the authenticated user"
            )
        if task.action_status == 0 and self.clock.now() >= task.due:
            self._run_task(task)
        return {
            "task_id": task.task_id,
            "action_status": task.action_status,
            "last_action_error": None,
            "result": task.result,
            "statuscode": 200,
        }

    def _run_task(self, task: Task) -> None:
        success: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        for row in task.rows:
            sku = (row.get("sku") or "").strip()
            listing = self.find_by_sku(sku) if sku else None
            if listing is None:
                errors[sku or "(blank)"] = [
                    "no listing with this sku; creating listings needs product_id or ean"
                ]
                continue
            changes = {key: value for key, value in row.items() if key != "sku" and value not in (None, "")}
            try:
                self.update_listing(listing, changes)
            except ApiError as error:
                errors[sku] = [str(error)]
                continue
            success[sku] = {"listing_id": listing["listing_id"], "id": listing["id"]}
        task.result = {"product_success": success, "product_errors": errors}
        task.action_status = 9

    # --- orders

    def _buyer(self, country: str) -> dict[str, Any]:
        first, last = _BUYERS[self._next_buyer % len(_BUYERS)]
        number = self._next_buyer
        self._next_buyer += 1
        return {
            "company": "",
            "first_name": first,
            "first_name_pronunciation": None,
            "last_name": last,
            "last_name_pronunciation": None,
            "street": f"{number + 1} Sample Street",
            "street2": "",
            "postal_code": f"B{number % 90 + 10} {number % 9 + 1}RE",
            "country": country,
            "city": _CITIES.get(country, "London"),
            "phone": f"0770090{number % 10000:04d}",
            "email": f"buyer-{number}@example.com",
            "customer_id_number": "",
        }

    def create_buyer_order(
        self,
        sku: str,
        quantity: int = 1,
        *,
        more_lines: list[tuple[str, int]] | None = None,
        country_code: str | None = None,
        state: int = OrderState.PAID,
        decrement_stock: bool = True,
    ) -> dict[str, Any]:
        """A buyer's paid order (state 1, lines state 1); Back Market decrements the listings' quantity."""
        if state not in (0, 1, 8, 10):
            raise _bad("state: a new order is in state 1 (paid), or 0, 8 or 10 (not yet paid)")
        wanted = [(sku, quantity), *(more_lines or [])]
        listings = []
        for line_sku, line_quantity in wanted:
            listing = self.listing_by_sku(line_sku)
            if _quantity(line_quantity) < 1:
                raise _bad("quantity: an order line needs a quantity of 1 or more")
            if decrement_stock and listing["quantity"] <= 0:
                sold_out = f"listing {line_sku!r} is sold out (quantity {listing['quantity']})"
                raise ApiError(409, "out-of-stock", sold_out)
            if decrement_stock and listing["quantity"] < line_quantity:
                raise ApiError(
                    409, "out-of-stock", f"listing {line_sku!r} has {listing['quantity']} in stock"
                )
            listings.append((listing, line_quantity))
        now = self._now()
        country_code = country_code or self._buyer_market()
        currency = market_currency(country_code)
        country = country_code.split("-")[-1].upper()
        buyer = self._buyer(country)
        line_state = {
            OrderState.PAID: LineState.PAID,
            OrderState.PAYMENT_CHECK: LineState.NEW,
            OrderState.NOT_PAID: LineState.NOT_PAID,
            OrderState.PENDING_PAYMENT: LineState.PENDING_PAYMENT,
        }[OrderState(state)]
        lines = []
        for listing, line_quantity in listings:
            if decrement_stock:
                self.set_quantity(listing, listing["quantity"] - line_quantity)
            # Like the live API (not the spec's "unitary"): an orderline's price is the line total, and
            # its fee is 10% of that.
            line_price = self._market_price(Decimal(listing["price"]), currency) * line_quantity
            lines.append(
                {
                    "id": self._next_line_id,
                    "date_creation": now,
                    "state": line_state,
                    "price": str(line_price),
                    "shipping_price": "0.00",
                    "shipping_delay": 48,
                    "shipper": "",
                    "currency": currency,
                    "return_reason": 0,
                    "return_message": "",
                    "listing": listing["sku"],
                    "product": listing["title"],
                    "quantity": line_quantity,
                    "brand": listing["title"].split(" ")[0],
                    "product_id": listing["backmarket_id"],
                    "backcare": False,
                    "backcare_price": 0,
                    "listing_id": listing["listing_id"],
                    "sales_taxes": "0.00",
                    "imei": "",
                    "serial_number": "",
                    "condition": 10 + GRADE_STATES[listing["grade"]] % 3,
                    "orderline_fee": str((line_price * Decimal("0.10")).quantize(Decimal("0.01"))),
                }
            )
            self._next_line_id += 1
        order_id = self._next_order_id
        self._next_order_id += 1
        total = sum((Decimal(line["price"]) for line in lines), Decimal("0.00"))
        order = {
            "order_id": order_id,
            "shipping_address": buyer,
            "billing_address": dict(buyer),
            "delivery_note": f"https://files.example.com/delivery-notes/{order_id}.pdf",
            "tracking_number": "",
            "tracking_url": "",
            "shipper": "",
            "shipper_display": "",
            "date_creation": now,
            "date_modification": now,
            "date_shipping": None,
            "date_payment": now if state == 1 else None,
            "date_bill_provided": None,
            "state": state,
            "orderlines": lines,
            "price": str(total),
            "shipping_price": "0.00",
            "currency": currency,
            "country_code": country_code,
            "paypal_reference": None,
            "psp_reference": self._uuid(),
            "installment_payment": False,
            "payment_method": "CARD",
            "sales_taxes": "0.00",
            "expected_dispatch_date": None,
            "is_backship": False,
        }
        self.orders[order_id] = order
        return order

    def _buyer_market(self) -> str:
        """The account's market, or with ``foreign_market_share`` another market of its platform."""
        if self.foreign_market_share and self._market_random.random() < self.foreign_market_share:
            others = [
                market
                for info in PLATFORMS.values()
                if self.market in info.markets
                for market in info.markets
                if market_currency(market) != self.currency
            ]
            if others:
                return self._market_random.choice(others)
        return self.market

    def _market_price(self, price: Decimal, currency: str) -> Decimal:
        """A listing's price (in the account's currency) as a buyer on a market in ``currency`` pays it."""
        if currency == self.currency or currency not in UNITS_PER_EURO or self.currency not in UNITS_PER_EURO:
            return price
        converted = price / UNITS_PER_EURO[self.currency] * UNITS_PER_EURO[currency]
        return converted.quantize(Decimal("0.01"))

    def order(self, order_id: int) -> dict[str, Any]:
        order = self.orders.get(order_id)
        if order is None:
            raise ApiError(404, "not-found", f"Order {order_id} not found, or it is not yours")
        return order

    def list_orders(
        self,
        *,
        state: int | None,
        date_creation: datetime | None,
        date_modification: datetime | None,
        country_code: str | None,
    ) -> list[dict[str, Any]]:
        return [
            order
            for order in sorted(self.orders.values(), key=lambda item: item["order_id"])
            if order["state"] not in HIDDEN_ORDER_STATES
            and (state is None or order["state"] == state)
            and (date_creation is None or parse_iso(order["date_creation"]) >= date_creation)
            and (date_modification is None or parse_iso(order["date_modification"]) >= date_modification)
            and (country_code is None or order["country_code"] == country_code)
        ]

    def set_order_paid(self, order_id: int) -> dict[str, Any]:
        """Payment confirmed (0/10 -> 1): the buyer's order appears for the seller."""
        order = self.order(order_id)
        if order["state"] not in (0, 10):
            raise _bad(
                f"order {order_id} is in state {order['state']}: only orders in state 0 or 10 await payment"
            )
        for line in order["orderlines"]:
            line["state"] = LineState.PAID
        order["state"] = OrderState.PAID
        order["date_payment"] = self._now()
        self._touch(order)
        return order

    def _touch(self, order: dict[str, Any]) -> None:
        """Derive the order state from its lines (paid: any line paid; accepted: every open line
        accepted; finished: every line final); bump the date."""
        states = {line["state"] for line in order["orderlines"]}
        if order["state"] in (OrderState.PAID, OrderState.ACCEPTED, OrderState.FINISHED):
            if LineState.PAID in states:
                order["state"] = OrderState.PAID
            elif LineState.ACCEPTED in states:
                order["state"] = OrderState.ACCEPTED
            else:
                order["state"] = OrderState.FINISHED
        order["date_modification"] = self._now()

    def update_order(self, order_id: int, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _bad("the body must be a JSON object")
        body_id = body.get("order_id", body.get("id"))
        if body_id is not None and str(body_id) != str(order_id):
            raise _bad(f"order_id: {body_id!r} does not match the order of the URL ({order_id})")
        new_state = body.get("new_state")
        if new_state not in TRANSITIONS or isinstance(new_state, bool):
            raise _bad("new_state: must be 2 (accept), 3 (ship), 4 (cancel), 5 or 6 (refund)")
        order = self.order(order_id)
        if order["state"] in (0, 8, 10):
            raise _bad(f"order {order_id} is not paid (state {order['state']}): it cannot be processed yet")
        if new_state == LineState.SHIPPED:
            self._ship(order, body)
        else:
            self._move_line(order, new_state, body)
        self._touch(order)
        return order

    def _move_line(self, order: dict[str, Any], new_state: int, body: dict[str, Any]) -> None:
        sku = body.get("sku")
        if not isinstance(sku, str) or not sku.strip():
            raise _bad(f"sku: required for new_state {new_state} (the orderline's listing SKU)")
        lines = [line for line in order["orderlines"] if line["listing"].casefold() == sku.casefold()]
        if not lines:
            raise _bad(f"sku: order {order['order_id']} has no orderline with sku {sku!r}")
        movable = [line for line in lines if line["state"] in TRANSITIONS[new_state]]
        if not movable:
            current = lines[0]["state"]
            current_name = LINE_STATE_NAMES.get(current, "?")
            raise _bad(
                f"Orderline {lines[0]['id']} is in state {current} ({current_name}): it "
                f"cannot move to state {new_state} ({LINE_STATE_NAMES[new_state]})",
                "invalid-state-transition",
            )
        line = movable[0]
        if new_state == LineState.REFUNDED_AFTER_SHIPPING:
            reason = body.get("return_reason", 0)
            if reason not in RETURN_REASONS:
                raise _bad(f"return_reason: {reason!r} is not a Back Market return reason")
            message = body.get("return_message", "")
            if not isinstance(message, str) or len(message) > 500:
                raise _bad("return_message: at most 500 characters")
            line["return_reason"] = reason
            line["return_message"] = message
        line["state"] = new_state

    def _ship(self, order: dict[str, Any], body: dict[str, Any]) -> None:
        tracking = body.get("tracking_number")
        if not isinstance(tracking, str) or not tracking.strip():
            raise _bad("tracking_number: required to ship (new_state 3)")
        for name, limit in (("tracking_number", 200), ("tracking_url", 300), ("shipper", 200)):
            value = body.get(name)
            if value is not None and (not isinstance(value, str) or len(value) > limit):
                raise _bad(f"{name}: at most {limit} characters")
        shipper = body.get("shipper")
        if shipper is not None and shipper not in KNOWN_SHIPPERS:
            raise _bad(
                f"shipper: {shipper!r} is not a valid choice (Back Market's shipper list; ask Back Market "
                "to add your shipper)",
                "invalid-shipper",
            )
        lines = order["orderlines"]
        if any(line["state"] == LineState.PAID for line in lines):
            raise _bad(
                f"order {order['order_id']} has orderlines that are not accepted yet: accept (validate) "
                "every line with new_state 2 before shipping",
                "invalid-state-transition",
            )
        accepted = [line for line in lines if line["state"] == LineState.ACCEPTED]
        if not accepted:
            raise _bad(
                f"order {order['order_id']} has no accepted orderline to ship", "invalid-state-transition"
            )
        imei, serial = body.get("imei"), body.get("serial_number")
        if imei or serial:
            if len(lines) != 1 or lines[0]["quantity"] != 1:
                raise _bad(
                    "imei/serial_number: only for an order of one line of quantity 1; "
                    "use PATCH /ws/orderlines/{id} otherwise"
                )
            self._set_identifiers(lines[0], imei, serial)
        date_shipping = body.get("date_shipping")
        if date_shipping:
            shipped_at = utc_iso(parse_filter_datetime("date_shipping", str(date_shipping)))
        else:
            shipped_at = self._now()
        for line in accepted:
            line["state"] = LineState.SHIPPED
            line["shipper"] = body.get("shipper") or line["shipper"]
        order["tracking_number"] = tracking.strip()
        order["tracking_url"] = body.get("tracking_url") or ""
        order["shipper"] = body.get("shipper") or ""
        order["shipper_display"] = body.get("shipper") or ""
        order["date_shipping"] = shipped_at

    def _set_identifiers(self, line: dict[str, Any], imei: Any, serial: Any) -> None:
        if imei is not None:
            if not isinstance(imei, str) or not valid_imei(imei):
                raise _bad("imei: not a valid IMEI (15 digits with a valid check digit)")
            if line["imei"] and line["imei"] != imei:
                raise _bad("imei: already registered for this orderline; it cannot be corrected")
            line["imei"] = imei
        if serial is not None:
            if not isinstance(serial, str) or not serial.strip() or len(serial) > 50:
                raise _bad("serial_number: 1 to 50 characters")
            if line["serial_number"] and line["serial_number"] != serial:
                raise _bad("serial_number: already registered for this orderline; it cannot be corrected")
            line["serial_number"] = serial

    def update_orderline(self, orderline_id: int, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not ({"imei", "serial_number"} & set(body)):
            raise _bad("at least one of imei or serial_number must be provided")
        for order in self.orders.values():
            for line in order["orderlines"]:
                if line["id"] == orderline_id:
                    if line["state"] not in (2, 3):
                        raise _bad(
                            f"orderline {orderline_id} is in state {line['state']} "
                            f"({LINE_STATE_NAMES.get(line['state'], '?')}): identifiers are for accepted "
                            "or shipped lines"
                        )
                    self._set_identifiers(line, body.get("imei"), body.get("serial_number"))
                    self._touch(order)
                    return {"imei": line["imei"], "serial_number": line["serial_number"]}
        raise ApiError(404, "not-found", f"The orderline {orderline_id} doesn't exist")

    # --- demo data

    def seed_demo(self) -> None:
        """One listing per demo SKU (a few offline at 0) and a handful of orders in states 1, 3 and 9."""
        variations = {variation.sku: variation for variation in demo_catalogue.variations()}
        for index, sku in enumerate(demo_catalogue.listing_skus()):
            variation = variations.get(sku)
            offline = index % 5 == 4
            self.add_listing(
                sku,
                0 if offline else 3 + index % 6,
                price=demo_catalogue.listing_price(sku),
                grade=variation.backmarket_grade if variation else "GOOD",
                title=variation.title if variation else "Demo test listing",
            )
        online = [item["sku"] for item in self.listings.values() if item["quantity"] >= 2]
        # Two of the seven are from other EU markets, in EUR, like a real UK seller's orders.
        foreign_markets = {2: "de-de", 6: "fr-fr"} if self.currency == "GBP" else {}
        for number, sku in enumerate(online[:7]):
            order = self.create_buyer_order(sku, country_code=foreign_markets.get(number))
            if number >= 3:
                self.update_order(
                    order["order_id"], {"order_id": order["order_id"], "new_state": 2, "sku": sku}
                )
            if number >= 5:
                self.update_order(
                    order["order_id"],
                    {
                        "order_id": order["order_id"],
                        "new_state": 3,
                        "tracking_number": f"RM{order['order_id']}GB",
                        "shipper": "DHL Express" if number in foreign_markets else "Royal Mail",
                    },
                )
        self.foreign_market_share = REAL_FOREIGN_MARKET_SHARE

    # --- recorded responses

    def load_recorded(self, orders: Any, listings: Any) -> dict[str, int]:
        """Take orders and listings exactly as ``GET /ws/orders`` / ``GET /ws/listings`` sent them (ids,
        states, prices, currencies, odd SKUs, negative quantities) and serve them from now on. A
        recorded id that is already here is replaced."""
        if not isinstance(orders, list) or not isinstance(listings, list):
            raise _bad("orders and listings: lists of objects as GET /ws/orders and GET /ws/listings send")
        for listing in listings:
            self._check_recorded_listing(listing)
        for order in orders:
            self._check_recorded_order(order)
        for listing in listings:
            copied = copy.deepcopy(listing)
            self.listings[copied["id"]] = copied
            self.offline_for_stock.discard(copied["id"])
            if copied["publication_state"] == OFFLINE and copied["quantity"] <= 0:
                self.offline_for_stock.add(copied["id"])
            self._next_listing_id = max(self._next_listing_id, int(copied["listing_id"]) + 1)
            if isinstance(copied.get("backmarket_id"), int):
                self._next_product_id = max(self._next_product_id, copied["backmarket_id"] + 1)
        for order in orders:
            copied = copy.deepcopy(order)
            self.orders[copied["order_id"]] = copied
            self._next_order_id = max(self._next_order_id, copied["order_id"] + 1)
            for line in copied["orderlines"]:
                self._next_line_id = max(self._next_line_id, line["id"] + 1)
        return {"orders": len(orders), "listings": len(listings)}

    def _check_recorded_listing(self, listing: Any) -> None:
        required = {"id": str, "listing_id": int, "sku": str, "quantity": int, "publication_state": int}
        _check_keys("listing", listing, required)
        other = self.find_by_sku(listing["sku"])
        if other is not None and other["id"] != listing["id"]:
            raise ApiError(409, "duplicate-sku", f"sku {listing['sku']!r} is already used by another listing")

    def _check_recorded_order(self, order: Any) -> None:
        required = {"order_id": int, "state": int, "orderlines": list, "date_creation": str}
        _check_keys("order", order, {**required, "date_modification": str})
        for name in ("date_creation", "date_modification"):
            parse_filter_datetime(name, order[name])
        for line in order["orderlines"]:
            _check_keys("orderline", line, {"id": int, "state": int, "listing": str, "quantity": int})


def _check_keys(what: str, item: Any, required: dict[str, type]) -> None:
    if not isinstance(item, dict):
        raise _bad(f"every recorded {what} must be a JSON object")
    for key, kind in required.items():
        value = item.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise _bad(f"{what} {item.get('id', item.get('order_id', '?'))}: {key} must be a {kind.__name__}")

"""Back Market's objects as the live API sends them (see the reference's "Spec versus reality").

Lenient on the way in: extra keys are kept, ``""`` means unset for typed fields, datetimes may end in
``Z`` or an offset with or without a fraction, ``max_price`` comes as a number or a string, and any
integer ``condition`` is accepted. Money is always ``Decimal``, never float.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from bmsync.clock import parse_iso

ORDER_PAYMENT_CHECK = 0
ORDER_PAID = 1
ORDER_ACCEPTED = 3
ORDER_NOT_PAID = 8
ORDER_FINISHED = 9
ORDER_PENDING_PAYMENT = 10

LINE_PAID = 1
LINE_ACCEPTED = 2
LINE_SHIPPED = 3
LINE_CANCELLED = 4
LINE_REFUNDED_BEFORE_SHIPPING = 5
LINE_REFUNDED_AFTER_SHIPPING = 6

PUBLICATION_ONLINE = 2
PUBLICATION_OFFLINE = 3

TASK_FAILED = 8
TASK_DONE = 9

#: The currency Back Market prices a market in (``Accept-Language`` / an order's ``country_code``).
#: One account sells on several markets of its platform, so one account sees several currencies.
MARKET_CURRENCIES: dict[str, str] = {
    "fr-fr": "EUR",
    "fr-be": "EUR",
    "es-es": "EUR",
    "de-de": "EUR",
    "de-at": "EUR",
    "it-it": "EUR",
    "nl-nl": "EUR",
    "pt-pt": "EUR",
    "en-ie": "EUR",
    "el-gr": "EUR",
    "sk-sk": "EUR",
    "en-gb": "GBP",
    "sv-se": "SEK",
    "en-us": "USD",
    "ja-jp": "JPY",
    "en-au": "AUD",
}


def market_currency(market: str) -> str:
    """The currency of a Back Market market (``en-gb`` -> ``GBP``); EUR for an EU market not listed."""
    return MARKET_CURRENCIES.get(market.strip().lower(), "EUR")


def sold_out(quantity: int) -> bool:
    """Nothing left to sell. A double checkout leaves a listing at -1, so this is ``<= 0``."""
    return quantity <= 0


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _to_datetime(value: Any) -> Any:
    value = _blank_to_none(value)
    if isinstance(value, str):
        # Back Market sends RFC 3339; older payloads use a space separator.
        return parse_iso(value.strip().replace(" ", "T", 1))
    return value


def _to_decimal(value: Any) -> Any:
    value = _blank_to_none(value)
    if isinstance(value, float):
        # Through str() so 1249.99 stays 1249.99 and never becomes its binary approximation.
        return Decimal(str(value))
    return value


def _to_int(value: Any) -> Any:
    return _blank_to_none(value)


AwareDatetime = Annotated[datetime | None, BeforeValidator(_to_datetime)]
Money = Annotated[Decimal | None, BeforeValidator(_to_decimal)]
OptionalInt = Annotated[int | None, BeforeValidator(_to_int)]


class _BackMarketModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Address(_BackMarketModel):
    company: str | None = None
    first_name: str | None = None
    first_name_pronunciation: str | None = None
    last_name: str | None = None
    last_name_pronunciation: str | None = None
    street: str | None = None
    street2: str | None = None
    postal_code: str | None = None
    country: str | None = None
    city: str | None = None
    phone: str | None = None
    email: str | None = None
    customer_id_number: str | None = None
    gender: OptionalInt = None

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part and part.strip())


class OrderLine(_BackMarketModel):
    id: int
    state: int
    #: The seller SKU of the line (Back Market names it ``listing``; there is no ``sku`` key).
    listing: str
    listing_id: OptionalInt = None
    date_creation: AwareDatetime = None
    product: str | None = None
    product_id: OptionalInt = None
    brand: str | None = None
    quantity: int = 1
    price: Annotated[Decimal, BeforeValidator(_to_decimal)] = Decimal("0")
    shipping_price: Money = None
    sales_taxes: Money = None
    orderline_fee: Money = None
    shipping_delay: OptionalInt = None
    shipper: str | None = None
    currency: str | None = None
    return_reason: OptionalInt = None
    return_message: str | None = None
    backcare: bool | None = None
    backcare_price: OptionalInt = None
    imei: str | None = None
    serial_number: str | None = None
    #: 10-12 today, 0-4 before 2021, 9-12 in the spec: any integer.
    condition: OptionalInt = None

    @property
    def sku(self) -> str:
        return self.listing

    def unit_prices_cents(self) -> list[int]:
        """Each unit's price in cents; together they make exactly the line's ``price``.

        The live API sends an orderline's ``price`` as the line total (two MacBooks at 894.00 are
        ``"price": "894.00"``), although the spec says "unitary". Cents that do not divide evenly go
        to the first units: 10.01 over 3 units is 334, 334, 333.
        """
        if self.quantity <= 0:
            return []
        total = int((self.price * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))
        base, remainder = divmod(total, self.quantity)
        return [base + 1 if unit < remainder else base for unit in range(self.quantity)]


class Order(_BackMarketModel):
    order_id: int
    state: int
    date_creation: AwareDatetime = None
    date_modification: AwareDatetime = None
    date_payment: AwareDatetime = None
    date_shipping: AwareDatetime = None
    expected_dispatch_date: AwareDatetime = None
    date_bill_provided: AwareDatetime = None
    shipping_address: Address | None = None
    billing_address: Address | None = None
    orderlines: list[OrderLine] = Field(default_factory=list)
    price: Money = None
    shipping_price: Money = None
    sales_taxes: Money = None
    currency: str | None = None
    country_code: str | None = None
    shipper: str | None = None
    shipper_display: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    delivery_note: str | None = None
    is_backship: bool | None = None
    installment_payment: bool | None = None
    paypal_reference: str | None = None
    psp_reference: str | None = None
    payment_method: str | None = None

    @property
    def currency_code(self) -> str | None:
        """The order's currency (its lines' if the order does not say), upper case."""
        code = self.currency or next((line.currency for line in self.orderlines if line.currency), None)
        return code.strip().upper() if code and code.strip() else None

    def currency_differs_from(self, account_currency: str) -> bool:
        """Whether the order is priced in another currency than the account's (e.g. EUR from ``de-de``
        on a GBP ``en-gb`` account). Such amounts must be shown as they are, never converted silently.
        An order without a currency is compared by its market's currency."""
        code = self.currency_code or (market_currency(self.country_code) if self.country_code else None)
        return code is not None and code != account_currency.strip().upper()

    def line_for_sku(self, sku: str) -> OrderLine | None:
        wanted = sku.casefold()
        return next((line for line in self.orderlines if line.listing.casefold() == wanted), None)


class ListingShipping(_BackMarketModel):
    shipping_price: Money = None
    shipping_delay: OptionalInt = None
    shipper: str | None = None
    shipper_display: str | None = None
    country_code: str | None = None


class Listing(_BackMarketModel):
    #: The listing's UUID.
    id: str
    #: The legacy integer id.
    listing_id: OptionalInt = None
    sku: str
    title: str | None = None
    product_id: str | None = None
    #: Back Market's product id (an orderline's ``product_id``).
    backmarket_id: OptionalInt = None
    quantity: int = 0
    price: Money = None
    currency: str | None = None
    min_price: Money = None
    #: A number in real data, a string in the spec.
    max_price: Money = None
    publication_state: OptionalInt = None
    grade: str | None = None
    #: The older numeric grade (9 PREMIUM, 0 EXCELLENT, 1 VERY_GOOD, 2 GOOD, 3 FAIR, 4 STALLONE).
    state: OptionalInt = None
    warranty_delay: OptionalInt = None
    comment: str | None = None
    shippings: list[ListingShipping] = Field(default_factory=list)
    snowden: bool | None = None
    new_battery: bool | None = None

    @property
    def online(self) -> bool:
        return self.publication_state == PUBLICATION_ONLINE

    @property
    def sold_out(self) -> bool:
        return sold_out(self.quantity)


class ListingCounts(BaseModel):
    """How many listings each listing-import scope would bring (from the list endpoint's ``count``)."""

    #: Every listing of the account ("all").
    all: int
    #: Publication state 2 (online: active and in stock).
    online: int
    #: Offline (publication state 3) at quantity 0 or less: taken offline by selling out, most of a real
    #: seller's catalogue; restocking is what brings them back.
    offline_sold_out: int


class Task(_BackMarketModel):
    """A batch CSV task (``GET /ws/tasks/{id}``)."""

    task_id: int
    action_status: int
    last_action_error: str | None = None
    result: Any = None

    @property
    def done(self) -> bool:
        return self.action_status == TASK_DONE

    @property
    def failed(self) -> bool:
        return self.action_status == TASK_FAILED

    @property
    def pending(self) -> bool:
        return not (self.done or self.failed)

"""The integration settings of one connection: every option of the seed, validated and described.

A *connection* pairs one WholeCell account with one Back Market platform account. Settings hold no
secret, nor any secret's name: a connection's secrets are named after its id (``bmsync.connection_secrets``).
Hosts are on an allow-list (:func:`check_backmarket_host`, :func:`check_wholecell_url`): a token
is only ever sent to Back Market or WholeCell (or, on the local system only, to its emulators).

Each setting is described where it is declared, so a new setting is one edit:

- ``title`` and ``description``: the label and help text of the admin's settings page;
- ``json_schema_extra={"section": ...}``: the page's section (sections and fields appear in the order
  they are declared; a field without a section is not on the page); ``"widget"`` only where the
  type does not say it (see :func:`widget_of`), ``"choices"`` for a select's labels;
- ``json_schema_extra={"affects": ...}`` (one name or a list): what a change of the field sets going
  (:func:`settings_fingerprint`): ``"stock_mirror"`` (wholecell_watch rebuilds the mirror),
  ``"listing_quantity"`` (every listing's quantity is re-evaluated) or ``"order_import"`` (the next
  order_import run looks again at every order recorded as not imported: the change may make it
  importable).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from enum import StrEnum
from typing import Any, Literal, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

#: Orders are created in WholeCell on this sales channel, exactly (case sensitive): ShipStation's
#: matching of WholeCell orders depends on it, so it is not a setting.
SALES_CHANNEL = "Backmarket"

#: The customer that receives every order when the organization type is *Channel Name*.
CHANNEL_CUSTOMER_NAME = "Back Market"

CONNECTION_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,39}$"


class Platform(StrEnum):
    EU = "EU"
    US = "US"
    AP = "AP"


class PlatformInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    production_host: str
    preprod_host: str
    markets: tuple[str, ...]


PLATFORMS: dict[Platform, PlatformInfo] = {
    Platform.EU: PlatformInfo(
        production_host="https://www.backmarket.fr",
        preprod_host="https://preprod.backmarket.fr",
        markets=(
            "fr-fr",
            "fr-be",
            "es-es",
            "de-de",
            "de-at",
            "it-it",
            "en-gb",
            "nl-nl",
            "pt-pt",
            "en-ie",
            "el-gr",
            "sk-sk",
            "sv-se",
        ),
    ),
    Platform.US: PlatformInfo(
        production_host="https://www.backmarket.com",
        preprod_host="https://preprod.backmarket.com",
        markets=("en-us",),
    ),
    Platform.AP: PlatformInfo(
        production_host="https://www.backmarket.co.jp",
        preprod_host="https://preprod.backmarket.co.jp",
        markets=("ja-jp", "en-au"),
    ),
}

ALL_MARKETS = tuple(market for info in PLATFORMS.values() for market in info.markets)

WHOLECELL_API_HOST = "api.wholecell.io"

#: Set by the local runtime only (``bmsync up``, the simulator, the tests), never by CDK: the loopback
#: host names whose ``http://`` emulators a connection may use. Only loopback names count, so even
#: set by mistake in AWS it cannot send a token off the machine nor reach the instance metadata.
LOCAL_SANDBOX_HOSTS_ENV = "BMSYNC_LOCAL_SANDBOX_HOSTS"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})

_ORIGIN = re.compile(
    r"^(?P<scheme>https?)://(?P<host>[a-z0-9.-]+|\[::1\])(?::(?P<port>\d{1,5}))?(?P<path>/\S*)?$"
)


def local_sandbox_hosts() -> frozenset[str]:
    """The loopback hosts the local runtime allows (empty in AWS)."""
    listed = {name.strip().lower() for name in os.environ.get(LOCAL_SANDBOX_HOSTS_ENV, "").split(",")}
    return frozenset(listed & LOOPBACK_HOSTS)


def backmarket_hosts(platform: Platform) -> tuple[str, ...]:
    """The hosts a connection on ``platform`` may use: the platform's production and preprod ones."""
    info = PLATFORMS[platform]
    return (info.production_host, info.preprod_host)


def _is_local_sandbox(match: re.Match[str]) -> bool:
    return match["scheme"] == "http" and match["host"] in local_sandbox_hosts()


def check_backmarket_host(host: str, platform: Platform) -> str:
    """``host`` if a token of ``platform`` may be sent there; else ``ValueError`` saying what is allowed."""
    host = host.rstrip("/")
    match = _ORIGIN.match(host.lower())
    if match and not match["path"] and (host in backmarket_hosts(platform) or _is_local_sandbox(match)):
        return host
    raise ValueError(
        f"not a Back Market {platform.value} host: use {' or '.join(backmarket_hosts(platform))}, "
        "or leave it empty"
    )


def check_wholecell_url(url: str) -> str:
    """``url`` if WholeCell credentials may be sent there; else ``ValueError`` saying what is allowed."""
    url = url.rstrip("/")
    match = _ORIGIN.match(url.lower())
    allowed = match is not None and (
        (match["scheme"] == "https" and match["host"] == WHOLECELL_API_HOST and not match["port"])
        or _is_local_sandbox(match)
    )
    if not allowed:
        raise ValueError(f"not WholeCell's API: use https://{WHOLECELL_API_HOST}/api/v1")
    return url


class BackMarketOrderStatus(StrEnum):
    """The Back Market order situations an admin maps to WholeCell sales-order statuses.

    Back Market's order ``state`` is 1 (paid, lines to validate), 3 (all lines accepted) or 9
    (finished); a finished order is told apart by its lines: shipped, cancelled or refunded.
    """

    PENDING_PAYMENT = "pending_payment"  # order state 10
    PAID = "paid"  # order state 1: lines wait for the seller's validation
    ACCEPTED = "accepted"  # order state 3: validated, to ship
    SHIPPED = "shipped"  # order state 9, lines shipped
    CANCELLED = "cancelled"  # order state 9, every line cancelled
    REFUNDED = "refunded"  # order state 9, lines refunded (before or after shipping)


ORDER_STATUS_LABELS: dict[BackMarketOrderStatus, str] = {
    BackMarketOrderStatus.PENDING_PAYMENT: "Back Market state 10 (pending deferred payment)",
    BackMarketOrderStatus.PAID: "Back Market state 1 (paid, waiting for validation)",
    BackMarketOrderStatus.ACCEPTED: "Back Market state 3 (accepted, to ship)",
    BackMarketOrderStatus.SHIPPED: "Back Market state 9 (shipped)",
    BackMarketOrderStatus.CANCELLED: "Back Market state 9 (cancelled)",
    BackMarketOrderStatus.REFUNDED: "Back Market state 9 (refunded)",
}


class ProductVariationMode(StrEnum):
    MATCH_VIA_SKU = "match_via_sku"
    CHOOSE_SPECIFIC = "choose_specific"


class OrganizationType(StrEnum):
    SHIPPING_NAME = "shipping_name"
    CHANNEL_NAME = "channel_name"


class ListingImportScope(StrEnum):
    ONLINE = "online"
    ALL = "all"


class ConnectionMode(StrEnum):
    """``shadow``: every flow reads and decides, and records what it would write instead of writing
    (``bmsync.sync.shadow``); ``live``: it writes."""

    SHADOW = "shadow"
    LIVE = "live"


class AutoValidation(StrEnum):
    OFF = "off"
    ALWAYS = "always"
    WHEN_STOCK_COVERS = "when_stock_covers"


DEFAULT_WHOLECELL_ORDER_STATUSES = ("Pending", "Processing", "Shipped", "Cancelled", "Refunded")

DEFAULT_ORDER_STATUS_MAP: dict[BackMarketOrderStatus, str] = {
    BackMarketOrderStatus.PAID: "Pending",
    BackMarketOrderStatus.ACCEPTED: "Processing",
    BackMarketOrderStatus.SHIPPED: "Shipped",
    BackMarketOrderStatus.CANCELLED: "Cancelled",
    BackMarketOrderStatus.REFUNDED: "Refunded",
}

#: WholeCell/ShipStation carrier names -> Back Market shipper names (matched case-insensitively). The
#: values are spelled as Back Market's shipper list has them (bmsync.backmarket.shippers): it refuses
#: others. A UK seller's real orders show Royal Mail, Royal Mail Express, DPD UK, DHL and DHL Express.
DEFAULT_CARRIER_MAP: dict[str, str] = {
    "UPS": "UPS",
    "USPS": "USPS",
    "FedEx": "FedEx",
    "DHL": "DHL Express",
    "DHL Express": "DHL Express",
    "Royal Mail": "Royal Mail",
    "Royal Mail Express": "Royal Mail Express",
    "Parcelforce": "Parcelforce (Worldwide)",
    "DPD": "DPD UK",
    "DPD UK": "DPD UK",
    "Evri": "Hermes - UK",
    "Colissimo": "Colissimo",
    "Chronopost": "Chronopost",
    "GLS": "GLS",
    "Yamato": "Yamato",
}

#: Far beyond any real use, well within what DynamoDB stores exactly (38 digits) and JSON clients
#: read exactly (2**53).
MAX_VERSION = 2**53 - 1
MAX_SAFETY_BUFFER = 10_000

# The settings page's sections.
BACKMARKET_ACCOUNT = "Back Market account"
WHOLECELL_ACCOUNT = "WholeCell account"
ORDER_IMPORT = "Order Import"
ORDER_STATUSES = "Order Statuses"
PRODUCT_VARIATIONS = "Product Variations"
QUANTITY_SYNC = "Inventory Quantity Sync"
LISTING_IMPORT = "Listing Import"

#: What a setting's change sets going (see :func:`settings_fingerprint`).
Affects = Literal["stock_mirror", "listing_quantity", "order_import"]

#: Settings that no longer exist: dropped when a stored item still holds them (they did nothing, or
#: are no longer an input: secret names follow from the connection id).
RETIRED_SETTINGS = frozenset({"drift_check_minutes"})
#: Secret names were an input once: a stored item still holding them loads (they are ignored), an
#: admin sending them is refused (unknown field).
RETIRED_BACKMARKET_SETTINGS = frozenset({"token_secret_name"})
RETIRED_WHOLECELL_SETTINGS = frozenset({"credentials_secret_name"})
#: The validation context of a stored item (``bmsync.store.settings_repo``).
STORED_ITEM: dict[str, Any] = {"stored_item": True}


def _loading_stored(info: ValidationInfo) -> bool:
    return isinstance(info.context, dict) and bool(info.context.get("stored_item"))


def _without(data: Any, retired: frozenset[str]) -> Any:
    if isinstance(data, dict) and retired & data.keys():
        return {key: value for key, value in data.items() if key not in retired}
    return data


class BackMarketConnection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform: Platform = Field(
        default=Platform.EU,
        title="Platform",
        description="Each Back Market platform (Europe, United States, Asia-Pacific) has its own account "
        "and token.",
        json_schema_extra={"section": BACKMARKET_ACCOUNT},
    )
    #: The market whose language, currency and comments are used (``Accept-Language``).
    market: str = Field(
        default="en-gb",
        title="Market",
        description="The market whose language and currency Back Market answers in.",
        json_schema_extra={"section": BACKMARKET_ACCOUNT, "widget": "select", "choices": list(ALL_MARKETS)},
    )
    #: Overrides the platform's production host: its preprod host, or on the local system the emulator.
    host: str | None = Field(
        default=None,
        max_length=200,
        title="Host override",
        description="Leave empty for the platform's production host; the platform's preprod host is "
        "the only other choice.",
        json_schema_extra={"section": BACKMARKET_ACCOUNT},
    )
    company: str = Field(
        default="Seller",
        min_length=1,
        max_length=60,
        pattern=r"^[A-Za-z0-9_.-]+$",
        title="Company (User-Agent)",
        description="Back Market asks integrations to name themselves.",
        json_schema_extra={"section": BACKMARKET_ACCOUNT},
    )
    integration: str = Field(
        default="bmsync",
        min_length=1,
        max_length=60,
        pattern=r"^[A-Za-z0-9_.-]+$",
        title="Integration name (User-Agent)",
        json_schema_extra={"section": BACKMARKET_ACCOUNT},
    )
    contact_email: str = Field(
        default="ops@example.com",
        pattern=r"^[^@\s;]+@[^@\s;]+\.[^@\s;]+$",
        title="Contact e-mail (User-Agent)",
        json_schema_extra={"section": BACKMARKET_ACCOUNT},
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_retired(cls, data: Any, info: ValidationInfo) -> Any:
        return _without(data, RETIRED_BACKMARKET_SETTINGS) if _loading_stored(info) else data

    @field_validator("host")
    @classmethod
    def _host_is_the_platforms(cls, host: str | None, info: ValidationInfo) -> str | None:
        platform = info.data.get("platform")
        if host is None or platform is None:  # no platform: its own error is reported
            return host
        return check_backmarket_host(host, platform)

    @model_validator(mode="after")
    def _market_belongs_to_platform(self) -> BackMarketConnection:
        markets = PLATFORMS[self.platform].markets
        if self.market not in markets:
            raise ValueError(
                f"market {self.market!r} is not a {self.platform.value} market; "
                f"choose one of {', '.join(markets)}"
            )
        return self

    @property
    def base_url(self) -> str:
        return self.host or PLATFORMS[self.platform].production_host

    @property
    def user_agent(self) -> str:
        return f"BM-{self.company}-{self.integration};{self.contact_email}"


class WholeCellConnection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(
        default=f"https://{WHOLECELL_API_HOST}/api/v1",
        max_length=200,
        title="WholeCell API URL",
        json_schema_extra={"section": WHOLECELL_ACCOUNT},
    )
    requests_per_second: float = Field(
        default=2.0,
        gt=0,
        le=20,
        title="Requests per second",
        json_schema_extra={"section": WHOLECELL_ACCOUNT},
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_retired(cls, data: Any, info: ValidationInfo) -> Any:
        return _without(data, RETIRED_WHOLECELL_SETTINGS) if _loading_stored(info) else data

    @field_validator("base_url")
    @classmethod
    def _url_is_wholecells(cls, url: str) -> str:
        return check_wholecell_url(url)


class Settings(BaseModel):
    """Everything an admin can set for one connection. ``version`` backs optimistic locking."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    connection_id: str = Field(default="default", pattern=CONNECTION_ID_PATTERN)
    version: int = Field(default=0, ge=0, le=MAX_VERSION)
    #: Stamped by the admin each time it saves one of the connection's tokens (kept beside the
    #: document, not in it): a secret cached at another stamp is read again (``bmsync.secrets``).
    secrets_version: str = Field(default="", max_length=64, exclude=True)
    display_name: str = Field(
        default="Back Market",
        max_length=80,
        title="Name of this connection",
        json_schema_extra={"section": BACKMARKET_ACCOUNT},
    )

    #: Not on the settings page: going live is its own confirmed action (the Connection page). A stored
    #: item without it predates shadow mode and stays live (an upgrade never silently stops a running
    #: deployment's writes); a connection created in the admin starts in shadow (:func:`new_connection`).
    mode: ConnectionMode = Field(
        default=ConnectionMode.LIVE,
        title="Mode",
        description="shadow: bmsync reads and decides, and records what it would write instead of "
        "writing; live: it writes to Back Market and WholeCell.",
        # Going live makes the next order import look again at the orders shadow mode did not create.
        json_schema_extra={"affects": "order_import"},
    )
    backmarket: BackMarketConnection = Field(default_factory=BackMarketConnection)
    account_currency: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{3}$",
        title="Account currency",
        description="The currency your Back Market account is paid in (ISO code, e.g. GBP). Orders placed "
        "on a market with another currency (EUR from de-de on a GBP account) are flagged, never converted. "
        "Empty: the currency of the market above.",
        json_schema_extra={"section": "Back Market account"},
    )
    wholecell: WholeCellConnection = Field(default_factory=WholeCellConnection)

    # --- Order import (seed: "Order Import", "Organization Type"; beyond the seed: automatic
    # validation of new lines, IMEI/serial export)
    order_import_enabled: bool = Field(
        default=False,
        title="Enable Order Import",
        description="Enabling Order Import will automatically import any open orders from your Back Market "
        "account. This may take a few minutes to complete. After the first import, new Back Market "
        "orders are imported automatically.",
        json_schema_extra={"section": ORDER_IMPORT, "affects": "order_import"},
    )
    organization_type: OrganizationType = Field(
        default=OrganizationType.SHIPPING_NAME,
        title="Organization Type",
        description="Shipping Name: the customer's name from the shipping address, so you can search "
        "orders by customer. Channel Name: one customer named \u201cBack Market\u201d, and you find "
        "orders by the Back Market transaction number.",
        json_schema_extra={
            "section": ORDER_IMPORT,
            "affects": "order_import",  # the customer of a WholeCell order it refused may be the cause
            "choices": {
                OrganizationType.SHIPPING_NAME: "Shipping Name",
                OrganizationType.CHANNEL_NAME: "Channel Name",
            },
        },
    )
    #: Re-read window on each incremental import, so a late write on Back Market's side is not missed.
    order_overlap_minutes: int = Field(
        default=10,
        ge=1,
        le=24 * 60,
        title="Re-read window (minutes)",
        description="Each import re-reads this much of the past.",
        json_schema_extra={"section": ORDER_IMPORT},
    )
    #: The daily catch-up re-reads orders modified over these last days.
    order_catchup_days: int = Field(
        default=3, ge=1, le=30, title="Daily catch-up (days)", json_schema_extra={"section": ORDER_IMPORT}
    )
    auto_validation: AutoValidation = Field(
        default=AutoValidation.OFF,
        title="Validate new order lines automatically",
        description="Off leaves validation to you in the Back Market back office.",
        json_schema_extra={
            "section": ORDER_IMPORT,
            "choices": {
                AutoValidation.OFF: "Off",
                AutoValidation.ALWAYS: "Always",
                AutoValidation.WHEN_STOCK_COVERS: "When WholeCell stock covers the line",
            },
        },
    )
    #: With ``when_stock_covers``: cancel a line that stock does not cover instead of leaving it for a person.
    cancel_uncovered_lines: bool = Field(
        default=False, title="Cancel lines stock does not cover", json_schema_extra={"section": ORDER_IMPORT}
    )
    export_imei: bool = Field(
        default=True,
        title="Send IMEI / serial numbers with shipments",
        json_schema_extra={"section": ORDER_IMPORT},
    )
    #: bmsync's copy of an order (order and tracking numbers, lines, shipment) is deleted this long
    #: after the order is finished; WholeCell keeps its sales order and customer (docs/data.md).
    finished_order_retention_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        title="Keep finished orders in bmsync (days)",
        description="A finished order (shipped and sent to Back Market, cancelled or refunded) is deleted "
        "from bmsync this many days after it finished. WholeCell keeps its sales order and customer.",
        json_schema_extra={"section": ORDER_IMPORT},
    )

    # --- Order statuses (seed: "Order Statuses")
    #: The account's sales-order status titles as last read from WholeCell; the status map may only
    #: name these (WholeCell statuses are account-defined, not a fixed list).
    wholecell_order_statuses: list[str] = Field(
        default_factory=lambda: list(DEFAULT_WHOLECELL_ORDER_STATUSES),
        title="WholeCell sales-order statuses (one per line)",
        description="The statuses of your WholeCell account; create new ones on WholeCell's Order "
        "Statuses Settings Page.",
        json_schema_extra={"section": ORDER_STATUSES},
    )
    #: Read only when WholeCell has no ``/sales_order_statuses`` endpoint (it is not advertised): then
    #: these titles say which sales orders are open, i.e. whose items count as outstanding. Like a
    #: status flag changed in WholeCell, a change is applied by the next full reconciliation.
    open_order_statuses: list[str] = Field(
        default_factory=lambda: ["Pending", "Processing"],
        title="Open sales-order statuses, if WholeCell does not list them (one per line)",
        description="Used only when WholeCell's API does not tell which sales-order statuses are open: "
        "the uncommitted items of orders in these statuses are subtracted from the quantities.",
        json_schema_extra={"section": ORDER_STATUSES},
    )
    #: One select per Back Market status (titled by ``ORDER_STATUS_LABELS``); the help goes with
    #: the status orders are first imported in.
    order_status_map: dict[BackMarketOrderStatus, str] = Field(
        default_factory=lambda: dict(DEFAULT_ORDER_STATUS_MAP),
        description="Map Back Market's order statuses to your WholeCell order statuses for orders to be "
        "imported. Sales order statuses in WholeCell are controlled by the actions that you take in Back "
        "Market; changing the status in WholeCell won't affect Back Market.",
        json_schema_extra={
            "section": ORDER_STATUSES,
            "widget": "status_map",
            "help_at": BackMarketOrderStatus.PAID,
            "affects": "order_import",
        },
    )
    carrier_map: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_CARRIER_MAP),
        title="Carriers (WholeCell carrier = Back Market shipper, one per line)",
        json_schema_extra={"section": ORDER_STATUSES},
    )

    # --- Product variations (seed: "Product Variations")
    product_variations: ProductVariationMode = Field(
        default=ProductVariationMode.MATCH_VIA_SKU,
        title="Product Variations",
        description="Match via SKU maps a listing to every Product Variation with its SKU (helpful to map "
        "several grades/conditions in WholeCell to one grade in Back Market). Choose Specific Product "
        "Variations links each listing by hand (\u201c\u26a0 Product not set!\u201d).",
        json_schema_extra={
            "section": PRODUCT_VARIATIONS,
            # order_import: the variations of a WholeCell order it refused may be the cause
            "affects": ["listing_quantity", "order_import"],
            "choices": {
                ProductVariationMode.MATCH_VIA_SKU: "Match via SKU",
                ProductVariationMode.CHOOSE_SPECIFIC: "Choose Specific Product Variations",
            },
        },
    )

    # --- Inventory quantity sync (seed: "Inventory Quantity Sync")
    quantity_sync_enabled: bool = Field(
        default=False,
        title="Enable Quantity Sync",
        description="Automatically update the quantities of your Back Market listings from the calculated "
        "quantities of the associated Product Variations or SKUs in WholeCell (Calculated Quantity = "
        "Available Quantity - Outstanding Quantity). A listing must be connected to sync.",
        json_schema_extra={"section": QUANTITY_SYNC, "affects": "listing_quantity"},
    )
    available_statuses: list[str] = Field(
        default_factory=lambda: ["Available"],
        min_length=1,
        title="Inventory statuses that count as available (one per line)",
        json_schema_extra={"section": QUANTITY_SYNC, "affects": "stock_mirror"},
    )
    available_warehouses: list[str] = Field(
        default_factory=list,
        title="Warehouses that count (one per line; empty = all)",
        json_schema_extra={"section": QUANTITY_SYNC, "affects": "stock_mirror"},
    )
    safety_buffer: int = Field(
        default=0,
        ge=0,
        le=MAX_SAFETY_BUFFER,
        title="Safety buffer (units held back per listing)",
        json_schema_extra={"section": QUANTITY_SYNC, "affects": "listing_quantity"},
    )
    wholecell_reconcile_minutes: int = Field(
        default=60,
        ge=5,
        le=24 * 60,
        title="Full WholeCell re-read every (minutes)",
        json_schema_extra={"section": QUANTITY_SYNC},
    )

    # --- Listing import (seed: "Listing Import")
    listing_import_scope: ListingImportScope = Field(
        default=ListingImportScope.ONLINE,
        title="Listings to import",
        description="Online listings are the ones that are active and in stock; All includes the ones "
        "that are out of stock and inactive.",
        json_schema_extra={
            "section": LISTING_IMPORT,
            "choices": {ListingImportScope.ONLINE: "Online", ListingImportScope.ALL: "All"},
        },
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_retired(cls, data: Any) -> Any:
        # A stored item written before a setting was retired still loads (everything else is checked).
        return _without(data, RETIRED_SETTINGS)

    @field_validator(
        "available_statuses", "available_warehouses", "wholecell_order_statuses", "open_order_statuses"
    )
    @classmethod
    def _clean_titles(cls, titles: list[str]) -> list[str]:
        cleaned: list[str] = []
        for title in titles:
            title = title.strip()
            if not title:
                raise ValueError("titles may not be blank")
            if title not in cleaned:
                cleaned.append(title)
        return cleaned

    @field_validator("carrier_map")
    @classmethod
    def _carriers_not_blank(cls, carriers: dict[str, str]) -> dict[str, str]:
        for carrier, shipper in carriers.items():
            if not carrier.strip() or not shipper.strip():
                raise ValueError("carrier and Back Market shipper names may not be blank")
            if len(shipper) > 200:
                raise ValueError(f"Back Market shipper name for {carrier!r} is over 200 characters")
        return carriers

    @model_validator(mode="after")
    def _status_map_names_known_statuses(self, info: ValidationInfo) -> Settings:
        # The admin passes the statuses it just read from WholeCell as validation context.
        context = info.context if isinstance(info.context, dict) else {}
        known = context.get("wholecell_order_statuses") or self.wholecell_order_statuses
        unknown = {state: status for state, status in self.order_status_map.items() if status not in known}
        if unknown:
            errors = "; ".join(
                f"order_status_map.{state.value}: {status!r} is not a WholeCell sales-order status "
                f"(known: {', '.join(known)})"
                for state, status in unknown.items()
            )
            raise ValueError(errors)
        return self

    # -- conveniences the flows use
    def backmarket_account_currency(self) -> str:
        """``account_currency``, or the market's currency (en-gb GBP, EU EUR, en-us USD, ja-jp JPY, ...)."""
        # Imported here: bmsync.backmarket's client imports this module.
        from bmsync.backmarket.models import market_currency

        return self.account_currency or market_currency(self.backmarket.market)

    def wholecell_status_for(self, status: BackMarketOrderStatus) -> str | None:
        return self.order_status_map.get(status)

    @property
    def finished_order_retention(self) -> timedelta:
        """How long the orders table keeps a finished order's item (its TTL)."""
        return timedelta(days=self.finished_order_retention_days)

    def shipper_for(self, carrier: str | None) -> str | None:
        if not carrier:
            return None
        wanted = carrier.strip().lower()
        for name, shipper in self.carrier_map.items():
            if name.lower() == wanted:
                return shipper
        return carrier.strip()[:200]


ADMIN_SECRET_NAME = "bmsync/admin"  # noqa: S105 (a name, not a value)

_FIELD_IN_MESSAGE = re.compile(r"^(order_status_map\.[a-z_]+):")


def error_fields(exc: Exception) -> list[dict[str, str]]:
    """Turn a pydantic ``ValidationError`` into ``[{"field": "a.b", "message": ...}]`` for a 422."""
    if not isinstance(exc, ValidationError):
        return [{"field": "", "message": str(exc)}]
    fields: list[dict[str, str]] = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if not location:
            # A model-level rule: split it per field where the message names one.
            for part in message.split("; "):
                match = _FIELD_IN_MESSAGE.match(part)
                fields.append({"field": match.group(1) if match else "", "message": part.split(": ", 1)[-1]})
            continue
        fields.append({"field": location, "message": message})
    return fields


# --- The metadata of the settings: what the settings page shows, what wholecell_watch announces


def setting_fields(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, FieldInfo]]:
    """Every field of ``model`` by its dotted path (``backmarket.market``), in declaration order."""
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from setting_fields(annotation, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", info


def field_metadata(info: FieldInfo) -> dict[str, Any]:
    """The field's ``json_schema_extra`` (section, widget, choices, affects)."""
    extra = info.json_schema_extra
    return dict(extra) if isinstance(extra, dict) else {}


def value_at(document: dict[str, Any], dotted: str) -> Any:
    value: Any = document
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def widget_of(info: FieldInfo) -> str:
    """How the settings page edits a field: its ``widget`` metadata, else what its type says."""
    metadata = field_metadata(info)
    if "widget" in metadata:
        return str(metadata["widget"])
    annotation = info.annotation
    origin = get_origin(annotation)
    if annotation is bool:
        return "checkbox"
    if annotation in (int, float):
        return "number"
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return "select"
    if origin is list:
        return "lines"
    if origin is dict:
        return "pairs"
    return "text"


def choices_of(info: FieldInfo) -> tuple[tuple[str, str], ...]:
    """A select's ``(value, label)`` pairs: the ``choices`` metadata (a list or value -> label), else
    the values of the field's enum."""
    choices = field_metadata(info).get("choices")
    if isinstance(choices, dict):
        return tuple((str(value), str(label)) for value, label in choices.items())
    if isinstance(choices, list):
        return tuple((str(value), str(value)) for value in choices)
    annotation = info.annotation
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return tuple((member.value, member.value) for member in annotation)
    return ()


def _affects(info: FieldInfo) -> tuple[str, ...]:
    affects = field_metadata(info).get("affects")
    return (affects,) if isinstance(affects, str) else tuple(affects or ())


def settings_fingerprint(settings: Settings, affects: Affects) -> str:
    """The values of the fields marked ``affects``, as canonical JSON: equal exactly when none of them
    changed. Lists count as sets (the order of available statuses means nothing)."""
    document = settings.model_dump(mode="json")
    picked: dict[str, Any] = {}
    for name, info in setting_fields(type(settings)):
        if affects in _affects(info):
            value = value_at(document, name)
            picked[name] = sorted(value) if isinstance(value, list) else value
    return json.dumps(picked, sort_keys=True, separators=(",", ":"))

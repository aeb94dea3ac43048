"""The integration settings of one connection: every option of the seed and of DESIGN.md, validated.

A *connection* pairs one WholeCell account with one Back Market platform account. Settings hold the
*names* of the secrets (Secrets Manager) that carry the tokens, never their values.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

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

NonNegativeInt = Annotated[int, Field(ge=0)]


class BackMarketConnection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform: Platform = Platform.EU
    #: Overrides the platform's production host (e.g. ``https://www.backmarket.co.uk``, preprod, or
    #: the local sandbox).
    host: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(:\d+)?$")
    #: The market whose language, currency and comments are used (``Accept-Language``).
    market: str = "en-gb"
    #: The name of the Secrets Manager secret that holds the token (never the token).
    token_secret_name: str = Field(default="", max_length=512)
    company: str = Field(default="Seller", min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$")
    integration: str = Field(default="bmsync", min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$")
    contact_email: str = Field(default="ops@example.com", pattern=r"^[^@\s;]+@[^@\s;]+\.[^@\s;]+$")

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

    base_url: str = Field(default="https://api.wholecell.io/api/v1", pattern=r"^https?://\S+$")
    #: The name of the Secrets Manager secret holding ``{"app_id": ..., "app_secret": ...}``.
    credentials_secret_name: str = Field(default="", max_length=512)
    requests_per_second: float = Field(default=2.0, gt=0, le=20)


class Settings(BaseModel):
    """Everything an admin can set for one connection. ``version`` backs optimistic locking."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    connection_id: str = Field(default="default", pattern=CONNECTION_ID_PATTERN)
    version: NonNegativeInt = 0
    display_name: str = Field(default="Back Market", max_length=80)

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

    # --- Order import (seed: "Order Import", "Organization Type", "Order Statuses")
    order_import_enabled: bool = False
    organization_type: OrganizationType = OrganizationType.SHIPPING_NAME
    order_status_map: dict[BackMarketOrderStatus, str] = Field(
        default_factory=lambda: dict(DEFAULT_ORDER_STATUS_MAP)
    )
    #: The account's sales-order status titles as last read from WholeCell; the status map may only
    #: name these (WholeCell statuses are account-defined, not a fixed list).
    wholecell_order_statuses: list[str] = Field(
        default_factory=lambda: list(DEFAULT_WHOLECELL_ORDER_STATUSES)
    )
    #: Re-read window on each incremental import, so a late write on Back Market's side is not missed.
    order_overlap_minutes: int = Field(default=10, ge=1, le=24 * 60)
    #: The daily catch-up re-reads orders modified over these last days.
    order_catchup_days: int = Field(default=3, ge=1, le=30)

    # --- Beyond the seed: automatic validation of new lines, IMEI/serial export
    auto_validation: AutoValidation = AutoValidation.OFF
    #: With ``when_stock_covers``: cancel a line that stock does not cover instead of leaving it for a person.
    cancel_uncovered_lines: bool = False
    export_imei: bool = True
    carrier_map: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_CARRIER_MAP))

    # --- Product variations (seed: "Product Variations")
    product_variations: ProductVariationMode = ProductVariationMode.MATCH_VIA_SKU

    # --- Inventory quantity sync (seed: "Inventory Quantity Sync")
    quantity_sync_enabled: bool = False
    available_statuses: list[str] = Field(default_factory=lambda: ["Available"], min_length=1)
    #: Warehouses whose units count as available; empty means every warehouse.
    available_warehouses: list[str] = Field(default_factory=list)
    safety_buffer: NonNegativeInt = 0
    drift_check_minutes: int = Field(default=60, ge=5, le=24 * 60)
    wholecell_reconcile_minutes: int = Field(default=60, ge=5, le=24 * 60)

    # --- Listing import (seed: "Listing Import")
    listing_import_scope: ListingImportScope = ListingImportScope.ONLINE

    @field_validator("available_statuses", "available_warehouses", "wholecell_order_statuses")
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

    def backmarket_status_for(self, wholecell_status: str) -> list[BackMarketOrderStatus]:
        return [state for state, title in self.order_status_map.items() if title == wholecell_status]

    def shipper_for(self, carrier: str | None) -> str | None:
        if not carrier:
            return None
        wanted = carrier.strip().lower()
        for name, shipper in self.carrier_map.items():
            if name.lower() == wanted:
                return shipper
        return carrier.strip()[:200]

    def secret_names(self) -> SecretNames:
        return SecretNames.for_connection(self)


def default_secret_name(connection_id: str, what: Literal["backmarket-token", "wholecell"]) -> str:
    return f"bmsync/{connection_id}/{what}"


class SecretNames(BaseModel):
    backmarket_token: str
    wholecell_credentials: str

    @classmethod
    def for_connection(cls, settings: Settings) -> SecretNames:
        return cls(
            backmarket_token=settings.backmarket.token_secret_name
            or default_secret_name(settings.connection_id, "backmarket-token"),
            wholecell_credentials=settings.wholecell.credentials_secret_name
            or default_secret_name(settings.connection_id, "wholecell"),
        )


ADMIN_SECRET_NAME = "bmsync/admin"  # noqa: S105 (a name, not a value)

_FIELD_IN_MESSAGE = re.compile(r"^(order_status_map\.[a-z_]+):")


def error_fields(exc: Exception) -> list[dict[str, str]]:
    """Turn a pydantic ``ValidationError`` into ``[{"field": "a.b", "message": ...}]`` for a 422."""
    from pydantic import ValidationError

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

"""Back Market listings as bmsync knows them (the Listings tab), and the chosen-variation links.

One ``listings`` item per Back Market listing. listing_import owns what Back Market says about it
(ids, SKU, title, grade, quantity, state) and the mapping; quantity_sync owns the sync fields
(``last_calculated``, ``last_synced``...); the admin owns the per-listing overrides and the chosen
variations. Each writer updates only its own attributes, so no write ever loses another's.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from bmsync.clock import utc_iso
from bmsync.store.dynamo import from_dynamo, paginate, table, to_dynamo
from bmsync.store.stock_repo import sku_key
from bmsync.store.tables import LISTING_LINKS, LISTINGS

SyncStatus = Literal[
    "pending",  # connected, not evaluated by quantity_sync yet
    "in_sync",  # Back Market shows the computed quantity
    "unmapped",  # Match via SKU: no WholeCell variation has the listing's SKU
    "product_not_set",  # Choose specific product variations: none chosen yet
    "sync_off",  # Inventory Quantity Sync is disabled
    "paused",  # the admin excluded this listing from quantity sync
    "deferred",  # an increase waits for Back Market's request budget
    "error",  # Back Market refused or failed the last push
    "gone",  # Back Market no longer has this listing
]


class ListingItem(BaseModel):
    connection_id: str
    listing_id: str  # Back Market's listing UUID (`id`)
    legacy_id: int | None = None  # Back Market's numeric `listing_id`
    sku: str
    title: str = ""
    grade: str | None = None
    bm_quantity: int = 0  # as Back Market last showed it (import, push or drift check)
    publication_state: int | None = None
    imported_at: str
    seen_at: str  # the last import that found it changed (unchanged listings are not rewritten)
    missing_since: str | None = None  # set when an import no longer returned it
    connected: bool = False
    #: What the listing maps to in the current mode: the variations carrying its SKU (*Match via SKU*)
    #: or the chosen ones (*Choose specific product variations*).
    variation_ids: list[str] = Field(default_factory=list)
    #: The variations chosen in the admin, kept across mode switches; the links mirror it.
    chosen_variation_ids: list[str] = Field(default_factory=list)
    mapping_reason: str = ""  # why it is not connected, in plain words
    sync_status: SyncStatus = "pending"
    reason: str = ""  # the plain-words explanation of sync_status
    last_calculated: int | None = None
    last_synced: int | None = None
    last_synced_at: str | None = None
    last_error: str | None = None
    sync_seq: int = 0  # bumped by every quantity_sync claim: concurrent pushes never double up
    buffer_override: int | None = None  # per-listing safety buffer (None: the connection's)
    sync_paused: bool = False
    #: The quantity settings wholecell_watch last announced (a change re-evaluates every listing).
    settings_seen: str | None = None
    last_writer: str = "listing_import"

    @property
    def sku_key(self) -> str | None:
        return sku_key(self.sku)


class ListingsRepository:
    def __init__(
        self, connection_id: str, listings_table: Any | None = None, links_table: Any | None = None
    ) -> None:
        self.connection_id = connection_id
        self._listings = listings_table if listings_table is not None else table(LISTINGS)
        self._links = links_table if links_table is not None else table(LISTING_LINKS)

    def _key(self, listing_id: str) -> dict[str, str]:
        return {"connection_id": self.connection_id, "listing_id": listing_id}

    # -- reads
    def get(self, listing_id: str) -> ListingItem | None:
        item = self._listings.get_item(Key=self._key(listing_id), ConsistentRead=True).get("Item")
        return _to_listing(item) if item else None

    def all(self) -> list[ListingItem]:
        items = paginate(
            self._listings.query,
            KeyConditionExpression=Key("connection_id").eq(self.connection_id),
            ConsistentRead=True,
        )
        return [ListingItem.model_validate(item) for item in items]

    def by_sku(self, sku: str) -> list[ListingItem]:
        wanted = sku_key(sku)
        if wanted is None:
            return []
        items = paginate(
            self._listings.query,
            IndexName="by_sku",
            KeyConditionExpression=Key("connection_id").eq(self.connection_id) & Key("sku_key").eq(wanted),
        )
        return [ListingItem.model_validate(item) for item in items]

    # -- writes
    def resend_failed_pushes(self, *, reason: str, writer: str) -> int:
        """Mark every listing whose push failed (``error``) ``pending`` again, so that its stream
        hands it to quantity_sync once more; returns how many. Only a listing no push claimed since
        it was read is marked (that push decides its status itself)."""
        return sum(
            self.update_fields(
                listing.listing_id,
                {"sync_status": "pending", "reason": reason},
                writer=writer,
                expected_sync_seq=listing.sync_seq,
            )
            for listing in self.all()
            if listing.sync_status == "error"
        )

    def create(self, listing: ListingItem) -> bool:
        """Store a listing seen for the first time; ``False`` if it exists already (a concurrent import)."""
        document = listing.model_dump()
        document["sku_key"] = listing.sku_key
        try:
            self._listings.put_item(
                Item=to_dynamo(document), ConditionExpression="attribute_not_exists(listing_id)"
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def update_fields(
        self,
        listing_id: str,
        fields: dict[str, Any],
        *,
        writer: str,
        expected_sync_seq: int | None = None,
    ) -> bool:
        """Set (or, for ``None``, remove) ``fields`` of an existing listing, marking ``writer``.

        With ``expected_sync_seq`` the write happens only if nobody claimed the listing since it was
        read; returns ``False`` when that (or the listing's existence) does not hold.
        """
        values = {**fields, "last_writer": writer}
        if "sku" in fields:
            values["sku_key"] = sku_key(fields["sku"])
        names: dict[str, str] = {}
        placeholders: dict[str, Any] = {}
        sets: list[str] = []
        removes: list[str] = []
        for index, (name, value) in enumerate(sorted(values.items())):
            names[f"#f{index}"] = name
            if value is None:
                removes.append(f"#f{index}")
            else:
                placeholders[f":v{index}"] = to_dynamo(value)
                sets.append(f"#f{index} = :v{index}")
        expression = "SET " + ", ".join(sets)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        condition = "attribute_exists(listing_id)"
        if expected_sync_seq is not None:
            names["#seq"] = "sync_seq"
            placeholders[":seq"] = expected_sync_seq
            condition += " AND (#seq = :seq OR (attribute_not_exists(#seq) AND :seq = :zero))"
            placeholders[":zero"] = 0
        try:
            self._listings.update_item(
                Key=self._key(listing_id),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=placeholders,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def record_backmarket_sale(
        self, listing_id: str, quantity: int, *, writer: str, sold_at: datetime | None = None
    ) -> bool:
        """Back Market lowered the listing by ``quantity`` itself (a buyer ordered): lower what bmsync
        believes Back Market shows (``last_synced``, ``bm_quantity``) to match.

        Without this, a later stock change that brings the computed quantity back to the value last
        sent would push nothing, and the listing would stay at Back Market's lowered value.
        Returns ``False`` when nothing was synced yet or less than ``quantity`` was, or when bmsync
        sent the listing's quantity after the sale (``sold_at``, the order's creation on Back Market):
        that quantity replaced the lowered one, so Back Market shows what was sent. An order imported
        hours late (a status mapped late, an outage) would otherwise make bmsync believe Back Market
        shows one less than it does, and the listing would stay one too high. A sale in the same
        second as the push counts as after it: bmsync then pushes once more rather than leave the
        listing short.
        """
        condition = "attribute_exists(listing_id) AND last_synced >= :q"
        values: dict[str, Any] = {":q": quantity, ":writer": writer}
        if sold_at is not None:
            condition += " AND (attribute_not_exists(last_synced_at) OR last_synced_at <= :sold_at)"
            values[":sold_at"] = utc_iso(sold_at)
        try:
            self._listings.update_item(
                Key=self._key(listing_id),
                UpdateExpression=(
                    "SET last_synced = last_synced - :q, bm_quantity = if_not_exists(bm_quantity, :q) - :q, "
                    "last_writer = :writer"
                ),
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # -- chosen variations (Choose specific product variations)
    def chosen_variations(self, listing_id: str) -> list[str]:
        items = paginate(
            self._links.query,
            IndexName="by_listing",
            KeyConditionExpression=Key("connection_id").eq(self.connection_id)
            & Key("listing_id").eq(listing_id),
        )
        return sorted(str(item["variation_id"]) for item in items)

    def listings_of_variation(self, variation_id: str) -> list[str]:
        items = paginate(
            self._links.query,
            KeyConditionExpression=Key("connection_id").eq(self.connection_id)
            & Key("link_id").begins_with(f"{variation_id}#"),
            ConsistentRead=True,
        )
        return sorted(str(item["listing_id"]) for item in items)

    def set_chosen_variations(
        self, listing_id: str, variation_ids: Iterable[str], *, writer: str
    ) -> ListingItem:
        """Link a listing to exactly ``variation_ids`` and record the mapping on the listing item.

        The listing item's write reaches quantity_sync through the ``listings`` stream, which pushes
        the new quantity. Raises ``KeyError`` for a listing that was never imported.
        """
        listing = self.get(listing_id)
        if listing is None:
            raise KeyError(listing_id)
        wanted = sorted(
            {str(variation_id).strip() for variation_id in variation_ids if str(variation_id).strip()}
        )
        current = set(self.chosen_variations(listing_id))
        for variation_id in current - set(wanted):
            self._links.delete_item(
                Key={"connection_id": self.connection_id, "link_id": f"{variation_id}#{listing_id}"}
            )
        for variation_id in set(wanted) - current:
            self._links.put_item(
                Item={
                    "connection_id": self.connection_id,
                    "link_id": f"{variation_id}#{listing_id}",
                    "listing_id": listing_id,
                    "variation_id": variation_id,
                    "last_writer": writer,
                }
            )
        fields: dict[str, Any] = {
            "chosen_variation_ids": wanted,
            "variation_ids": wanted,
            "connected": bool(wanted),
            "mapping_reason": "" if wanted else PRODUCT_NOT_SET,
        }
        self.update_fields(listing_id, fields, writer=writer)
        return listing.model_copy(update=fields)

    def set_overrides(
        self, listing_id: str, *, buffer_override: int | None, sync_paused: bool, writer: str
    ) -> bool:
        """The admin's per-listing settings: its own safety buffer, or no quantity sync at all."""
        if buffer_override is not None and buffer_override < 0:
            raise ValueError("buffer_override must be 0 or more")
        return self.update_fields(
            listing_id, {"buffer_override": buffer_override, "sync_paused": sync_paused}, writer=writer
        )


PRODUCT_NOT_SET = "Product not set: choose a variation"


def unmapped_reason(sku: str) -> str:
    return f"SKU {sku} is not on any product variation in WholeCell: add it to at least one variation"


def _to_listing(item: dict[str, Any]) -> ListingItem:
    return ListingItem.model_validate(from_dynamo(item))

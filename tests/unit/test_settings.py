from __future__ import annotations

import pytest
from pydantic import ValidationError

from bmsync.settings import (
    BackMarketOrderStatus,
    Platform,
    ProductVariationMode,
    Settings,
    error_fields,
)


def test_defaults_follow_the_seed() -> None:
    settings = Settings()
    assert settings.order_import_enabled is False
    assert settings.quantity_sync_enabled is False
    assert settings.product_variations is ProductVariationMode.MATCH_VIA_SKU
    assert settings.order_status_map[BackMarketOrderStatus.PAID] == "Pending"
    assert settings.backmarket.base_url == "https://www.backmarket.fr"
    assert settings.backmarket.user_agent == "BM-Seller-bmsync;ops@example.com"


def test_status_map_naming_an_unknown_wholecell_status_names_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings.model_validate({"order_status_map": {"paid": "Pending", "accepted": "Shipping soon"}})
    fields = error_fields(caught.value)
    assert fields == [
        {
            "field": "order_status_map.accepted",
            "message": "'Shipping soon' is not a WholeCell sales-order status "
            "(known: Pending, Processing, Shipped, Cancelled, Refunded)",
        }
    ]


def test_status_map_is_checked_against_the_statuses_read_from_wholecell() -> None:
    data = {"order_status_map": {"paid": "Awaiting pick"}}
    Settings.model_validate(data, context={"wholecell_order_statuses": ["Awaiting pick"]})
    with pytest.raises(ValidationError):
        Settings.model_validate(data, context={"wholecell_order_statuses": ["Pending"]})


def test_market_must_belong_to_the_platform() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings.model_validate({"backmarket": {"platform": "US", "market": "fr-fr"}})
    [field] = error_fields(caught.value)
    assert field["field"] == "backmarket"
    assert "not a US market" in field["message"]
    assert (
        Settings.model_validate({"backmarket": {"platform": "US", "market": "en-us"}}).backmarket.platform
        is Platform.US
    )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"safety_buffer": -1}, "safety_buffer"),
        ({"connection_id": "Has Spaces"}, "connection_id"),
        ({"available_statuses": []}, "available_statuses"),
        ({"listing_import_scope": "some"}, "listing_import_scope"),
        ({"unknown_option": True}, "unknown_option"),
        ({"backmarket": {"host": "not a url"}}, "backmarket.host"),
    ],
)
def test_bad_values_are_rejected_with_the_field_named(data: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings.model_validate(data)
    assert field in [entry["field"] for entry in error_fields(caught.value)]


def test_secret_names_are_names_not_values() -> None:
    names = Settings(connection_id="uk").secret_names()
    assert names.backmarket_token == "bmsync/uk/backmarket-token"
    assert names.wholecell_credentials == "bmsync/uk/wholecell"
    assert "token" not in Settings.model_fields  # only the secret's *name* is a setting


def test_carrier_map_matches_case_insensitively_and_passes_unknown_carriers_through() -> None:
    settings = Settings()
    assert settings.shipper_for("dhl") == "DHL Express"
    assert settings.shipper_for("Yodel") == "Yodel"
    assert settings.shipper_for(None) is None

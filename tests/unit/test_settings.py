from __future__ import annotations

import pytest
from pydantic import Field, ValidationError

from bmsync.settings import (
    BackMarketOrderStatus,
    Platform,
    ProductVariationMode,
    Settings,
    choices_of,
    error_fields,
    field_metadata,
    setting_fields,
    settings_fingerprint,
    widget_of,
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


def test_a_stored_item_holding_a_retired_setting_still_loads() -> None:
    # drift_check_minutes was on the settings page and read by nothing; items saved then keep it.
    stored = Settings().model_dump(mode="json") | {"drift_check_minutes": 30, "version": 4}
    loaded = Settings.model_validate(stored)
    assert loaded.version == 4
    assert "drift_check_minutes" not in loaded.model_dump()
    with pytest.raises(ValidationError):  # anything else unknown is still refused
        Settings.model_validate(stored | {"drift_check_minute": 30})


@pytest.mark.parametrize(
    ("change", "mirror_changes", "quantity_changes"),
    [
        ({"available_statuses": ["Available", "Refurbished"]}, True, False),
        ({"available_warehouses": ["Main"]}, True, False),
        ({"safety_buffer": 2}, False, True),
        ({"quantity_sync_enabled": True}, False, True),
        ({"product_variations": "choose_specific"}, False, True),
        ({"display_name": "Renamed"}, False, False),
        ({"wholecell_reconcile_minutes": 15}, False, False),
        ({"order_import_enabled": True}, False, False),
        ({"backmarket": {"market": "fr-fr"}}, False, False),
    ],
)
def test_the_watch_fingerprints_change_with_the_fields_marked_as_affecting_them(
    change: dict[str, object], mirror_changes: bool, quantity_changes: bool
) -> None:
    before = Settings()
    after = Settings.model_validate(before.model_dump(mode="json") | change)
    for affects, changes in (("stock_mirror", mirror_changes), ("listing_quantity", quantity_changes)):
        assert (
            settings_fingerprint(before, affects) != settings_fingerprint(after, affects)  # type: ignore[arg-type]
        ) is changes, affects


def test_the_fingerprint_is_stable_and_ignores_the_order_of_titles() -> None:
    settings = Settings(available_statuses=["Refurbished", "Available"], safety_buffer=1)
    assert settings_fingerprint(settings, "stock_mirror") == (
        '{"available_statuses":["Available","Refurbished"],"available_warehouses":[]}'
    )
    assert settings_fingerprint(settings, "listing_quantity") == (
        '{"product_variations":"match_via_sku","quantity_sync_enabled":false,"safety_buffer":1}'
    )
    reordered = Settings(available_statuses=["Available", "Refurbished"], safety_buffer=1)
    assert settings_fingerprint(reordered, "stock_mirror") == settings_fingerprint(settings, "stock_mirror")


def test_a_new_field_marked_affects_is_picked_up_without_another_edit() -> None:
    class WithRounding(Settings):
        round_down_to: int = Field(default=1, json_schema_extra={"affects": "listing_quantity"})

    before, after = WithRounding(), WithRounding(round_down_to=5)
    assert settings_fingerprint(before, "listing_quantity") != settings_fingerprint(after, "listing_quantity")
    assert settings_fingerprint(before, "stock_mirror") == settings_fingerprint(after, "stock_mirror")


def test_every_setting_on_the_page_is_described_by_the_model() -> None:
    shown = {name: info for name, info in setting_fields(Settings) if field_metadata(info).get("section")}
    assert "drift_check_minutes" not in shown
    assert widget_of(shown["safety_buffer"]) == "number"
    assert widget_of(shown["quantity_sync_enabled"]) == "checkbox"
    assert widget_of(shown["available_statuses"]) == "lines"
    assert choices_of(shown["backmarket.platform"]) == (("EU", "EU"), ("US", "US"), ("AP", "AP"))
    for name, info in shown.items():
        # Every field but the status map (titled per status) carries its label.
        assert info.title or widget_of(info) == "status_map", name
    # Fields that are not settings of the page have no section: the ids and secret names.
    hidden = {name for name, info in setting_fields(Settings) if not field_metadata(info).get("section")}
    assert hidden == {
        "connection_id",
        "version",
        "backmarket.token_secret_name",
        "wholecell.credentials_secret_name",
    }

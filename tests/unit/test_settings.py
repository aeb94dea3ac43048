from __future__ import annotations

import pytest
from pydantic import Field, ValidationError

from bmsync.settings import (
    LOCAL_SANDBOX_HOSTS_ENV,
    STORED_ITEM,
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


def test_no_secret_nor_secret_name_is_a_setting_and_stored_names_still_load() -> None:
    names = {name for name, _ in setting_fields(Settings)}
    assert not [name for name in names if "secret" in name and name != "secrets_version"]
    with pytest.raises(ValidationError):
        Settings.model_validate({"backmarket": {"token_secret_name": "bmsync/admin"}})
    with pytest.raises(ValidationError):
        Settings.model_validate({"wholecell": {"credentials_secret_name": "bmsync/demo/wholecell"}})
    stored = {
        "connection_id": "uk",
        "backmarket": {"token_secret_name": "bmsync/other/backmarket-token"},
        "wholecell": {"credentials_secret_name": "arn:aws:secretsmanager:eu-west-1:1:secret:bmsync/admin"},
    }
    assert Settings.model_validate(stored, context=STORED_ITEM).connection_id == "uk"


@pytest.mark.parametrize(
    ("platform", "host", "allowed"),
    [
        ("EU", "https://www.backmarket.fr", True),
        ("EU", "https://preprod.backmarket.fr/", True),
        ("EU", "https://www.backmarket.com", False),  # another platform's host
        ("US", "https://www.backmarket.com", True),
        ("EU", "http://www.backmarket.fr", False),
        ("EU", "https://www.backmarket.fr.attacker.example", False),
        ("EU", "https://attacker.example", False),
        ("EU", "http://169.254.169.254", False),
        ("EU", "http://127.0.0.1:5501", True),  # the local emulator, only on the local system
    ],
)
def test_backmarket_hosts_are_the_platforms_own(platform: str, host: str, allowed: bool) -> None:
    document = {
        "backmarket": {"platform": platform, "market": "en-us" if platform == "US" else "fr-fr", "host": host}
    }
    if allowed:
        Settings.model_validate(document)
    else:
        with pytest.raises(ValidationError) as caught:
            Settings.model_validate(document)
        assert "backmarket.host" in [entry["field"] for entry in error_fields(caught.value)]


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://api.wholecell.io/api/v1", True),
        ("http://api.wholecell.io/api/v1", False),
        ("https://api.wholecell.io:8443/api/v1", False),
        ("http://169.254.169.254/latest/meta-data/", False),
        ("https://169.254.169.254/latest/meta-data/", False),
        ("https://user@attacker.example/api/v1", False),
        ("http://127.0.0.1:5502/api/v1", True),
    ],
)
def test_the_wholecell_url_is_wholecells_api(url: str, allowed: bool) -> None:
    if allowed:
        Settings.model_validate({"wholecell": {"base_url": url}})
    else:
        with pytest.raises(ValidationError) as caught:
            Settings.model_validate({"wholecell": {"base_url": url}})
        assert "wholecell.base_url" in [entry["field"] for entry in error_fields(caught.value)]


def test_loopback_hosts_are_refused_where_the_local_runtime_did_not_allow_them(monkeypatch) -> None:
    monkeypatch.delenv(LOCAL_SANDBOX_HOSTS_ENV)
    with pytest.raises(ValidationError):
        Settings.model_validate({"backmarket": {"host": "http://127.0.0.1:5501"}})
    with pytest.raises(ValidationError):
        Settings.model_validate({"wholecell": {"base_url": "http://127.0.0.1:5502/api/v1"}})
    # Even set by mistake, the variable only ever allows loopback hosts.
    monkeypatch.setenv(LOCAL_SANDBOX_HOSTS_ENV, "169.254.169.254,attacker.example")
    with pytest.raises(ValidationError):
        Settings.model_validate({"wholecell": {"base_url": "http://169.254.169.254/latest"}})
    with pytest.raises(ValidationError):
        Settings.model_validate({"backmarket": {"host": "http://attacker.example"}})


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
    # ``mode`` changes only by going live (a confirmed action on the Connection page).
    assert hidden == {"connection_id", "version", "secrets_version", "mode"}

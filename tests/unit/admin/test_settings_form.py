"""The settings form is rendered from the Settings model's own descriptions: one edit adds a setting."""

from __future__ import annotations

from pydantic import Field

from bmsync.admin.settings_form import FIELDS, SECTIONS, form_sections, form_to_changes, render_form
from bmsync.settings import ORDER_STATUS_LABELS, QUANTITY_SYNC, BackMarketOrderStatus, Settings


def _page(settings: Settings) -> str:
    return render_form(settings.model_dump(mode="json"), {}, action="/save", csrf_html="")


def test_the_page_shows_the_models_sections_labels_and_help_in_order() -> None:
    assert [title for title, _ in SECTIONS] == [
        "Back Market account",
        "WholeCell account",
        "Order Import",
        "Order Statuses",
        "Product Variations",
        "Inventory Quantity Sync",
        "Listing Import",
    ]
    page = _page(Settings())
    labels = [
        "Name of this connection",
        "Platform",
        "Market",
        "Host override",
        "WholeCell API URL",
        "Enable Order Import",
        "Organization Type",
        "WholeCell sales-order statuses (one per line)",
        ORDER_STATUS_LABELS[BackMarketOrderStatus.PENDING_PAYMENT],
        ORDER_STATUS_LABELS[BackMarketOrderStatus.PAID],
        "Carriers (WholeCell carrier = Back Market shipper, one per line)",
        "Product Variations",
        "Enable Quantity Sync",
        "Full WholeCell re-read every (minutes)",
        "Listings to import",
    ]
    positions = [page.index(f">{label}</label>") for label in labels]
    assert positions == sorted(positions)
    # The status map's help sits under the status orders are first imported in.
    paid = page.index(f">{ORDER_STATUS_LABELS[BackMarketOrderStatus.PAID]}</label>")
    assert page.index("Map Back Market&#x27;s order statuses", paid) < page.index("<select", paid)
    assert page.count("Map Back Market&#x27;s order statuses") == 1
    assert '<option value="channel_name">Channel Name</option>' in page
    assert '<option value="en-us">en-us</option>' in page
    assert "drift_check" not in page


def test_blank_host_means_the_platforms_own_and_checkboxes_left_out_are_off() -> None:
    changes = form_to_changes({"backmarket.host": " ", "display_name": " Shop "})
    assert changes["backmarket"] == {"host": None}
    assert changes["display_name"] == "Shop"
    assert changes["quantity_sync_enabled"] is False and changes["order_import_enabled"] is False
    assert {field.name for field in FIELDS} >= {"backmarket.market", "order_status_map.paid"}


def test_a_setting_declared_once_on_the_model_appears_in_its_section() -> None:
    class WithRounding(Settings):
        round_down_to: int = Field(
            default=1,
            title="Round quantities down to",
            description="Back Market shows multiples of this.",
            json_schema_extra={"section": QUANTITY_SYNC},
        )

    sections = dict(form_sections(WithRounding))
    added = sections[QUANTITY_SYNC][-1]
    assert (added.name, added.label, added.widget, added.help) == (
        "round_down_to",
        "Round quantities down to",
        "number",
        "Back Market shows multiples of this.",
    )

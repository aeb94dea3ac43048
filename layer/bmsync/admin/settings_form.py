"""The settings page: every option, with the seed's explanations as help text, and form <-> settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bmsync.admin.html import esc
from bmsync.settings import (
    ORDER_STATUS_LABELS,
    PLATFORMS,
    AutoValidation,
    BackMarketOrderStatus,
    ListingImportScope,
    OrganizationType,
    Platform,
    ProductVariationMode,
    Settings,
)


@dataclass(frozen=True)
class Field:
    name: str  # dotted path into Settings
    label: str
    kind: str  # text | number | checkbox | select | status | lines | pairs
    help: str = ""
    choices: tuple[tuple[str, str], ...] = ()


def _choices(values: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(values.items())


ALL_MARKETS = tuple(market for info in PLATFORMS.values() for market in info.markets)

SECTIONS: list[tuple[str, list[Field]]] = [
    (
        "Back Market account",
        [
            Field("display_name", "Name of this connection", "text"),
            Field(
                "backmarket.platform",
                "Platform",
                "select",
                "Each Back Market platform (Europe, United States, Asia-Pacific) has its own account "
                "and token.",
                tuple((platform.value, platform.value) for platform in Platform),
            ),
            Field(
                "backmarket.market",
                "Market",
                "select",
                "The market whose language and currency Back Market answers in.",
                tuple((market, market) for market in ALL_MARKETS),
            ),
            Field(
                "backmarket.host", "Host override", "text", "Leave empty for the platform's production host."
            ),
            Field(
                "backmarket.company",
                "Company (User-Agent)",
                "text",
                "Back Market asks integrations to name themselves.",
            ),
            Field("backmarket.integration", "Integration name (User-Agent)", "text"),
            Field("backmarket.contact_email", "Contact e-mail (User-Agent)", "text"),
        ],
    ),
    (
        "WholeCell account",
        [
            Field("wholecell.base_url", "WholeCell API URL", "text"),
            Field("wholecell.requests_per_second", "Requests per second", "number"),
        ],
    ),
    (
        "Order Import",
        [
            Field(
                "order_import_enabled",
                "Enable Order Import",
                "checkbox",
                "Enabling Order Import will automatically import any open orders from your Back Market "
                "account. This may take a few minutes to complete. After the first import, new Back Market "
                "orders are imported automatically.",
            ),
            Field(
                "organization_type",
                "Organization Type",
                "select",
                "Shipping Name: the customer's name from the shipping address, so you can search orders by "
                "customer. Channel Name: one customer named \u201cBack Market\u201d, and you find orders by "
                "the Back Market transaction number.",
                _choices(
                    {
                        OrganizationType.SHIPPING_NAME: "Shipping Name",
                        OrganizationType.CHANNEL_NAME: "Channel Name",
                    }
                ),
            ),
            Field(
                "order_overlap_minutes",
                "Re-read window (minutes)",
                "number",
                "Each import re-reads this much of the past.",
            ),
            Field("order_catchup_days", "Daily catch-up (days)", "number"),
            Field(
                "auto_validation",
                "Validate new order lines automatically",
                "select",
                "Off leaves validation to you in the Back Market back office.",
                _choices(
                    {
                        AutoValidation.OFF: "Off",
                        AutoValidation.ALWAYS: "Always",
                        AutoValidation.WHEN_STOCK_COVERS: "When WholeCell stock covers the line",
                    }
                ),
            ),
            Field("cancel_uncovered_lines", "Cancel lines stock does not cover", "checkbox"),
            Field("export_imei", "Send IMEI / serial numbers with shipments", "checkbox"),
        ],
    ),
    (
        "Order Statuses",
        [
            Field(
                "wholecell_order_statuses",
                "WholeCell sales-order statuses (one per line)",
                "lines",
                "The statuses of your WholeCell account; create new ones on WholeCell's Order Statuses "
                "Settings Page.",
            ),
            *[
                Field(
                    f"order_status_map.{status.value}",
                    ORDER_STATUS_LABELS[status],
                    "status",
                    "Map Back Market's order statuses to your WholeCell order statuses for orders to be "
                    "imported. Sales order statuses in WholeCell are controlled by the actions that you take "
                    "in Back Market; changing the status in WholeCell won't affect Back Market."
                    if status is BackMarketOrderStatus.PAID
                    else "",
                )
                for status in BackMarketOrderStatus
            ],
            Field(
                "carrier_map",
                "Carriers (WholeCell carrier = Back Market shipper, one per line)",
                "pairs",
            ),
        ],
    ),
    (
        "Product Variations",
        [
            Field(
                "product_variations",
                "Product Variations",
                "select",
                "Match via SKU maps a listing to every Product Variation with its SKU (helpful to map "
                "several grades/conditions in WholeCell to one grade in Back Market). Choose Specific "
                "Product Variations links each listing by hand (\u201c\u26a0 Product not set!\u201d).",
                _choices(
                    {
                        ProductVariationMode.MATCH_VIA_SKU: "Match via SKU",
                        ProductVariationMode.CHOOSE_SPECIFIC: "Choose Specific Product Variations",
                    }
                ),
            ),
        ],
    ),
    (
        "Inventory Quantity Sync",
        [
            Field(
                "quantity_sync_enabled",
                "Enable Quantity Sync",
                "checkbox",
                "Automatically update the quantities of your Back Market listings from the calculated "
                "quantities of the associated Product Variations or SKUs in WholeCell (Calculated Quantity = "
                "Available Quantity - Outstanding Quantity). A listing must be connected to sync.",
            ),
            Field("available_statuses", "Inventory statuses that count as available (one per line)", "lines"),
            Field("available_warehouses", "Warehouses that count (one per line; empty = all)", "lines"),
            Field("safety_buffer", "Safety buffer (units held back per listing)", "number"),
            Field("drift_check_minutes", "Drift check every (minutes)", "number"),
            Field("wholecell_reconcile_minutes", "Full WholeCell re-read every (minutes)", "number"),
        ],
    ),
    (
        "Listing Import",
        [
            Field(
                "listing_import_scope",
                "Listings to import",
                "select",
                "Online listings are the ones that are active and in stock; All includes the ones that are "
                "out of stock and inactive.",
                _choices({ListingImportScope.ONLINE: "Online", ListingImportScope.ALL: "All"}),
            ),
        ],
    ),
]

FIELDS = [field for _, fields in SECTIONS for field in fields]


def _value_at(data: dict[str, Any], dotted: str) -> Any:
    value: Any = data
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _set_at(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        data = data.setdefault(part, {})
    data[last] = value


def form_to_changes(form: dict[str, str]) -> dict[str, Any]:
    """The posted form as a nested settings document (checkboxes absent from a post are off)."""
    changes: dict[str, Any] = {}
    for field in FIELDS:
        raw = form.get(field.name)
        if field.kind == "checkbox":
            _set_at(changes, field.name, raw == "on")
        elif raw is None:
            continue
        elif field.kind == "lines":
            _set_at(changes, field.name, [line.strip() for line in raw.splitlines() if line.strip()])
        elif field.kind == "pairs":
            pairs: dict[str, str] = {}
            for line in raw.splitlines():
                if line.strip():
                    carrier, _, shipper = line.partition("=")
                    pairs[carrier.strip()] = shipper.strip()
            _set_at(changes, field.name, pairs)
        elif field.kind == "status":
            # "Not mapped" removes the entry: such orders are not imported.
            _set_at(changes, field.name, raw.strip() or None)
        elif field.name == "backmarket.host":
            _set_at(changes, field.name, raw.strip() or None)
        else:
            _set_at(changes, field.name, raw.strip())
    return changes


def _input(field: Field, value: Any, statuses: list[str]) -> str:
    name = esc(field.name)
    if field.kind == "status":
        titles = ["", *statuses] + ([value] if value and value not in statuses else [])
        options = "".join(
            f'<option value="{esc(title)}"{" selected" if (value or "") == title else ""}>'
            f"{esc(title or '(not mapped: not imported)')}</option>"
            for title in titles
        )
        return f'<select id="{name}" name="{name}">{options}</select>'
    if field.kind == "checkbox":
        checked = " checked" if value else ""
        return f'<input type="checkbox" id="{name}" name="{name}"{checked}>'
    if field.kind == "select":
        options = "".join(
            f'<option value="{esc(key)}"{" selected" if str(value) == key else ""}>{esc(label)}</option>'
            for key, label in field.choices
        )
        return f'<select id="{name}" name="{name}">{options}</select>'
    if field.kind == "lines":
        return f'<textarea id="{name}" name="{name}">{esc(chr(10).join(value or []))}</textarea>'
    if field.kind == "pairs":
        text = "\n".join(f"{key} = {shipper}" for key, shipper in (value or {}).items())
        return f'<textarea id="{name}" name="{name}">{esc(text)}</textarea>'
    kind = "number" if field.kind == "number" else "text"
    step = ' step="any"' if kind == "number" else ""
    return f'<input type="{kind}"{step} id="{name}" name="{name}" value="{esc(value)}">'


def render_form(values: dict[str, Any], errors: dict[str, str], *, action: str, csrf_html: str) -> str:
    """``values``: a settings document (stored, or as posted back after a 422)."""
    parts = [f'<form method="post" action="{esc(action)}">{csrf_html}']
    parts.append(f'<input type="hidden" name="version" value="{esc(values.get("version", 0))}">')
    for title, fields in SECTIONS:
        parts.append(f"<fieldset><legend>{esc(title)}</legend>")
        for field in fields:
            value = _value_at(values, field.name)
            label_class = ' class="check"' if field.kind == "checkbox" else ""
            parts.append(f'<label for="{esc(field.name)}"{label_class}>{esc(field.label)}</label>')
            if field.help:
                parts.append(f'<p class="help">{esc(field.help)}</p>')
            parts.append(_input(field, value, list(values.get("wholecell_order_statuses") or [])))
            if field.name in errors:
                parts.append(f'<p class="field-error" role="alert">{esc(errors[field.name])}</p>')
        parts.append("</fieldset>")
    general = [message for name, message in errors.items() if name not in {f.name for f in FIELDS}]
    parts.extend(f'<p class="field-error" role="alert">{esc(message)}</p>' for message in general)
    parts.append('<button type="submit">Save settings</button></form>')
    return "".join(parts)


def merge_changes(current: Settings, changes: dict[str, Any]) -> dict[str, Any]:
    """``changes`` over the stored settings: nested objects merge, anything else is replaced."""
    merged = current.model_dump(mode="json")
    for key, value in changes.items():
        if isinstance(value, dict) and key in {"backmarket", "wholecell"}:
            merged[key] = {**(merged.get(key) or {}), **value}
        elif isinstance(value, dict) and key == "order_status_map":
            # A partial map changes the statuses it names; null unmaps one.
            combined = {**(merged.get(key) or {}), **value}
            merged[key] = {status: title for status, title in combined.items() if title is not None}
        else:
            merged[key] = value
    return merged

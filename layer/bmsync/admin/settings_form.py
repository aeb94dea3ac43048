"""The settings page's form: rendered from the ``Settings`` model's own descriptions, and read back.

Labels, help texts, sections and widgets come from each field's ``Field(title=..., description=...,
json_schema_extra={"section": ...})`` in :mod:`bmsync.settings`; this module holds no list of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bmsync.admin.html import esc
from bmsync.settings import (
    ORDER_STATUS_LABELS,
    BackMarketOrderStatus,
    Settings,
    choices_of,
    field_metadata,
    setting_fields,
    value_at,
    widget_of,
)


@dataclass(frozen=True)
class FormField:
    name: str  # dotted path into Settings, and the form input's name
    label: str
    widget: str  # text | number | checkbox | select | status | lines | pairs
    help: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    blank_is_none: bool = False


def form_sections(model: type[Settings] = Settings) -> list[tuple[str, list[FormField]]]:
    """The page's sections in the order the model declares their first field."""
    sections: dict[str, list[FormField]] = {}
    for name, info in setting_fields(model):
        section = field_metadata(info).get("section")
        if not section:
            continue
        fields = sections.setdefault(str(section), [])
        widget = widget_of(info)
        if widget == "status_map":
            # One select per Back Market status; the field's help goes with the status it names.
            help_at = field_metadata(info).get("help_at")
            fields.extend(
                FormField(
                    f"{name}.{status.value}",
                    ORDER_STATUS_LABELS[status],
                    "status",
                    (info.description or "") if status.value == help_at else "",
                )
                for status in BackMarketOrderStatus
            )
            continue
        fields.append(
            FormField(
                name,
                info.title or name,
                widget,
                info.description or "",
                choices_of(info),
                blank_is_none=info.default is None,
            )
        )
    return list(sections.items())


SECTIONS = form_sections()
FIELDS = [field for _, fields in SECTIONS for field in fields]


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
        if field.widget == "checkbox":
            _set_at(changes, field.name, raw == "on")
        elif raw is None:
            continue
        elif field.widget == "lines":
            _set_at(changes, field.name, [line.strip() for line in raw.splitlines() if line.strip()])
        elif field.widget == "pairs":
            pairs: dict[str, str] = {}
            for line in raw.splitlines():
                if line.strip():
                    carrier, _, shipper = line.partition("=")
                    pairs[carrier.strip()] = shipper.strip()
            _set_at(changes, field.name, pairs)
        elif field.widget == "status" or field.blank_is_none:
            # A status left "Not mapped" removes the entry: such orders are not imported.
            _set_at(changes, field.name, raw.strip() or None)
        else:
            _set_at(changes, field.name, raw.strip())
    return changes


def _input(field: FormField, value: Any, statuses: list[str]) -> str:
    name = esc(field.name)
    if field.widget == "status":
        titles = ["", *statuses] + ([value] if value and value not in statuses else [])
        options = "".join(
            f'<option value="{esc(title)}"{" selected" if (value or "") == title else ""}>'
            f"{esc(title or '(not mapped: not imported)')}</option>"
            for title in titles
        )
        return f'<select id="{name}" name="{name}">{options}</select>'
    if field.widget == "checkbox":
        checked = " checked" if value else ""
        return f'<input type="checkbox" id="{name}" name="{name}"{checked}>'
    if field.widget == "select":
        options = "".join(
            f'<option value="{esc(key)}"{" selected" if str(value) == key else ""}>{esc(label)}</option>'
            for key, label in field.choices
        )
        return f'<select id="{name}" name="{name}">{options}</select>'
    if field.widget == "lines":
        return f'<textarea id="{name}" name="{name}">{esc(chr(10).join(value or []))}</textarea>'
    if field.widget == "pairs":
        text = "\n".join(f"{key} = {shipper}" for key, shipper in (value or {}).items())
        return f'<textarea id="{name}" name="{name}">{esc(text)}</textarea>'
    kind = "number" if field.widget == "number" else "text"
    step = ' step="any"' if kind == "number" else ""
    return f'<input type="{kind}"{step} id="{name}" name="{name}" value="{esc(value)}">'


def render_form(values: dict[str, Any], errors: dict[str, str], *, action: str, csrf_html: str) -> str:
    """``values``: a settings document (stored, or as posted back after a 422)."""
    parts = [f'<form method="post" action="{esc(action)}">{csrf_html}']
    parts.append(f'<input type="hidden" name="version" value="{esc(values.get("version", 0))}">')
    for title, fields in SECTIONS:
        parts.append(f"<fieldset><legend>{esc(title)}</legend>")
        for field in fields:
            label_class = ' class="check"' if field.widget == "checkbox" else ""
            parts.append(f'<label for="{esc(field.name)}"{label_class}>{esc(field.label)}</label>')
            if field.help:
                parts.append(f'<p class="help">{esc(field.help)}</p>')
            statuses = list(values.get("wholecell_order_statuses") or [])
            parts.append(_input(field, value_at(values, field.name), statuses))
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

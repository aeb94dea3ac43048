"""Settings operations: read, validated update (422 naming each field), refresh of WholeCell's statuses."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from pydantic import ValidationError

from bmsync import connection_secrets
from bmsync.admin.services import AdminServices
from bmsync.admin.settings_form import merge_changes
from bmsync.admin.web import BadRequest, Unprocessable, connection_id_from, wholecell_answers
from bmsync.settings import Settings, error_fields


def load_settings(services: AdminServices, connection_id: str) -> Settings:
    """The connection's settings (the defaults for a new one); a malformed id is a 404."""
    return services.settings().get_or_default(connection_id_from(connection_id))


def load_stored_settings(services: AdminServices, connection_id: str) -> Settings:
    """The connection's stored settings; a connection never saved is a 404 (a typo must not look like
    real settings: ``PATCH`` with ``version: 0`` creates one)."""
    stored = services.settings().get(connection_id_from(connection_id))
    if stored is None:
        raise BadRequest(
            "connection_id",
            f"no connection {connection_id!r}: send its settings with version 0 to create it",
            HTTPStatus.NOT_FOUND,
        )
    return stored


def secrets_state(settings: Settings) -> dict[str, bool]:
    """Whether each token is set: the only thing the admin ever says about a secret."""
    state = connection_secrets.secrets_set(settings.connection_id)
    return {
        "backmarket_token_set": state["backmarket-token"],
        "wholecell_credentials_set": state["wholecell"],
    }


def settings_document(settings: Settings) -> dict[str, Any]:
    return {"settings": settings.model_dump(mode="json"), "secrets": secrets_state(settings)}


def validated_update(current: Settings, changes: dict[str, Any], *, strict: bool = False) -> Settings:
    """``changes`` applied over ``current``; raises :class:`Unprocessable` naming every bad field.

    ``strict`` (API bodies): JSON types are taken as sent, so ``"3"``, ``true`` and ``1`` are not read as
    a number, a switch and a switch; the settings form posts text and is read leniently."""
    errors: list[dict[str, str]] = []
    version = changes.get("version")
    if version is None:
        errors.append({"field": "version", "message": "required: send the version you read"})
    if changes.get("connection_id", current.connection_id) != current.connection_id:
        errors.append({"field": "connection_id", "message": "cannot be changed"})
    if "secrets_version" in changes:
        errors.append({"field": "secrets_version", "message": "set by saving a token, not here"})
    if changes.get("mode", current.mode.value) != current.mode.value:
        errors.append({"field": "mode", "message": "changed by going live on the Connection page, not here"})
    merged = merge_changes(current, changes)
    try:
        if strict:
            updated = Settings.model_validate_json(json.dumps(merged), strict=True)
        else:
            updated = Settings.model_validate(merged)
    except ValidationError as error:
        errors.extend(error_fields(error))
        raise Unprocessable(errors) from None
    if errors:
        raise Unprocessable(errors)
    return updated


def save_update(
    services: AdminServices, current: Settings, changes: dict[str, Any], *, strict: bool = False
) -> Settings:
    """Validate and save; raises :class:`Unprocessable` or ``StaleSettings`` (nothing written)."""
    return services.settings().save(validated_update(current, changes, strict=strict))


def refresh_statuses(services: AdminServices, current: Settings) -> Settings:
    """Store the account's sales-order statuses as WholeCell lists them now (the mapping names them)."""
    with wholecell_answers():
        titles = services.order_statuses(current, services.clock())
    if not titles:
        raise BadRequest("wholecell", "WholeCell lists no sales-order status", HTTPStatus.BAD_GATEWAY)
    # A mapping to a status WholeCell no longer has would refuse every save: it is unmapped.
    kept = {state: title for state, title in current.order_status_map.items() if title in titles}
    changed = current.model_copy(update={"wholecell_order_statuses": titles, "order_status_map": kept})
    return services.settings().save(Settings.model_validate(changed.model_dump()))

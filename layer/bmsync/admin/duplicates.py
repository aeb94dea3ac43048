"""The admin refuses a Back Market token another enabled connection already uses (409, naming it)."""

from __future__ import annotations

from http import HTTPStatus

from bmsync import process
from bmsync.admin.web import BadRequest
from bmsync.settings import Settings
from bmsync.store.settings_repo import SettingsRepository
from bmsync.store.sync_state import SyncStateRepository
from bmsync.sync.duplicates import SharedToken, claim_token


def refuse_shared_token(settings: Settings, token: str) -> None:
    """Remember the token's fingerprint for this connection, or refuse it with a 409."""
    clock = process.clock()
    try:
        claim_token(
            settings,
            token,
            state=SyncStateRepository(settings.connection_id, clock),
            settings_repo=SettingsRepository(),
            state_for=lambda connection_id: SyncStateRepository(connection_id, clock),
        )
    except SharedToken as shared:
        message = f"Not saved. {shared.message} {shared.action}"
        raise BadRequest("token", message, HTTPStatus.CONFLICT) from None

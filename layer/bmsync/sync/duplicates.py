"""Two connections on one Back Market account: each imports every order, so WholeCell gets two.

A connection is known by its Back Market token's fingerprint (a SHA-256 of the token, never the token),
kept in the connection's ``sync_state`` item ``doc#token_fingerprint``: the admin writes it when a
token is saved, order_import from the token it is about to run with (so a token written to Secrets
Manager by hand is covered from the next run). The admin refuses a token another enabled connection
holds (409); order_import refuses to run a connection whose token another enabled connection holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from bmsync import alerts, connection_secrets, secrets
from bmsync.clock import Clock
from bmsync.errors import IntegrationError
from bmsync.settings import Settings
from bmsync.store.settings_repo import SettingsRepository
from bmsync.store.sync_state import SyncStateRepository

FINGERPRINT_DOCUMENT = "token_fingerprint"
#: Tells this hash from any other SHA-256 bmsync keeps (the admin's API token hashes).
_DOMAIN = b"bmsync backmarket token fingerprint\x00"


class SharedToken(IntegrationError):
    """The token is another enabled connection's: running both would import every order twice."""

    service = "backmarket"
    needs_attention = True

    def __init__(self, connection_id: str, holders: list[str]) -> None:
        names = ", ".join(repr(holder) for holder in holders)
        super().__init__(
            f"Connection {connection_id!r} has the same Back Market token as connection {names}: "
            "both would import every Back Market order, so WholeCell would get each order twice.",
            status=409,
            action="Keep one connection per Back Market account: switch off order import and quantity "
            "sync on one of them, or save that account's own token.",
        )
        self.holders = holders


def token_fingerprint(token: str) -> str:
    return hashlib.sha256(_DOMAIN + token.strip().encode()).hexdigest()


def is_enabled(settings: Settings) -> bool:
    """A connection that acts on its Back Market account (imports orders or pushes quantities)."""
    return settings.order_import_enabled or settings.quantity_sync_enabled


def holders_of(
    fingerprint: str,
    *,
    besides: str,
    settings_repo: SettingsRepository,
    state_for: Callable[[str], SyncStateRepository],
) -> list[str]:
    """The other enabled connections whose stored fingerprint is ``fingerprint``."""
    holders = []
    for other in settings_repo.list():
        if other.connection_id == besides or not is_enabled(other):
            continue
        stored = state_for(other.connection_id).get_document(FINGERPRINT_DOCUMENT) or {}
        if stored.get("fingerprint") == fingerprint:
            holders.append(other.connection_id)
    return holders


def claim_token(
    settings: Settings,
    token: str,
    *,
    state: SyncStateRepository,
    settings_repo: SettingsRepository,
    state_for: Callable[[str], SyncStateRepository],
) -> None:
    """Remember ``token``'s fingerprint for ``settings``' connection, or raise :class:`SharedToken`
    (nothing remembered) when another enabled connection holds it."""
    fingerprint = token_fingerprint(token)
    holders = holders_of(
        fingerprint, besides=settings.connection_id, settings_repo=settings_repo, state_for=state_for
    )
    if holders:
        raise SharedToken(settings.connection_id, holders)
    if (state.get_document(FINGERPRINT_DOCUMENT) or {}).get("fingerprint") != fingerprint:
        state.put_document(FINGERPRINT_DOCUMENT, {"fingerprint": fingerprint})


def saved_token(settings: Settings) -> str | None:
    """The connection's saved Back Market token, or None when none is saved (the run then stops on
    Back Market's 401 as before, with its own alert)."""
    try:
        return connection_secrets.read_backmarket_token(
            settings.connection_id, version=settings.secrets_version
        )
    except secrets.SecretMissing:
        return None


def guard_order_import(
    settings: Settings,
    *,
    state: SyncStateRepository,
    clock: Clock,
    token: Callable[[Settings], str | None] = saved_token,
    settings_repo: Callable[[], SettingsRepository] = SettingsRepository,
) -> None:
    """At the start of an order_import run: raise :class:`SharedToken` (the run fails, a critical
    alert says why) when another enabled connection holds this token; clear that alert otherwise."""
    current = token(settings)
    if current is None:
        return
    claim_token(
        settings,
        current,
        state=state,
        settings_repo=settings_repo(),
        state_for=lambda connection_id: SyncStateRepository(connection_id, clock),
    )
    alerts.NEEDS_PERSON.clear_on(state, service=SharedToken.service, error_type=SharedToken.__name__.lower())

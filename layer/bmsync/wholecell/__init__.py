"""The WholeCell client (``WholeCellClient``) and ``client_for`` a connection's settings."""

from __future__ import annotations

from bmsync.clock import Clock
from bmsync.connection_secrets import WholeCellCredentials, read_wholecell_credentials
from bmsync.secrets import SecretMissing
from bmsync.settings import Settings
from bmsync.store.budgets_repo import BudgetsRepository
from bmsync.wholecell.client import MalformedItem, MalformedSink, WholeCellClient
from bmsync.wholecell.errors import Unauthorized

__all__ = ["MalformedItem", "WholeCellClient", "client_for"]


def client_for(
    settings: Settings, clock: Clock, *, on_malformed: MalformedSink | None = None
) -> WholeCellClient:
    """A client for the connection, reading the App ID/Secret from Secrets Manager (cached);
    ``on_malformed`` hears of every list item it quarantined."""

    def credentials(force_refresh: bool) -> WholeCellCredentials:
        try:
            return read_wholecell_credentials(
                settings.connection_id, version=settings.secrets_version, force_fetch=force_refresh
            )
        except SecretMissing as error:
            raise Unauthorized(
                "the WholeCell App ID/Secret are not set",
                status=None,
                action="create an API App in WholeCell settings and save its App ID and Secret in the admin",
            ) from error

    return WholeCellClient(
        base_url=settings.wholecell.base_url,
        credentials_provider=credentials,
        clock=clock,
        requests_per_second=settings.wholecell.requests_per_second,
        on_malformed=on_malformed,
        budget_store=BudgetsRepository(settings.connection_id),
    )

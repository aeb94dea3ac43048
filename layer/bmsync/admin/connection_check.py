""" "Test connection": one cheap call to each side, and what it answered, in plain words; and "Check
the API contract": ``bmsync probe``'s report for the connection."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from bmsync.clock import Clock
from bmsync.errors import IntegrationError
from bmsync.secrets import SecretMissing
from bmsync.settings import Settings
from bmsync.wholecell.errors import EndpointMissing

if TYPE_CHECKING:
    from bmsync.probe import ProbeReport

ClientFactory = Callable[[Settings, Clock], Any]
#: The console's contract check parses this many pages of listings and of orders: it must answer
#: within the admin function's timeout (the CLI reads more).
CONSOLE_BACKMARKET_PAGES = 3


class SideReport(BaseModel):
    service: Literal["backmarket", "wholecell"]
    ok: bool
    message: str
    action: str = ""


class ConnectionReport(BaseModel):
    backmarket: SideReport
    wholecell: SideReport


def _backmarket_client(settings: Settings, clock: Clock) -> Any:
    from bmsync.backmarket import client_for

    return client_for(settings, clock)


def _wholecell_client(settings: Settings, clock: Clock) -> Any:
    from bmsync.wholecell import client_for

    return client_for(settings, clock)


def _probe(service: Literal["backmarket", "wholecell"], call: Callable[[], str]) -> SideReport:
    try:
        return SideReport(service=service, ok=True, message=call())
    except SecretMissing:
        what = "Back Market token" if service == "backmarket" else "WholeCell App ID and App Secret"
        return SideReport(
            service=service,
            ok=False,
            message=f"The {what} is not set.",
            action=f"Save the {what} on this page.",
        )
    except IntegrationError as error:
        return SideReport(service=service, ok=False, message=error.message, action=error.action)


def check_connection(
    settings: Settings,
    clock: Clock,
    *,
    backmarket_client: ClientFactory = _backmarket_client,
    wholecell_client: ClientFactory = _wholecell_client,
) -> ConnectionReport:
    def ask_backmarket() -> str:
        client = backmarket_client(settings, clock)
        listings = client.iter_listings()
        first = next(iter(listings), None)
        seen = "and has listings" if first is not None else "(no listings yet)"
        return (
            f"Back Market {settings.backmarket.platform.value} accepted the token {seen}: "
            f"{settings.backmarket.base_url}."
        )

    def ask_wholecell() -> str:
        # The inventory list is the one endpoint public sources confirm: it decides auth and reach.
        client = wholecell_client(settings, clock)
        first = next(iter(client.iter_inventories()), None)
        stock = "and has inventory" if first is not None else "(no inventory yet)"
        try:
            statuses = f"{len(client.list_sales_order_statuses())} sales-order statuses"
        except EndpointMissing:
            statuses = "its API lists no sales-order statuses: the open ones come from the settings"
        return f"WholeCell accepted the App ID and Secret {stock}; {statuses}."

    return ConnectionReport(
        backmarket=_probe("backmarket", ask_backmarket), wholecell=_probe("wholecell", ask_wholecell)
    )


def check_contract(
    settings: Settings,
    clock: Clock,
    *,
    backmarket_client: ClientFactory = _backmarket_client,
    wholecell_client: ClientFactory = _wholecell_client,
) -> ProbeReport:
    """The same read-only report as ``bmsync probe --connection``."""
    from bmsync.probe import probe  # imported when asked for, as the clients are

    return probe(
        wholecell=wholecell_client(settings, clock),
        backmarket=backmarket_client(settings, clock),
        clock=clock,
        wholecell_requests_per_second=settings.wholecell.requests_per_second,
        max_backmarket_pages=CONSOLE_BACKMARKET_PAGES,
    )

"""The doctor from the admin: why a listing, an order or the whole connection does not sync."""

from __future__ import annotations

from bmsync.admin.services import AdminServices
from bmsync.admin.settings_service import load_settings, secrets_state
from bmsync.admin.web import BadRequest
from bmsync.sync import doctor


def diagnose(services: AdminServices, connection_id: str, *, listing: str, order: str) -> doctor.Diagnosis:
    """About ``listing`` (id or SKU), or ``order`` (a number), or, with neither, the connection."""
    settings = load_settings(services, connection_id)
    cid = settings.connection_id
    if listing and order:
        raise BadRequest("listing", "ask about a listing or an order, not both")
    if listing:
        return doctor.diagnose_listing(
            settings,
            listing,
            listings=services.listings(cid),
            stock=services.stock(cid),
            state=services.state(cid),
            clock=services.clock(),
        )
    if order:
        if not order.isdigit():
            raise BadRequest("order", "a Back Market order number (digits)")
        return doctor.diagnose_order(settings, order, orders=services.orders())
    return doctor.diagnose_connection(
        settings,
        secrets_set=secrets_state(settings),
        listings=services.listings(cid),
        orders=services.orders(),
        state=services.state(cid),
    )

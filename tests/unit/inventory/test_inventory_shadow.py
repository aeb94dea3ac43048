"""quantity_sync in shadow mode: decides as live, sends nothing, and the first live run sends only
what is still due."""

from __future__ import annotations

from bmsync.settings import ConnectionMode
from bmsync.store.shadow_repo import ShadowRepository
from bmsync.sync.shadow import ShadowBackMarket
from tests.unit.inventory.conftest import CONNECTION, Inventory


def test_shadow_mode_records_the_quantity_and_going_live_sends_only_the_current_one(
    inventory: Inventory,
) -> None:
    backmarket = inventory.backmarket
    shadow = ShadowRepository(CONNECTION, inventory.clock)
    inventory.configure(mode=ConnectionMode.SHADOW)
    inventory.backmarket = ShadowBackMarket(backmarket, shadow)  # what wire() gives in shadow mode
    inventory.receive(inventory.variation(1, "SKU-1"), 3)
    backmarket.add("L-1", "SKU-1", 1, publication_state=2)
    inventory.import_listings()
    inventory.watch()

    inventory.cycle()
    listing = inventory.listing("L-1")
    assert backmarket.updates == []
    assert (
        listing.reason.startswith("shadow mode: would send 3 to Back Market")
        and "Back Market shows 1" in listing.reason
    )
    # Nothing pretends it was sent: the next decision still compares with what Back Market shows.
    assert listing.last_synced is None and listing.sync_status == "pending" and listing.last_calculated == 3
    [write] = shadow.list()
    assert (write.kind, write.subject, write.quantity, write.times) == ("quantity", "L-1", 3, 1)

    inventory.receive(inventory.wholecell.variations[0], 1)
    inventory.later(1)
    inventory.watch()
    inventory.cycle()
    inventory.drift_check()
    [write] = shadow.list()
    assert (write.quantity, write.times) == (4, 3)  # replaced, not added to
    assert backmarket.updates == []

    inventory.configure(mode=ConnectionMode.LIVE)
    inventory.backmarket = backmarket
    inventory.drift_check()
    assert backmarket.updates == [("L-1", 4, None)]  # the decision of the moment, once: not 3 then 4
    assert inventory.listing("L-1").last_synced == 4

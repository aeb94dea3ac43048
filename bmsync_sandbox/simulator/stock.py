"""WholeCell's sellable stock, read from the emulator's own account in one pass per sample.

``WholeCellSandbox.calculated_quantity`` answers for one variation by scanning every unit and order;
the simulator samples every listing every few simulated seconds, so it computes the same rule
(available − outstanding, ``sandbox.wholecell.account``) for all variations at once. A test keeps
the two equal.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from bmsync_sandbox.wholecell.account import OUTSTANDING_WINDOW

AVAILABLE_STATUSES = frozenset({"Available"})  # the simulated connection's setting


class WholeCellStock:
    def __init__(self, account: Any) -> None:
        self.account = account

    def knows(self, sku: str) -> bool:
        with self.account.lock:
            return any(variation.sku == sku for variation in self.account.variations.values())

    def calculated(self) -> dict[int, int]:
        """Every variation's calculated quantity: available − outstanding (may be negative)."""
        account = self.account
        with account.lock:
            available: dict[int, int] = defaultdict(int)
            committed: dict[tuple[int, int], int] = defaultdict(int)
            for unit in account.units.values():
                if unit.order_id is None:
                    if unit.status in AVAILABLE_STATUSES:
                        available[unit.variation_id] += 1
                else:
                    committed[(unit.order_id, unit.variation_id)] += 1
            since = account.clock.now() - OUTSTANDING_WINDOW
            outstanding: dict[int, int] = defaultdict(int)
            for order in account.orders.values():
                if not account.order_statuses[order.status].is_open or order.created_at < since:
                    continue
                wanted: dict[int, int] = defaultdict(int)
                for item in order.items:
                    if item.variation_id is not None:
                        wanted[item.variation_id] += item.quantity
                for variation_id, quantity in wanted.items():
                    outstanding[variation_id] += max(0, quantity - committed[(order.id, variation_id)])
            return {
                variation_id: available[variation_id] - outstanding[variation_id]
                for variation_id in account.variations
            }

    def expected_all(self, skus: Iterable[str], buffer: int) -> dict[str, int]:
        """What each listing (by SKU, *Match via SKU*) should show: max(0, Σ calculated − buffer)."""
        calculated = self.calculated()
        totals: dict[str, int] = defaultdict(int)
        with self.account.lock:
            for variation_id, variation in self.account.variations.items():
                if variation.sku:
                    totals[variation.sku] += calculated[variation_id]
        return {sku: max(0, totals[sku] - buffer) for sku in skus}

    def expected(self, sku: str, buffer: int) -> int:
        return self.expected_all([sku], buffer)[sku]

    def backmarket_external_ids(self) -> set[str]:
        with self.account.lock:
            return {
                str(order.external_id)
                for order in self.account.orders.values()
                if order.channel == "Backmarket" and order.external_id
            }

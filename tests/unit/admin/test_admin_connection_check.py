""" "Test connection" turns each side's answer into plain words with the fixing action."""

from __future__ import annotations

from typing import Any

from bmsync.admin.connection_check import check_connection
from bmsync.backmarket import errors as bm
from bmsync.clock import ManualClock
from bmsync.secrets import SecretMissing
from bmsync.settings import Settings
from bmsync.wholecell import errors as wc


class Listings:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def iter_listings(self) -> Any:
        if self.error:
            raise self.error
        return iter([object()])


class Statuses:
    """A WholeCell account: ``error`` refuses everything; ``statuses_missing``: no statuses endpoint."""

    def __init__(self, error: Exception | None = None, *, statuses_missing: bool = False) -> None:
        self.error = error
        self.statuses_missing = statuses_missing
        self.calls: list[str] = []

    def iter_inventories(self) -> Any:
        self.calls.append("/inventories")
        if self.error:
            raise self.error
        return iter([object()])

    def list_sales_order_statuses(self) -> list[str]:
        self.calls.append("/sales_order_statuses")
        if self.error:
            raise self.error
        if self.statuses_missing:
            raise wc.EndpointMissing("/sales_order_statuses")
        return ["Pending", "Processing"]


def _check(backmarket: Any, wholecell: Any) -> Any:
    return check_connection(
        Settings(),
        ManualClock(),
        backmarket_client=lambda settings, clock: backmarket,
        wholecell_client=lambda settings, clock: wholecell,
    )


def test_both_sides_answer() -> None:
    wholecell = Statuses()
    report = _check(Listings(), wholecell)
    assert report.backmarket.ok and "accepted the token" in report.backmarket.message
    assert report.wholecell.ok and "2 sales-order statuses" in report.wholecell.message
    assert wholecell.calls[0] == "/inventories"  # the confirmed endpoint decides auth and reach


def test_wholecell_without_a_statuses_endpoint_still_passes_and_says_so() -> None:
    report = _check(Listings(), Statuses(statuses_missing=True))
    assert report.wholecell.ok
    assert "lists no sales-order statuses: the open ones come from the settings" in report.wholecell.message


def test_a_reset_token_and_a_wrong_app_secret_are_named() -> None:
    report = _check(Listings(bm.Unauthorized()), Statuses(wc.Unauthorized()))
    assert not report.backmarket.ok
    assert "reset or is for another platform" in report.backmarket.message
    assert "Recover my token" in report.backmarket.action
    assert not report.wholecell.ok and "App ID/Secret" in report.wholecell.message


def test_a_firewall_block_quotes_the_cf_ray() -> None:
    blocked = bm.Blocked("Back Market's firewall refused the request", cf_ray="8a1b2c3d4e5f-CDG")
    report = _check(Listings(blocked), Statuses())
    assert "firewall" in report.backmarket.message
    assert "8a1b2c3d4e5f-CDG" in report.backmarket.action


def test_missing_credentials_say_where_to_save_them() -> None:
    missing = SecretMissing("secret 'bmsync/default/backmarket-token' is not set")
    report = _check(Listings(missing), Statuses(missing))
    assert report.backmarket.message == "The Back Market token is not set."
    assert report.wholecell.action == "Save the WholeCell App ID and App Secret on this page."

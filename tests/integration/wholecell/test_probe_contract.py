"""``bmsync probe`` against both emulators: it holds on the inferred contract, names each difference
the emulators can be told to make, keeps redacted fixtures, and never writes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bmsync.backmarket import BackMarketClient
from bmsync.backmarket.limiter import reset_shared_limiters
from bmsync.backmarket.models import ListingCounts
from bmsync.clock import ManualClock
from bmsync.connection_secrets import WholeCellCredentials
from bmsync.probe import FixtureWriter, ProbeReport, probe, shape_findings
from bmsync.sync.contract_confirmed import EXTERNAL_ID_LOOKUP
from bmsync.wholecell import WholeCellClient
from bmsync.wholecell.models import InventoryUnit, SalesOrder
from bmsync_sandbox.backmarket.server import BackMarketSandbox
from bmsync_sandbox.wholecell.server import WholeCellSandbox

BM_TOKEN = "bm-probe-token-7f3a9c"
BACKMARKET_NUMBER = "7700123"


@pytest.fixture
def sandboxes(clock: ManualClock) -> Iterator[tuple[WholeCellSandbox, BackMarketSandbox]]:
    reset_shared_limiters()
    wholecell = WholeCellSandbox(clock=clock, demo=True)
    backmarket = BackMarketSandbox(clock=clock, token=BM_TOKEN, demo=True)
    wholecell.start(0)
    backmarket.start(0)
    # An order WholeCell's own Back Market integration filed: the lookup by its number is checked on it.
    wholecell.create_sales_order(
        order_items=[{"sku": "IP13-128-M-A", "quantity": 1, "price": 50000}],
        channel="Backmarket",
        external_id=BACKMARKET_NUMBER,
        customer_name="Jane Buyer",
    )
    wholecell.clear_calls()
    backmarket.clear_calls()
    yield wholecell, backmarket
    wholecell.stop()
    backmarket.stop()
    reset_shared_limiters()


def _probe(
    clock: ManualClock,
    sandboxes: tuple[WholeCellSandbox, BackMarketSandbox],
    make_wholecell_client,
    fixtures: Path | None = None,
) -> ProbeReport:
    wholecell, backmarket = sandboxes
    bm_client = BackMarketClient(
        base_url=backmarket.base_url,
        token_provider=lambda force_refresh: BM_TOKEN,
        market="en-gb",
        user_agent="BM-Acme-bmsync;ops@acme.example",
        clock=clock,
        timeout=(1.0, 2.0),
    )
    wc_client: WholeCellClient = make_wholecell_client(wholecell)
    return probe(
        wholecell=wc_client,
        backmarket=bm_client,
        clock=clock,
        fixtures=FixtureWriter(fixtures) if fixtures else None,
    )


def _problems(report: ProbeReport) -> list[str]:
    return [finding.line() for finding in report.findings if finding.level == "problem"]


def test_the_contract_holds_on_the_emulators_and_the_probe_only_reads(
    clock: ManualClock, sandboxes, make_wholecell_client
) -> None:
    report = _probe(clock, sandboxes, make_wholecell_client)

    assert report.holds, "\n".join(report.lines())
    checks = {(finding.side, finding.endpoint, finding.check) for finding in report.findings}
    for path in (
        "/inventories",
        "/product_variations",
        "/sales_order_statuses",
        "/customers",
        "/sales_orders",
    ):
        assert ("wholecell", path, "reachable") in checks and ("wholecell", path, "shape") in checks
    assert ("wholecell", "/inventories", "filter updated_at_gt") in checks
    assert ("wholecell", "/customers", "filter name") in checks
    assert ("wholecell", "/sales_orders", "order lookup") in checks
    assert any("found again by its Back Market number" in line for line in report.lines())
    assert report.confirmed_points() == [EXTERNAL_ID_LOOKUP]
    assert any("timeout is" in line for line in report.lines())
    assert any("date filter accepted as RFC 3339 and YYYY-MM-DD HH:MM:SS" in line for line in report.lines())
    assert any(" online, " in line for line in report.lines())

    wholecell, backmarket = sandboxes
    assert wholecell.calls() and {call["method"] for call in wholecell.calls()} == {"GET"}
    assert backmarket.calls() and {call["method"] for call in backmarket.calls()} == {"GET"}


def test_a_missing_endpoint_is_a_precise_finding(
    clock: ManualClock, sandboxes, make_wholecell_client
) -> None:
    sandboxes[0].set_contract_drift(absent_endpoints=["/sales_order_statuses"])

    report = _probe(clock, sandboxes, make_wholecell_client)

    assert not report.holds
    assert _problems(report) == [
        "PROBLEM WholeCell /sales_order_statuses: missing (404): this inferred endpoint does not exist"
    ]


def test_a_renamed_field_is_a_precise_finding(clock: ManualClock, sandboxes, make_wholecell_client) -> None:
    sandboxes[0].set_contract_drift(renamed_fields={"/inventories": {"order_id": "sales_order_id"}})

    report = _probe(clock, sandboxes, make_wholecell_client)

    assert _problems(report) == [
        "PROBLEM WholeCell /inventories: /inventories data.order_id: missing "
        "(bmsync reads InventoryUnit.order_id)"
    ]
    assert any("sales_order_id" in line and line.startswith("note") for line in report.lines())


def test_an_ignored_filter_is_a_precise_finding(clock: ManualClock, sandboxes, make_wholecell_client) -> None:
    sandboxes[0].set_contract_drift(ignored_filters={"/inventories": ["updated_at_gt"]})

    report = _probe(clock, sandboxes, make_wholecell_client)

    [problem] = _problems(report)
    assert problem.startswith("PROBLEM WholeCell /inventories: filter 'updated_at_gt' ignored: 100 items")


def test_an_external_id_the_api_does_not_keep_is_a_precise_finding(
    clock: ManualClock, sandboxes, make_wholecell_client
) -> None:
    sandboxes[0].set_unknown_order_fields(["external_id"])  # as if the real API named it otherwise

    report = _probe(clock, sandboxes, make_wholecell_client)

    assert _problems(report) == [
        "PROBLEM WholeCell /sales_orders: orders on the 'Backmarket' channel have no 'external_id': "
        "bmsync cannot find an order by its Back Market number"
    ]
    assert report.confirmed_points() == []  # order_import keeps asking a person after an unclear create


def test_a_refused_date_format_is_a_note_and_the_orders_are_read_in_the_other(
    clock: ManualClock, sandboxes, make_wholecell_client
) -> None:
    sandboxes[1].configure(refuse_date_format="rfc3339")

    report = _probe(clock, sandboxes, make_wholecell_client)

    assert report.holds, "\n".join(report.lines())  # bmsync's client falls back to the other format
    lines = report.lines()
    assert "note    Back Market /ws/orders: the RFC 3339 date filter is refused" in lines
    assert any(
        line.startswith("ok      Back Market /ws/orders: ") and "read as Order" in line for line in lines
    )


def test_a_user_agent_the_firewall_refuses_is_a_precise_finding(
    clock: ManualClock, sandboxes, make_wholecell_client
) -> None:
    wholecell, backmarket = sandboxes
    anonymous = BackMarketClient(
        base_url=backmarket.base_url,
        token_provider=lambda force_refresh: BM_TOKEN,
        market="en-gb",
        user_agent="python-requests/2.32",
        clock=clock,
        timeout=(1.0, 2.0),
    )

    report = probe(wholecell=make_wholecell_client(wholecell), backmarket=anonymous, clock=clock)

    [problem] = _problems(report)
    assert problem.startswith("PROBLEM Back Market /ws/listings: firewall page instead of an answer")


def test_an_unreadable_record_is_named_and_does_not_pass_for_an_ignored_filter(
    clock: ManualClock, sandboxes, make_wholecell_client
) -> None:
    wholecell = sandboxes[0]
    # Served whatever the filters (the emulator cannot know how they apply to a record it does not read).
    wholecell.add_raw_item("/sales_orders", {**wholecell.orders()[0], "id": 990002, "status": None})

    report = _probe(clock, sandboxes, make_wholecell_client)

    [problem] = _problems(report)
    assert problem.startswith("PROBLEM WholeCell /sales_orders: /sales_orders data[")
    assert problem.endswith("].status: input should be a valid string (got NoneType)")
    assert any(
        line.startswith("note    WholeCell /sales_orders: filter 'status' honoured, but 1 of ")
        and "(ids 990002)" in line
        for line in report.lines()
    )


def test_a_differently_typed_field_names_its_sample_path() -> None:
    unit = {"id": 1, "status": "Available", "order_id": "ORD-7", "created_at": "x", "updated_at": "y"}
    problems = shape_findings(InventoryUnit, [unit], "/inventories data")
    assert any(problem.startswith("/inventories data[0].order_id: ") for problem in problems)


def test_saved_fixtures_are_redacted_and_replay_against_the_models(
    clock: ManualClock, sandboxes, make_wholecell_client, tmp_path: Path
) -> None:
    report = _probe(clock, sandboxes, make_wholecell_client, fixtures=tmp_path)
    assert report.holds

    saved = {path.name: path.read_text() for path in tmp_path.iterdir()}
    assert {"wholecell_inventories.json", "wholecell_sales_orders.json", "backmarket_ws_orders.json"} <= set(
        saved
    )
    everything = "\n".join(saved.values())
    assert BM_TOKEN not in everything and "sandbox-secret" not in everything
    assert "Jane Buyer" not in everything  # personal data (the buyer's name) is redacted
    orders = json.loads(saved["wholecell_sales_orders.json"])["data"]
    assert not [p for p in shape_findings(SalesOrder, orders, "orders") if not p.startswith("extra: ")]


def test_refused_credentials_are_one_finding_per_side(
    clock: ManualClock, sandboxes, make_wholecell_client
) -> None:
    wholecell, backmarket = sandboxes
    refused = WholeCellCredentials(app_id=wholecell.app_id, app_secret="an-old-secret")
    wholecell_client = make_wholecell_client(wholecell, credentials_provider=lambda force_refresh: refused)
    backmarket_client = BackMarketClient(
        base_url=backmarket.base_url,
        token_provider=lambda force_refresh: "a-revoked-token-000",
        market="en-gb",
        user_agent="BM-Acme-bmsync;ops@acme.example",
        clock=clock,
        timeout=(1.0, 2.0),
    )

    report = probe(wholecell=wholecell_client, backmarket=backmarket_client, clock=clock)

    assert [(f.side, f.check) for f in report.findings if f.level == "problem"] == [
        ("wholecell", "auth"),
        ("backmarket", "auth"),
    ]
    assert "credentials refused" in report.lines()[0] and "token refused" in report.lines()[1]


class EndlessBackMarket:
    """A Back Market whose lists never end: the probe must stop at its page bound."""

    def __init__(self) -> None:
        self.pages: list[tuple[str, int]] = []

    def read_json(self, path: str, params: dict) -> dict:
        self.pages.append((path, params.get("page", 1)))
        return {"results": [{"id": f"row-{len(self.pages)}"}], "next": "more", "count": 10**6}

    def listing_counts(self) -> ListingCounts:
        return ListingCounts(all=10**6, online=10, offline_sold_out=0)


def test_the_back_market_pages_read_are_bounded(clock: ManualClock, sandboxes, make_wholecell_client) -> None:
    backmarket = EndlessBackMarket()

    report = probe(
        wholecell=make_wholecell_client(sandboxes[0]),
        backmarket=backmarket,
        clock=clock,
        max_backmarket_pages=2,
    )

    paged = [page for path, page in backmarket.pages if path == "/ws/orders" and page > 1]
    assert max(page for path, page in backmarket.pages if path == "/ws/listings") == 2 and paged == [2]
    assert any("2 of 2 items bmsync cannot read as Listing" in line for line in report.lines())

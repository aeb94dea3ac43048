"""The Connection page's "Check the API contract": bmsync probe's report, in the console and the API."""

from __future__ import annotations

from typing import Any

import pytest

from bmsync.admin.app import build_app
from bmsync.admin.services import AdminServices
from bmsync.clock import ManualClock
from bmsync.probe import Finding, ProbeReport
from bmsync.store.sync_state import SyncStateRepository
from bmsync.sync.contract_confirmed import EXTERNAL_ID_LOOKUP, is_confirmed
from tests.unit.admin.conftest import AdminClient

MISSING = Finding(
    side="wholecell",
    endpoint="/sales_order_statuses",
    check="reachable",
    level="problem",
    message="missing (404): this inferred endpoint does not exist",
)
FINE = Finding(side="backmarket", endpoint="/ws/listings", check="auth", level="ok", message="token accepted")


class FakeContractCheck:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, settings: Any, clock: Any) -> ProbeReport:
        self.calls.append(settings.connection_id)
        return ProbeReport(findings=[FINE, MISSING])


@pytest.fixture
def contract_check() -> FakeContractCheck:
    return FakeContractCheck()


@pytest.fixture
def signed_in_with_probe(admin_secret, clock: ManualClock, contract_check: FakeContractCheck) -> AdminClient:
    app = build_app(AdminServices(clock=lambda: clock, check_contract=contract_check))
    client = AdminClient(app, clock)
    assert client.sign_in().status == 303
    return client


def test_the_button_shows_each_finding_and_the_verdict(
    signed_in_with_probe: AdminClient, contract_check: FakeContractCheck
) -> None:
    client = signed_in_with_probe
    assert "Check the API contract" in client.request("GET", "/connections/default/connection").body

    form = {"csrf_token": client.csrf}
    page = client.request("POST", "/connections/default/connection/contract", form=form)

    assert page.status == 200
    assert "The API contract does NOT hold." in page.body
    assert "PROBLEM WholeCell /sales_order_statuses: missing (404)" in page.body
    api = client.api("POST", "/api/connections/default/connection/contract")
    assert api.status == 200 and api.json()["holds"] is False
    assert [finding["level"] for finding in api.json()["findings"]] == ["ok", "problem"]
    assert contract_check.calls == ["default", "default"]


def test_a_lookup_the_check_saw_work_is_recorded_as_confirmed(
    admin_secret, clock: ManualClock, aws: None
) -> None:
    lookup = Finding(
        side="wholecell",
        endpoint="/sales_orders",
        check="order lookup",
        level="ok",
        message="order 50027 found again by its Back Market number ('external_id')",
    )
    app = build_app(
        AdminServices(clock=lambda: clock, check_contract=lambda settings, at: ProbeReport(findings=[lookup]))
    )
    client = AdminClient(app, clock)
    assert client.sign_in().status == 303
    state = SyncStateRepository("default", clock)
    assert not is_confirmed(state, EXTERNAL_ID_LOOKUP)

    assert client.api("POST", "/api/connections/default/connection/contract").status == 200

    assert is_confirmed(state, EXTERNAL_ID_LOOKUP)

"""`bmsync probe --local` against the local system `bmsync up` starts: it holds, and says what differs."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bmsync.cli import main
from bmsync.clock import ManualClock, SystemClock
from bmsync.store.sync_state import SyncStateRepository
from bmsync.sync.contract_confirmed import EXTERNAL_ID_LOOKUP, is_confirmed
from bmsync_sandbox.runtime.collaborators import use_clock
from bmsync_sandbox.runtime.system import ConsoleLog, LocalSystem, Ports


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LocalSystem]:
    system = LocalSystem(
        state_dir=tmp_path / "state",
        ports=Ports(0, 0, 0, 0),
        demo=True,
        clock=ManualClock(),
        console=ConsoleLog(io.StringIO()),
        functions_dir=tmp_path / "no-functions",  # the probe needs none of them
    )
    try:
        system.start()
        yield system
    finally:
        system.stop()
        use_clock(SystemClock())


def _probe(
    local: LocalSystem, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, list[str], dict]:
    report = tmp_path / "report.json"
    status = main(
        [
            "probe",
            "--connection",
            "demo",
            "--local",
            "--state-dir",
            str(local.state_dir),
            "--json",
            str(report),
            "--save-fixtures",
            str(tmp_path / "saved"),
        ]
    )
    return status, capsys.readouterr().out.splitlines(), json.loads(report.read_text())


def test_the_probe_passes_against_bmsync_up_without_writing(
    local: LocalSystem, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An order bmsync imported earlier: the probe checks the lookup by Back Market number on it.
    local.wholecell.create_sales_order(
        order_items=[{"sku": "IP13-128-M-A", "quantity": 1, "price": 50000}],
        channel="Backmarket",
        external_id="7700123",
    )
    local.wholecell.clear_calls()
    local.backmarket.clear_calls()

    status, lines, report = _probe(local, tmp_path, capsys)

    assert status == 0, "\n".join(lines)
    assert lines[-1] == "The contract holds."
    # The lookup by external id worked: order_import may now recover an unclear create by itself.
    assert "Recorded as confirmed on connection 'demo': external_id_lookup" in lines
    assert is_confirmed(SyncStateRepository("demo", SystemClock()), EXTERNAL_ID_LOOKUP)
    assert report["findings"] and not [f for f in report["findings"] if f["level"] == "problem"]
    assert {call["method"] for call in local.wholecell.calls()} == {"GET"}
    assert {call["method"] for call in local.backmarket.calls()} == {"GET"}
    saved = "".join(path.read_text() for path in (tmp_path / "saved").iterdir())
    assert (
        "wholecell" in str(sorted((tmp_path / "saved").iterdir())) and local.wholecell.app_secret not in saved
    )


def test_the_probe_fails_with_one_line_per_difference(
    local: LocalSystem, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local.wholecell.set_contract_drift(
        absent_endpoints=["/product_variations"],
        renamed_fields={"/sales_orders": {"status": "state"}},
        ignored_filters={"/customers": ["name"]},
    )

    status, lines, _ = _probe(local, tmp_path, capsys)

    assert status == 1
    problems = [line for line in lines if line.startswith("PROBLEM")]
    assert problems == [
        "PROBLEM WholeCell /product_variations: missing (404): this inferred endpoint does not exist",
        "PROBLEM WholeCell /customers: filter 'name' ignored: 3 items with a value nothing matches, "
        "3 without it",
        "PROBLEM WholeCell /sales_orders: /sales_orders data.status: missing "
        "(bmsync reads SalesOrder.status)",
    ], "\n".join(lines)

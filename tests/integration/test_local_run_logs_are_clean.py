"""A run of the whole local system leaves no token, password or buyer's personal data in any log line."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bmsync.clock import ManualClock, SystemClock
from bmsync_sandbox.runtime.collaborators import use_clock
from bmsync_sandbox.runtime.system import ConsoleLog, LocalSystem, Ports


@pytest.fixture
def ran(tmp_path: Path) -> Iterator[tuple[LocalSystem, str]]:
    """The real functions, run for two simulated minutes of demo traffic; what the console showed."""
    clock = ManualClock()
    console = io.StringIO()
    local = LocalSystem(
        state_dir=tmp_path / "state",
        ports=Ports(0, 0, 0, 0),
        demo=True,
        clock=clock,
        console=ConsoleLog(console),
    )
    try:
        local.start()
        assert local.pump is not None and local.traffic is not None
        local.run_schedules()
        local.pump.drain()
        local.traffic.buyer_orders()
        local.traffic.units_arrive()
        # The admin console: a wrong then a right password, and a page behind the sign-in.
        admin = local.addresses["admin"]
        session = requests.Session()
        for password in ("not-the-password-123", local.admin_password):
            session.post(f"{admin}/signin", data={"password": password}, timeout=10)
        session.get(f"{admin}/", timeout=10)
        for _ in range(2):
            clock.advance(60)
            local.run_schedules()
            local.pump.drain()
        yield local, console.getvalue()
    finally:
        local.stop()
        use_clock(SystemClock())


def test_no_secret_or_buyer_data_reaches_the_logs(ran: tuple[LocalSystem, str]) -> None:
    local, console = ran
    function_log = local.function_logs.path.read_text()
    assert function_log.count("\n") > 5, "the functions logged nothing: the test would prove nothing"
    assert '"function_name":"quantity_sync"' in function_log

    secrets = [
        local.backmarket.token,
        local.wholecell.app_secret,
        local.admin_password,
    ]
    buyer_data = set()
    for order in local.backmarket.orders():
        for address in (order["shipping_address"], order["billing_address"]):
            for field in ("first_name", "last_name", "street", "postal_code", "phone", "email"):
                if address.get(field):
                    buyer_data.add(str(address[field]))
    assert buyer_data, "the demo has no buyers: the test would prove nothing"
    for where, text in (("functions.log", function_log), ("the console", console)):
        leaked = [value for value in [*secrets, *sorted(buyer_data)] if value in text]
        assert leaked == [], f"{where} leaks {leaked}"

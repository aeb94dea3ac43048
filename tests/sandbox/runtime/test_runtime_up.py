"""`bmsync up`: everything starts on free ports, is written down in local.json, runs, and stops cleanly."""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import requests

from bmsync import connection_secrets
from bmsync.clock import ManualClock, SystemClock
from bmsync.settings import ProductVariationMode
from bmsync.store.settings_repo import SettingsRepository
from bmsync_sandbox.runtime.collaborators import use_clock
from bmsync_sandbox.runtime.system import ConsoleLog, LocalSystem, Ports, run_up

SCHEDULED_RECORDER = (
    "import json\n"
    "from pathlib import Path\n\n"
    "def handler(event, context):\n"
    "    with (Path(__file__).parent / 'events.jsonl').open('a') as file:\n"
    "        file.write(json.dumps(event) + '\\n')\n"
    "    return {'connections': 1}\n"
)


def _closed(url: str) -> bool:
    host, port = url.removeprefix("http://").split("/")[0].split(":")
    with socket.socket() as probe:
        return probe.connect_ex((host, int(port))) != 0


@pytest.fixture
def system(tmp_path: Path) -> Iterator[tuple[LocalSystem, io.StringIO, Path]]:
    functions = tmp_path / "functions"
    (functions / "order_import").mkdir(parents=True)
    (functions / "order_import" / "handler.py").write_text(SCHEDULED_RECORDER)
    out = io.StringIO()
    local = LocalSystem(
        state_dir=tmp_path / "state",
        ports=Ports(0, 0, 0, 0),
        demo=True,
        clock=ManualClock(),
        console=ConsoleLog(out),
        functions_dir=functions,
    )
    try:
        local.start()
        yield local, out, functions
    finally:
        local.stop()
        use_clock(SystemClock())


def test_up_writes_every_address_and_the_sandbox_credentials(
    system: tuple[LocalSystem, io.StringIO, Path],
) -> None:
    local, _, _ = system
    document = json.loads((local.state_dir / "local.json").read_text())
    assert oct((local.state_dir / "local.json").stat().st_mode & 0o777) == "0o600"
    assert document["aws_endpoint_url"] == local.addresses["aws"] == os.environ["AWS_ENDPOINT_URL"]
    assert document["admin_url"] == local.addresses["admin"]
    assert document["backmarket"]["url"] == local.addresses["backmarket"]
    assert document["wholecell"]["url"].endswith("/api/v1")
    assert document["connection_id"] == "demo"
    for url in (document["aws_endpoint_url"], document["admin_url"], document["backmarket"]["url"]):
        assert url.startswith("http://127.0.0.1:")
    assert "password" not in json.dumps(document).lower()  # the admin password is printed, not stored


def test_up_stores_the_demo_connection_like_the_admin_would(
    system: tuple[LocalSystem, io.StringIO, Path],
) -> None:
    local, _, _ = system
    document = json.loads((local.state_dir / "local.json").read_text())
    settings = SettingsRepository().get("demo")
    assert settings is not None
    assert settings.order_import_enabled and settings.quantity_sync_enabled
    assert settings.product_variations is ProductVariationMode.MATCH_VIA_SKU
    assert settings.backmarket.base_url == document["backmarket"]["url"]
    assert settings.wholecell.base_url == document["wholecell"]["url"]
    assert connection_secrets.read_backmarket_token(settings.connection_id) == document["backmarket"]["token"]
    credentials = connection_secrets.read_wholecell_credentials(settings.connection_id)
    assert credentials.app_id == document["wholecell"]["app_id"]
    assert credentials.app_secret.get_secret_value() == document["wholecell"]["app_secret"]
    assert local.admin_password
    tables = boto3.client("dynamodb").list_tables()["TableNames"]
    assert set(document["tables"].values()) <= set(tables)


def test_missing_handlers_are_skipped_in_one_line_and_present_ones_run(
    system: tuple[LocalSystem, io.StringIO, Path],
) -> None:
    local, out, functions = system
    lines = out.getvalue().splitlines()
    for name in ("listing_import", "wholecell_watch", "quantity_sync", "shipment_export", "admin"):
        assert [line for line in lines if f"  {name}: " in line and "not built yet: skipped" in line]
    assert not [line for line in lines if "order_import" in line and "skipped" in line]

    local.run_schedules()
    calls = (functions / "order_import" / "events.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in calls]
    # At start-up each schedule fires once: the every-minute import and the daily catch-up.
    assert sorted(event.get("task") or "" for event in events) == ["", "catch_up"]
    assert {event["scheduled_time"] for event in events} == {"2026-01-05T09:00:00Z"}
    assert [line for line in out.getvalue().splitlines() if "order_import" in line and " ok " in line]
    # The admin handler is missing: its URL answers in plain words instead of hanging.
    response = requests.get(local.addresses["admin"] + "/", timeout=5)
    assert response.status_code == 503


def test_up_stops_cleanly_after_its_duration(tmp_path: Path) -> None:
    out = io.StringIO()
    args = argparse.Namespace(
        duration=1.5,
        moto_port=0,
        backmarket_port=0,
        wholecell_port=0,
        admin_port=0,
        state_dir=str(tmp_path / "state"),
        no_demo=True,
    )
    try:
        assert run_up(args, out) == 0
    finally:
        use_clock(SystemClock())
    text = out.getvalue()
    assert "bmsync is up on the local sandbox (Ctrl-C to stop)" in text
    assert text.rstrip().endswith("bmsync stopped")
    document = json.loads((tmp_path / "state" / "local.json").read_text())
    for url in (document["aws_endpoint_url"], document["admin_url"], document["backmarket"]["url"]):
        assert _closed(url)
    assert "AWS_ENDPOINT_URL" not in os.environ  # the process's AWS settings are given back


def test_up_stops_on_ctrl_c(tmp_path: Path) -> None:
    out = io.StringIO()
    args = argparse.Namespace(
        duration=60,
        moto_port=0,
        backmarket_port=0,
        wholecell_port=0,
        admin_port=0,
        state_dir=str(tmp_path / "state"),
        no_demo=True,
    )
    interrupt = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    interrupt.start()
    try:
        assert run_up(args, out) == 0
    finally:
        interrupt.cancel()
        use_clock(SystemClock())
    assert "stopping..." in out.getvalue() and out.getvalue().rstrip().endswith("bmsync stopped")


@pytest.mark.parametrize("service", ["admin_port", "moto_port"])
def test_up_explains_a_port_that_is_taken(tmp_path: Path, service: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        out = io.StringIO()
        ports = {"moto_port": 0, "backmarket_port": 0, "wholecell_port": 0, "admin_port": 0}
        ports[service] = taken.getsockname()[1]
        args = argparse.Namespace(duration=1, state_dir=str(tmp_path / "state"), no_demo=True, **ports)
        try:
            assert run_up(args, out) == 1
        finally:
            use_clock(SystemClock())
    assert "could not start" in out.getvalue() and "--admin-port" in out.getvalue()
    assert "AWS_ENDPOINT_URL" not in os.environ


def test_the_demo_traffic_acts_on_the_emulators(system: tuple[LocalSystem, io.StringIO, Path]) -> None:
    local, _, _ = system
    traffic = local.traffic
    assert traffic is not None
    orders_before = len(local.backmarket.orders())
    assert traffic.buyer_orders().startswith("a buyer ordered ")
    assert len(local.backmarket.orders()) == orders_before + 1

    sku = traffic.skus[0]
    local.wholecell.receive_units(sku, 2)
    order = local.wholecell.create_sales_order(
        order_items=[{"sku": sku, "description": sku, "quantity": 1, "price": 10000}],
        channel="Backmarket",
        status="Processing",  # the demo maps Back Market's "accepted" to Processing
        external_id="99999001",
    )
    happened = traffic.ship_an_order()
    assert happened.startswith(f"WholeCell order {order['id']} shipped with "), happened
    shipped = local.wholecell.order(order["id"])
    assert len(shipped["shipments"]) == 1 and shipped["shipments"][0]["tracking_number"].startswith("DEMO")
    (unit,) = shipped["inventories"]
    assert local.wholecell.unit(unit["id"])["order_id"] == order["id"]

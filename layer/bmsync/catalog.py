"""The functions of bmsync and what triggers them: one definition for CDK and the sandbox runtime."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bmsync.store.tables import LISTINGS, ORDERS, STOCK, TableDef

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"


@dataclass(frozen=True)
class StreamSource:
    table: TableDef
    batch_size: int = 100
    max_batching_window_seconds: int = 1
    max_retries: int = 3
    max_record_age_seconds: int = 3600
    bisect_on_error: bool = True


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    description: str
    schedule_minutes: int | None = None  # EventBridge Scheduler rate
    streams: tuple[StreamSource, ...] = ()
    function_url: bool = False
    timeout_seconds: int = 60
    memory_mb: int = 512
    calls_backmarket: bool = False
    tables: tuple[str, ...] = field(default_factory=tuple)  # logical names it reads/writes

    @property
    def folder(self) -> Path:
        return FUNCTIONS_DIR / self.name


FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        "order_import",
        "Back Market orders -> WholeCell sales orders (and their status)",
        schedule_minutes=1,
        timeout_seconds=120,
        calls_backmarket=True,
        tables=("settings", "orders", "stock", "listings", "listing_links", "sync_state", "idempotency"),
    ),
    FunctionSpec(
        "listing_import",
        "Back Market listings -> the listings table (the Listings tab)",
        schedule_minutes=60,
        timeout_seconds=300,
        calls_backmarket=True,
        tables=("settings", "listings", "listing_links", "stock", "sync_state"),
    ),
    FunctionSpec(
        "wholecell_watch",
        "WholeCell change capture: stock mirror and new shipments",
        schedule_minutes=1,
        timeout_seconds=120,
        tables=("settings", "stock", "orders", "sync_state"),
    ),
    FunctionSpec(
        "quantity_sync",
        "stock and listing changes -> Back Market listing quantities",
        schedule_minutes=60,  # the hourly drift check
        streams=(StreamSource(STOCK), StreamSource(LISTINGS)),
        timeout_seconds=120,
        calls_backmarket=True,
        tables=("settings", "listings", "listing_links", "stock", "sync_state", "idempotency"),
    ),
    FunctionSpec(
        "shipment_export",
        "WholeCell shipments -> Back Market (ship, tracking, IMEI)",
        streams=(StreamSource(ORDERS, batch_size=10),),
        timeout_seconds=120,
        calls_backmarket=True,
        tables=("settings", "orders", "sync_state", "idempotency"),
    ),
    FunctionSpec(
        "admin",
        "the admin API and web console (Lambda Function URL)",
        function_url=True,
        timeout_seconds=30,
        memory_mb=1024,
        tables=("settings", "listings", "listing_links", "stock", "orders", "sync_state"),
    ),
)


def by_name(name: str) -> FunctionSpec:
    for spec in FUNCTIONS:
        if spec.name == name:
            return spec
    raise KeyError(name)

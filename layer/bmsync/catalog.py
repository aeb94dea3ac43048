"""The functions of bmsync and what triggers them: one definition for CDK and the sandbox runtime."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bmsync.store.tables import LISTINGS, ORDERS, STOCK, TableDef

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"

#: Every write to a stream-triggering item names its writer here; a consumer never sees its own writes.
OWN_WRITE_ATTRIBUTE = "last_writer"

#: The ``export_state`` values shipment_export acts on (``bmsync.sync.shipment_export``): due, or
#: crashed mid-way.
EXPORT_STATES_TO_SEND = ("pending", "failed_retrying", "sending")


@dataclass(frozen=True)
class StreamSource:
    table: TableDef
    batch_size: int = 100
    max_batching_window_seconds: int = 1
    max_retries: int = 3
    max_record_age_seconds: int = 3600
    bisect_on_error: bool = True
    #: The stream events the function acts on; Lambda's event filter drops the others before invoking.
    event_names: tuple[str, ...] = ("INSERT", "MODIFY")
    #: Only new images whose string attribute holds one of these values: ``(attribute, values)``.
    only_when: tuple[str, tuple[str, ...]] | None = None

    def filter_patterns(self, function: str) -> list[dict[str, Any]]:
        """Lambda event-filter patterns (OR-ed) that pass only the records ``function`` acts on.

        A write whose ``last_writer`` is ``function`` itself never passes (no function re-triggers
        itself); an item without ``last_writer`` does (a hand edit still propagates).
        """
        written = [e for e in self.event_names if e != "REMOVE"]
        new_image_rules: list[dict[str, Any]] = []
        for writer_rule in ([{"anything-but": [function]}], [{"exists": False}]):
            new_image: dict[str, Any] = {OWN_WRITE_ATTRIBUTE: {"S": writer_rule}}
            if self.only_when:
                attribute, values = self.only_when
                new_image[attribute] = {"S": list(values)}
            new_image_rules.append(new_image)
        patterns: list[dict[str, Any]] = []
        if written:
            patterns.extend(
                {"eventName": written, "dynamodb": {"NewImage": new_image}} for new_image in new_image_rules
            )
        if "REMOVE" in self.event_names:
            patterns.append({"eventName": ["REMOVE"]})
        return patterns


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
    #: The ``task`` the ``schedule_minutes`` schedule sends (None: the function's main work).
    schedule_task: str | None = None
    #: Further schedules: ``(task, minutes)`` (e.g. order_import's daily catch-up).
    task_schedules: tuple[tuple[str, int], ...] = ()
    calls_wholecell: bool = False
    #: Each run of the main schedule asks for a second run this many seconds after its slot (an SQS
    #: message with that delay on the function's rerun queue, ``bmsync.rerun``): EventBridge
    #: Scheduler's shortest rate is a minute, and WholeCell has no webhooks, so polling twice a
    #: minute is what brings a change's p95 under a minute. None: once per slot.
    rerun_after_seconds: int | None = None

    @property
    def schedules(self) -> tuple[tuple[str | None, int], ...]:
        """Every schedule of the function: ``(task, minutes)``."""
        main = ((self.schedule_task, self.schedule_minutes),) if self.schedule_minutes else ()
        return main + self.task_schedules

    @property
    def folder(self) -> Path:
        return FUNCTIONS_DIR / self.name


FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        "order_import",
        "Back Market orders -> WholeCell sales orders (and their status)",
        schedule_minutes=1,
        task_schedules=(("catch_up", 24 * 60),),  # daily re-read of recently modified orders
        rerun_after_seconds=30,  # Back Market orders read twice a minute (not the catch-up)
        timeout_seconds=120,
        calls_backmarket=True,
        calls_wholecell=True,
        tables=("settings", "orders", "stock", "listings", "listing_links", "sync_state"),
    ),
    FunctionSpec(
        "listing_import",
        "Back Market listings -> the listings table (the Listings tab)",
        # Every 5 minutes, but an import runs hourly, or sooner after a failed one
        # (bmsync.sync.listing_import).
        schedule_minutes=5,
        timeout_seconds=300,
        calls_backmarket=True,
        calls_wholecell=True,  # the variations of each SKU
        tables=("settings", "listings", "sync_state"),
    ),
    FunctionSpec(
        "wholecell_watch",
        "WholeCell change capture: stock mirror and new shipments",
        schedule_minutes=1,
        rerun_after_seconds=30,  # WholeCell's changes read twice a minute (the rerun: no reconciliation)
        timeout_seconds=120,
        calls_wholecell=True,
        # listings: marks them for re-evaluation when the quantity settings change.
        tables=("settings", "stock", "orders", "listings", "sync_state"),
    ),
    FunctionSpec(
        "quantity_sync",
        "stock and listing changes -> Back Market listing quantities",
        schedule_minutes=60,  # the hourly drift check
        schedule_task="drift_check",
        # A removed stock item (variation gone) changes listing quantities too.
        streams=(StreamSource(STOCK, event_names=("INSERT", "MODIFY", "REMOVE")), StreamSource(LISTINGS)),
        timeout_seconds=120,
        calls_backmarket=True,
        tables=("settings", "listings", "listing_links", "stock", "sync_state", "idempotency"),
    ),
    FunctionSpec(
        "shipment_export",
        "WholeCell shipments -> Back Market (ship, tracking, IMEI)",
        schedule_minutes=1,  # the exports whose retry time has come (or whose attempt crashed)
        schedule_task="send_due_retries",
        streams=(StreamSource(ORDERS, batch_size=10, only_when=("export_state", EXPORT_STATES_TO_SEND)),),
        timeout_seconds=120,
        calls_backmarket=True,
        tables=("settings", "orders", "sync_state"),
    ),
    FunctionSpec(
        "admin",
        "the admin API and web console (Lambda Function URL)",
        function_url=True,
        timeout_seconds=30,
        memory_mb=1024,
        calls_wholecell=True,
        tables=("settings", "listings", "listing_links", "stock", "orders", "sync_state"),
    ),
)


def by_name(name: str) -> FunctionSpec:
    for spec in FUNCTIONS:
        if spec.name == name:
            return spec
    raise KeyError(name)

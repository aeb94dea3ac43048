"""``bmsync probe``: the contract bmsync relies on, checked read-only against the real accounts.

WholeCell's API reference is not public (docs/wholecell.md): most of what bmsync calls is inferred
(``bmsync.wholecell.contract``). :func:`probe` calls every endpoint bmsync uses on both sides with GETs
only — it never writes — and reports, one finding a line, in plain words: reachable, auth accepted, the
shape against bmsync's models (missing, extra and differently typed fields, with a sample path), whether
the filters bmsync relies on are honoured, paging, latency × pages against the function's timeout, and
whether an order can be found by its Back Market number. The clients are passed in; the CLI
(``bmsync probe``) and the console's "Check the API contract" button only show the report.

A filter is honoured when a value that matches nothing (a status no account has, a time tomorrow)
empties a list that is not empty without it: an API that ignores unknown or misspelt filters returns
everything instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError

from bmsync.backmarket import models as bm_models
from bmsync.backmarket.client import DATE_FORMAT_PLAIN, DATE_FORMAT_RFC3339, format_filter_date
from bmsync.backmarket.errors import BackMarketError, Blocked, InvalidRequest
from bmsync.backmarket.errors import Forbidden as BackMarketForbidden
from bmsync.backmarket.errors import Unauthorized as BackMarketUnauthorized
from bmsync.catalog import by_name
from bmsync.clock import Clock
from bmsync.errors import IntegrationError
from bmsync.observability import REDACTED, redact
from bmsync.sync.contract_confirmed import EXTERNAL_ID_LOOKUP, DocumentStore, record_confirmed
from bmsync.wholecell import contract
from bmsync.wholecell import models as wc_models
from bmsync.wholecell.errors import EndpointMissing, Unauthorized, WholeCellError

Side = Literal["wholecell", "backmarket"]
Level = Literal["ok", "note", "problem"]

#: The model each WholeCell list's items are read as.
WHOLECELL_MODELS: dict[str, type[BaseModel]] = {
    contract.INVENTORIES: wc_models.InventoryUnit,
    contract.PRODUCT_VARIATIONS: wc_models.ProductVariation,
    contract.SALES_ORDER_STATUSES: wc_models.SalesOrderStatus,
    contract.CUSTOMERS: wc_models.Customer,
    contract.SALES_ORDERS: wc_models.SalesOrder,
    contract.STOCK_LEVELS: wc_models.StockLevel,
}
#: The functions that read each list to its end, whose timeout its pages must fit in.
WHOLECELL_READERS: dict[str, tuple[str, ...]] = {
    contract.INVENTORIES: ("wholecell_watch",),
    contract.PRODUCT_VARIATIONS: ("wholecell_watch", "listing_import"),
    contract.SALES_ORDER_STATUSES: ("wholecell_watch",),
    contract.SALES_ORDERS: ("wholecell_watch",),
    contract.CUSTOMERS: ("order_import",),
    contract.STOCK_LEVELS: (),
}
#: A filter value no account has: honoured, it empties the list.
NO_SUCH_VALUE = "bmsync-probe-no-such-value"
#: How far back the Back Market orders are read to check that each one parses.
ORDERS_WINDOW = timedelta(days=30)
MAX_BACKMARKET_PAGES = 20
#: The points of the contract a check that passes confirms on the account (``contract_confirmed``).
CONFIRMED_BY = {("wholecell", contract.SALES_ORDERS, "order lookup"): EXTERNAL_ID_LOOKUP}


class Finding(BaseModel):
    side: Side
    endpoint: str
    check: str
    level: Level
    message: str

    def line(self) -> str:
        mark = {"ok": "ok     ", "note": "note   ", "problem": "PROBLEM"}[self.level]
        name = "WholeCell" if self.side == "wholecell" else "Back Market"
        return f"{mark} {name} {self.endpoint}: {self.message}"


class ProbeReport(BaseModel):
    findings: list[Finding]

    @property
    def holds(self) -> bool:
        """Whether the contract holds: no finding is a problem."""
        return not any(finding.level == "problem" for finding in self.findings)

    def lines(self) -> list[str]:
        return [finding.line() for finding in self.findings]

    def confirmed_points(self) -> list[str]:
        """The points of the contract this probe saw work (``bmsync.sync.contract_confirmed``)."""
        return [
            CONFIRMED_BY[key]
            for finding in self.findings
            if finding.level == "ok"
            and (key := (finding.side, finding.endpoint, finding.check)) in CONFIRMED_BY
        ]


def record_confirmations(report: ProbeReport, state: DocumentStore, *, at: datetime) -> list[str]:
    """Note in the connection's ``contract_confirmed`` document what the probe saw work (it lets
    order_import recover an unclear create by itself); bmsync's own table, not the accounts."""
    points = report.confirmed_points()
    for point in points:
        record_confirmed(state, point, by="probe", at=at)
    return points


class FixtureWriter:
    """Keeps each response, redacted (no personal data, no token), as a file the contract tests replay."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def save(self, side: Side, endpoint: str, body: Any) -> None:
        name = f"{side}{endpoint.replace('/', '_')}.json"
        if endpoint == contract.CUSTOMERS and isinstance(body, dict) and isinstance(body.get("data"), list):
            # A WholeCell customer is often the buyer: its name is personal data here.
            body = {
                **body,
                "data": [{**item, "name": REDACTED} for item in body["data"] if isinstance(item, dict)],
            }
        (self.directory / name).write_text(json.dumps(redact(body), indent=2, sort_keys=True) + "\n")


# --- shapes


def shape_findings(model: type[BaseModel], items: list[Any], where: str, model_name: str = "") -> list[str]:
    """What differs between the items and the model, in words, each with a sample path: fields the
    model reads that no item has (under their ``contract.WIRE_NAMES``), fields of a type it cannot
    read, and (prefixed ``extra:``) fields no model reads. A redacted value matches any type."""
    name = model_name or model.__name__
    dicts = [item for item in items if isinstance(item, dict)]
    found: list[str] = []
    if len(dicts) != len(items):
        found.append(f"{where}: an item is not an object")
    if not dicts:
        return found
    wire_names = {contract.wire_name(name, field): field for field in model.model_fields}
    for wire, field in wire_names.items():
        present = [item for item in dicts if wire in item]
        if not present:
            found.append(f"{where}.{wire}: missing (bmsync reads {name}.{field})")
            continue
        nested = _nested_model(model.model_fields[field].annotation)
        if nested is None:
            continue
        values = [item[wire] for item in present]
        objects = [value for value in values if isinstance(value, dict)]
        for value in values:
            if isinstance(value, list):
                objects.extend(element for element in value if isinstance(element, dict))
        found.extend(shape_findings(nested, objects, f"{where}.{wire}"))
    for index, item in enumerate(dicts):
        typed = _typed_problems(model, _unredacted(item), f"{where}[{index}]")
        found.extend(problem for problem in typed if problem not in found)
        if typed:
            break  # one sample is enough to say which field is typed otherwise
    extra = sorted({key for item in dicts for key in item} - set(wire_names))
    if extra:
        found.append(f"extra: {where} has fields bmsync does not read: {', '.join(extra)}")
    return found


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        nested = _nested_model(argument)
        if nested is not None:
            return nested
    origin = get_origin(annotation)
    return origin if isinstance(origin, type) and issubclass(origin, BaseModel) else None


def _unredacted(value: Any) -> Any:
    """Redacted values dropped, so a replayed fixture is judged on what it still shows."""
    if isinstance(value, dict):
        return {key: _unredacted(item) for key, item in value.items() if item != REDACTED}
    if isinstance(value, list):
        return [_unredacted(item) for item in value if item != REDACTED]
    return value


def _typed_problems(model: type[BaseModel], item: dict[str, Any], where: str) -> list[str]:
    try:
        model.model_validate(item)
    except ValidationError as error:
        problems = []
        for problem in error.errors():
            if problem["type"] == "missing":
                continue  # said above, once for the list
            path = ".".join(str(part) for part in problem["loc"])
            problems.append(
                f"{where}.{path}: {problem['msg'].lower()} (got {type(problem['input']).__name__})"
            )
        return problems
    return []


# --- the probe


class _Probe:
    def __init__(
        self,
        *,
        wholecell: Any,
        backmarket: Any,
        clock: Clock,
        fixtures: FixtureWriter | None,
        timer: Callable[[], float],
        requests_per_second: float,
        max_backmarket_pages: int,
    ) -> None:
        self.wholecell = wholecell
        self.backmarket = backmarket
        self.clock = clock
        self.fixtures = fixtures
        self.timer = timer
        self.interval = 1.0 / requests_per_second if requests_per_second > 0 else 0.0
        self.max_backmarket_pages = max_backmarket_pages
        self.findings: list[Finding] = []

    def add(self, side: Side, endpoint: str, check: str, level: Level, message: str) -> None:
        self.findings.append(Finding(side=side, endpoint=endpoint, check=check, level=level, message=message))

    # --- WholeCell

    def wholecell_side(self) -> None:
        for endpoint in contract.ENDPOINTS:
            if not self.wholecell_list(endpoint):
                return  # credentials refused: every other call would be refused too
        self.order_lookup()

    def wholecell_read(self, path: str, params: dict[str, Any]) -> tuple[Any, float]:
        started = self.timer()
        body = self.wholecell.read_page(path, {contract.PAGE_PARAM: 1, **params})
        return body, self.timer() - started

    def wholecell_list(self, endpoint: contract.Endpoint) -> bool:
        path = endpoint.path
        kind = "confirmed" if endpoint.confirmed else "inferred"
        try:
            body, seconds = self.wholecell_read(path, {})
        except EndpointMissing:
            self.add(
                "wholecell",
                path,
                "reachable",
                "problem",
                f"missing (404): this {kind} endpoint does not exist",
            )
            return True
        except Unauthorized as error:
            self.add("wholecell", path, "auth", "problem", f"credentials refused: {error.message}")
            return False
        except WholeCellError as error:
            self.add("wholecell", path, "reachable", "problem", f"not reachable: {error.message}")
            return True
        if self.fixtures is not None:
            self.fixtures.save("wholecell", path, body)
        try:
            items, _, pages = contract.page_items(body)
        except ValueError:
            self.add(
                "wholecell",
                path,
                "shape",
                "problem",
                "the answer is not the list envelope {data, page, pages}",
            )
            return True
        self.add(
            "wholecell",
            path,
            "reachable",
            "ok",
            f"reachable, auth accepted ({kind} endpoint, {seconds:.2f} s)",
        )
        if not isinstance(body, dict) or contract.ENVELOPE_PAGES not in body:
            self.add(
                "wholecell",
                path,
                "paging",
                "problem",
                f"no '{contract.ENVELOPE_PAGES}' in the envelope: bmsync cannot tell where the list ends",
            )
        self.shape("wholecell", path, WHOLECELL_MODELS[path], items)
        self.timing(path, seconds, max(pages, 1))
        for name in endpoint.filters:
            self.wholecell_filter(path, name, len(items))
        return True

    def shape(self, side: Side, path: str, model: type[BaseModel], items: list[Any]) -> None:
        if not items:
            self.add(side, path, "shape", "note", "empty: its shape cannot be checked")
            return
        problems = shape_findings(model, items, f"{path} data")
        for problem in problems:
            extra = problem.startswith("extra: ")
            self.add(side, path, "shape", "note" if extra else "problem", problem.removeprefix("extra: "))
        if not [problem for problem in problems if not problem.startswith("extra: ")]:
            self.add(side, path, "shape", "ok", f"{len(items)} items read as {model.__name__}")

    def timing(self, path: str, seconds: float, pages: int) -> None:
        for function in WHOLECELL_READERS[path]:
            timeout = by_name(function).timeout_seconds
            needed = max(seconds, self.interval) * pages
            level: Level = "problem" if needed >= timeout else "ok"
            self.add(
                "wholecell",
                path,
                "timing",
                level,
                f"{pages} page(s) × {max(seconds, self.interval):.2f} s = {needed:.1f} s to read it all, "
                f"{function}'s timeout is {timeout} s",
            )

    def wholecell_filter(self, path: str, name: str, without: int) -> None:
        value: Any = NO_SUCH_VALUE
        if name.endswith("_gt"):
            value = contract.timestamp_param(self.clock.now() + timedelta(days=1))
        if without == 0:
            self.add(
                "wholecell", path, f"filter {name}", "note", f"filter '{name}' not checked: the list is empty"
            )
            return
        try:
            body, _ = self.wholecell_read(path, {name: value})
            items, _, _ = contract.page_items(body)
        except (WholeCellError, ValueError) as error:
            self.add("wholecell", path, f"filter {name}", "problem", f"filter '{name}' refused: {error}")
            return
        if items and len(items) >= without:
            self.add(
                "wholecell",
                path,
                f"filter {name}",
                "problem",
                f"filter '{name}' ignored: {len(items)} items with a value nothing matches, "
                f"{without} without it",
            )
        elif items:
            # The filter cut the list, yet some items came back: odd records, not an ignored filter.
            ids = ", ".join(str(item.get("id")) for item in items[:5] if isinstance(item, dict))
            self.add(
                "wholecell",
                path,
                f"filter {name}",
                "note",
                f"filter '{name}' honoured, but {len(items)} of {without} items came back with a value "
                f"nothing matches (ids {ids}): look at them in WholeCell",
            )
        else:
            self.add("wholecell", path, f"filter {name}", "ok", f"filter '{name}' honoured")

    def order_lookup(self) -> None:
        """Whether the field bmsync finds an order by (its Back Market number) round-trips."""
        path = contract.SALES_ORDERS
        field = contract.wire_name("SalesOrder", "external_id")
        try:
            body, _ = self.wholecell_read(path, {"channel": contract.BACKMARKET_CHANNEL})
            items, _, _ = contract.page_items(body)
        except (WholeCellError, ValueError):
            return  # already reported with the list
        ours = [
            item
            for item in items
            if isinstance(item, dict) and item.get("channel") == contract.BACKMARKET_CHANNEL
        ]
        if not ours:
            self.add(
                "wholecell",
                path,
                "order lookup",
                "note",
                f"no order on the '{contract.BACKMARKET_CHANNEL}' channel: finding an order by its Back "
                "Market number is not confirmed",
            )
            return
        numbered = [item for item in ours if item.get(field)]
        if not numbered:
            self.add(
                "wholecell",
                path,
                "order lookup",
                "problem",
                f"orders on the '{contract.BACKMARKET_CHANNEL}' channel have no '{field}': bmsync "
                "cannot find an order by its Back Market number",
            )
            return
        sample = numbered[0]
        try:
            found = self.wholecell.find_sales_order_by_external_id(str(sample[field]))
        except IntegrationError as error:
            self.add(
                "wholecell",
                path,
                "order lookup",
                "problem",
                f"looking order {sample.get('id')} up failed: {error}",
            )
            return
        if found is None or found.id != sample.get("id"):
            self.add(
                "wholecell",
                path,
                "order lookup",
                "problem",
                f"order {sample.get('id')} was not found again by its '{field}' {sample[field]!r}",
            )
        else:
            self.add(
                "wholecell",
                path,
                "order lookup",
                "ok",
                f"order {sample.get('id')} found again by its Back Market number ('{field}')",
            )

    # --- Back Market

    def backmarket_side(self) -> None:
        try:
            first = self.backmarket_read("/ws/listings", {"page": 1, "page-size": 1})
        except (BackMarketUnauthorized, BackMarketForbidden) as error:
            self.add("backmarket", "/ws/listings", "auth", "problem", f"token refused: {error.message}")
            return
        except Blocked as error:
            self.add(
                "backmarket",
                "/ws/listings",
                "user agent",
                "problem",
                f"firewall page instead of an answer: {error.message}",
            )
            return
        except BackMarketError as error:
            self.add("backmarket", "/ws/listings", "reachable", "problem", f"not reachable: {error.message}")
            return
        self.add("backmarket", "/ws/listings", "auth", "ok", "reachable, token and User-Agent accepted")
        if not isinstance(first, dict) or "count" not in first or "next" not in first:
            self.add(
                "backmarket",
                "/ws/listings",
                "paging",
                "problem",
                "no 'count' or 'next' in the list: bmsync cannot page it",
            )
        self.every_item("/ws/listings", {}, bm_models.Listing)
        date_format = self.date_formats()
        since = self.clock.now() - ORDERS_WINDOW
        # In a format Back Market accepts, as the client does (it falls back from one to the other).
        self.every_item(
            "/ws/orders",
            {"date_modification": format_filter_date(since, date_format)} if date_format else {},
            bm_models.Order,
        )
        try:
            counts = self.backmarket.listing_counts()
        except BackMarketError as error:
            self.add(
                "backmarket", "/ws/listings", "counts", "problem", f"listing counts failed: {error.message}"
            )
            return
        self.add(
            "backmarket",
            "/ws/listings",
            "counts",
            "ok",
            f"{counts.all} listings: {counts.online} online, {counts.offline_sold_out} offline and sold out",
        )

    def backmarket_read(self, path: str, params: dict[str, Any]) -> Any:
        body = self.backmarket.read_json(path, params)
        if self.fixtures is not None and params.get("page", 1) == 1:
            self.fixtures.save("backmarket", path, body)
        return body

    def every_item(self, path: str, params: dict[str, Any], model: type[BaseModel]) -> None:
        read = unreadable = 0
        samples: list[str] = []
        for page in self.backmarket_pages(path, params):
            for index, item in enumerate(page):
                read += 1
                try:
                    model.model_validate(item)
                except ValidationError as error:
                    unreadable += 1
                    if len(samples) < 3:
                        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in error.errors())
                        samples.append(f"results[{index}] ({fields})")
        if unreadable:
            self.add(
                "backmarket",
                path,
                "shape",
                "problem",
                f"{unreadable} of {read} items bmsync cannot read as {model.__name__}: {'; '.join(samples)}",
            )
        else:
            self.add("backmarket", path, "shape", "ok", f"{read} items read as {model.__name__}, every page")

    def backmarket_pages(self, path: str, params: dict[str, Any]) -> Iterator[list[Any]]:
        for page in range(1, self.max_backmarket_pages + 1):
            try:
                body = self.backmarket_read(path, {**params, "page": page, "page-size": 50})
            except BackMarketError as error:
                self.add("backmarket", path, "reachable", "problem", f"page {page} failed: {error.message}")
                return
            results = body.get("results") if isinstance(body, dict) else None
            if not isinstance(results, list):
                self.add("backmarket", path, "paging", "problem", f"page {page} has no 'results' list")
                return
            yield results
            if not results or not body.get("next"):
                return

    def date_formats(self) -> str | None:
        """Which date filter formats Back Market accepts; returns the first accepted (None: neither)."""
        since = self.clock.now() - timedelta(days=1)
        accepted: list[str] = []
        formats: list[str] = []
        for date_format, words in (
            (DATE_FORMAT_RFC3339, "RFC 3339"),
            (DATE_FORMAT_PLAIN, "YYYY-MM-DD HH:MM:SS"),
        ):
            params = {"date_modification": format_filter_date(since, date_format), "page": 1, "page-size": 1}
            try:
                self.backmarket.read_json("/ws/orders", params)
            except InvalidRequest:
                self.add(
                    "backmarket", "/ws/orders", "date filter", "note", f"the {words} date filter is refused"
                )
                continue
            except BackMarketError as error:
                self.add(
                    "backmarket",
                    "/ws/orders",
                    "date filter",
                    "problem",
                    f"orders not reachable: {error.message}",
                )
                return None
            accepted.append(words)
            formats.append(date_format)
        if accepted:
            self.add(
                "backmarket",
                "/ws/orders",
                "date filter",
                "ok",
                f"date filter accepted as {' and '.join(accepted)}",
            )
        else:
            self.add(
                "backmarket", "/ws/orders", "date filter", "problem", "neither date filter format is accepted"
            )
        return formats[0] if formats else None


def probe(
    *,
    wholecell: Any,
    backmarket: Any,
    clock: Clock,
    fixtures: FixtureWriter | None = None,
    timer: Callable[[], float] = time.perf_counter,
    wholecell_requests_per_second: float = 2.0,
    max_backmarket_pages: int = MAX_BACKMARKET_PAGES,
) -> ProbeReport:
    """Check the contract on both sides, read-only (``wholecell``: a ``WholeCellClient``; ``backmarket``:
    a ``BackMarketClient``). ``timer`` measures latency in real time, whatever ``clock`` says;
    ``max_backmarket_pages`` bounds how many pages of listings and of orders are parsed."""
    run = _Probe(
        wholecell=wholecell,
        backmarket=backmarket,
        clock=clock,
        fixtures=fixtures,
        timer=timer,
        requests_per_second=wholecell_requests_per_second,
        max_backmarket_pages=max_backmarket_pages,
    )
    run.wholecell_side()
    run.backmarket_side()
    return ProbeReport(findings=run.findings)

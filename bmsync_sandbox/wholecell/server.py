"""The WholeCell sandbox: a small WholeCell account served over HTTP on 127.0.0.1, with faults.

``WholeCellSandbox`` serves the API under ``/api/v1`` (HTTP Basic of the App ID and Secret) and a
control API under ``/_sandbox/`` (see README.md) that its Python methods mirror, for tests and the demo.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import socket
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bmsync.clock import Clock, SystemClock, parse_iso
from bmsync_sandbox.wholecell import contract
from bmsync_sandbox.wholecell.account import SandboxNotFound, SandboxValidationError, WholeCellAccount
from bmsync_sandbox.wholecell.demo import seed_catalogue, seed_setup, seed_stock

#: The sales-order fields bmsync relies on that no public source confirms (``set_unknown_order_fields``).
UNKNOWABLE_ORDER_FIELDS = ("external_id", "notes")


@dataclass
class Faults:
    """What goes wrong, for API requests matching ``path_prefix`` (API path) and ``method``.

    Counters apply to the next N matching requests, in this order: ``rate_limits`` (429, nothing done),
    ``server_errors`` (500, nothing done), ``non_json`` (200 with an HTML page, nothing done),
    ``timeouts`` (the request IS done, then the answer is held ``timeout_seconds``: the worst case for
    a create). ``slow_seconds`` delays every matching request until reset.
    """

    rate_limits: int = 0
    server_errors: int = 0
    non_json: int = 0
    timeouts: int = 0
    timeout_seconds: float = 2.0
    slow_seconds: float = 0.0
    path_prefix: str | None = None
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and (
            self.path_prefix is None or path.startswith(self.path_prefix)
        )


@dataclass
class ContractDrift:
    """How this account's API differs from the contract bmsync infers (``PUT /_sandbox/config``).

    ``absent_endpoints``: API paths (``/product_variations``) answered 404 as a missing route would,
    with their sub-paths. ``renamed_fields``: per list path, top-level fields of each item served under
    another name (``{"/inventories": {"updated_at": "modified_at"}}``; also on ``/sales_orders/{id}``).
    ``ignored_filters``: per list path, query filters the account ignores (it then returns everything).
    """

    absent_endpoints: list[str] = field(default_factory=list)
    renamed_fields: dict[str, dict[str, str]] = field(default_factory=dict)
    ignored_filters: dict[str, list[str]] = field(default_factory=dict)

    def absent(self, path: str) -> bool:
        return any(path == gone or path.startswith(gone + "/") for gone in self.absent_endpoints)

    def list_path(self, path: str) -> str:
        """The list a path belongs to: ``/sales_orders/7`` belongs to ``/sales_orders``."""
        return "/" + path.strip("/").split("/")[0]


class HttpProblem(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


Route = tuple[str, re.Pattern[str], Callable[..., tuple[int, Any]]]


class WholeCellSandbox:
    def __init__(
        self,
        *,
        clock: Clock | None = None,
        app_id: str = "sandbox-app",
        app_secret: str = "sandbox-secret",  # noqa: S107 (the sandbox's own fake secret)
        demo: bool = True,
        catalogue: bool = True,
        sku_uniqueness: bool = False,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.account = WholeCellAccount(clock=self.clock, sku_uniqueness=sku_uniqueness)
        self.app_id = app_id
        self.app_secret = app_secret
        seed_setup(self.account)
        if catalogue or demo:
            seed_catalogue(self.account)
        if demo:
            seed_stock(self.account)
        self._faults = Faults()
        self._drift = ContractDrift()
        self._raw_items: dict[str, list[dict[str, Any]]] = {}
        #: Sales-order fields the API behaves as not knowing (``set_unknown_order_fields``).
        self._unknown_order_fields: frozenset[str] = frozenset()
        self._calls: list[dict[str, Any]] = []
        self._state_lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""
        self._api_routes: list[Route] = [
            ("GET", re.compile(contract.INVENTORIES), self._get_inventories),
            ("GET", re.compile(contract.STOCK_LEVELS), self._get_stock_levels),
            ("GET", re.compile(contract.PRODUCT_VARIATIONS), self._get_variations),
            ("GET", re.compile(contract.SALES_ORDER_STATUSES), self._get_statuses),
            ("GET", re.compile(contract.CUSTOMERS), self._get_customers),
            ("POST", re.compile(contract.CUSTOMERS), self._post_customer),
            ("GET", re.compile(contract.SALES_ORDERS), self._get_orders),
            ("POST", re.compile(contract.SALES_ORDERS), self._post_order),
            ("GET", re.compile(contract.SALES_ORDERS + r"/(\d+)"), self._get_order),
            ("PATCH", re.compile(contract.SALES_ORDERS + r"/(\d+)"), self._patch_order),
        ]
        self._control_routes: list[Route] = [
            ("POST", re.compile(r"/units"), self._control_receive),
            ("POST", re.compile(r"/units/(\d+)/status"), self._control_unit_status),
            ("POST", re.compile(r"/units/(\d+)/move"), self._control_move),
            ("POST", re.compile(r"/units/(\d+)/release"), self._control_release),
            ("POST", re.compile(r"/orders"), self._control_create_order),
            ("POST", re.compile(r"/orders/(\d+)/commit"), self._control_commit),
            ("POST", re.compile(r"/orders/(\d+)/shipments"), self._control_shipment),
            ("POST", re.compile(r"/orders/(\d+)/status"), self._control_order_status),
            ("GET", re.compile(r"/orders/(\d+)"), self._control_order),
            ("GET", re.compile(r"/variations"), self._control_variations),
            ("POST", re.compile(r"/variations"), self._control_add_variation),
            ("POST", re.compile(r"/sku_uniqueness"), self._control_sku_uniqueness),
            ("POST", re.compile(r"/order_statuses"), self._control_add_status),
            ("GET", re.compile(r"/calculated_quantity"), self._control_calculated),
            ("GET", re.compile(r"/faults"), lambda query, body: (200, asdict(self.faults()))),
            ("POST", re.compile(r"/faults"), lambda query, body: (200, asdict(self.set_faults(**body)))),
            ("DELETE", re.compile(r"/faults"), lambda query, body: (200, asdict(self.clear_faults()))),
            ("GET", re.compile(r"/calls"), lambda query, body: (200, {"data": self.calls()})),
            ("DELETE", re.compile(r"/calls"), lambda query, body: (200, {"cleared": self.clear_calls()})),
            ("POST", re.compile(r"/credentials"), self._control_credentials),
            ("GET", re.compile(r"/config"), lambda query, body: (200, asdict(self.contract_drift()))),
            ("PUT", re.compile(r"/config"), self._control_config),
            ("POST", re.compile(r"/raw_items"), self._control_add_raw_item),
            (
                "DELETE",
                re.compile(r"/raw_items"),
                lambda query, body: (200, {"cleared": self.clear_raw_items()}),
            ),
            ("POST", re.compile(r"/unknown_order_fields"), self._control_unknown_order_fields),
        ]

    # --- life cycle

    def start(self, port: int = 0) -> str:
        sandbox = self

        class Handler(_Handler):
            owner = sandbox

        self._stopping.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="wholecell-sandbox",
            daemon=True,
        )
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}{contract.API_PREFIX}"
        return self.base_url

    def stop(self) -> None:
        self._stopping.set()  # releases requests held by a timeout or slowness fault
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> WholeCellSandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def control_url(self) -> str:
        return self.base_url.removesuffix(contract.API_PREFIX) + contract.CONTROL_PREFIX

    # --- control methods (mirrored by /_sandbox/)

    def receive_units(
        self,
        sku_or_variation_id: str | int,
        count: int,
        status: str = "Available",
        warehouse: str | None = None,
        location: str | None = None,
        price_paid: int = 0,
        esns: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """``esns``: each unit's serial number or IMEI, in order (default: made-up IMEI-like numbers)."""
        with self.account.lock:
            units = self.account.receive_units(
                sku_or_variation_id,
                count,
                status=status,
                warehouse=warehouse,
                location=location,
                price_paid=price_paid,
                esns=esns,
            )
            return [contract.unit_json(self.account, unit) for unit in units]

    def set_unit_status(self, unit_id: int, status: str) -> dict[str, Any]:
        with self.account.lock:
            return contract.unit_json(self.account, self.account.set_unit_status(unit_id, status))

    def move_unit(
        self, unit_id: int, *, warehouse: str | None = None, location: str | None = None
    ) -> dict[str, Any]:
        with self.account.lock:
            unit = self.account.move_unit(unit_id, warehouse=warehouse, location=location)
            return contract.unit_json(self.account, unit)

    def commit_unit(self, order_id: int, unit_id: int, sale_price: int | None = None) -> dict[str, Any]:
        with self.account.lock:
            return contract.unit_json(self.account, self.account.commit_unit(order_id, unit_id, sale_price))

    def release_unit(self, unit_id: int) -> dict[str, Any]:
        with self.account.lock:
            return contract.unit_json(self.account, self.account.release_unit(unit_id))

    def unit(self, unit_id: int) -> dict[str, Any]:
        with self.account.lock:
            return contract.unit_json(self.account, self.account.unit(unit_id))

    def add_shipment(
        self, order_id: int, carrier: str, tracking_number: str, tracking_url: str | None = None
    ) -> dict[str, Any]:
        with self.account.lock:
            shipment = self.account.add_shipment(order_id, carrier, tracking_number, tracking_url)
            return contract.shipment_json(shipment)

    def create_sales_order(
        self,
        *,
        order_items: list[dict[str, Any]],
        channel: str = "Amazon",
        status: str = "Pending",
        customer_name: str = "Walk-in Customer",
        external_id: str | None = None,
        shipping_address: dict[str, Any] | None = None,
        notes: str | None = None,
        created_at: datetime | None = None,
    ) -> dict[str, Any]:
        """An order on any channel, as a person or another marketplace integration would create it."""
        with self.account.lock:
            customer = self.account.find_or_create_customer(customer_name)
            order = self.account.create_sales_order(
                customer_id=customer.id,
                status=status,
                channel=channel,
                order_items=order_items,
                external_id=external_id,
                shipping_address=shipping_address,
                notes=notes,
                created_at=created_at,
            )
            return contract.order_json(self.account, order)

    def set_order_status(self, order_id: int, status: str) -> dict[str, Any]:
        with self.account.lock:
            return contract.order_json(self.account, self.account.set_order_status(order_id, status))

    def order(self, order_id: int) -> dict[str, Any]:
        with self.account.lock:
            return contract.order_json(self.account, self.account.order(order_id))

    def orders(self, *, channel: str | None = None) -> list[dict[str, Any]]:
        with self.account.lock:
            filters = {"channel": channel} if channel is not None else {}
            return [contract.order_json(self.account, order) for order in self.account.list_orders(filters)]

    def variations(self) -> list[dict[str, Any]]:
        with self.account.lock:
            return [contract.variation_json(self.account, v) for v in self.account.list_variations(None)]

    def add_variation(
        self,
        *,
        sku: str | None,
        grade: str,
        manufacturer: str = "APPLE",
        model: str = "Unknown",
        capacity: str = "Unknown",
        color: str = "Unknown",
    ) -> dict[str, Any]:
        with self.account.lock:
            product = self.account.add_product(
                manufacturer=manufacturer, model=model, capacity=capacity, color=color
            )
            variation = self.account.add_variation(product.id, grade=grade, sku=sku)
            return contract.variation_json(self.account, variation)

    def set_unknown_order_fields(self, fields: list[str]) -> list[str]:
        """The API behaves as if it did not know these sales-order fields (as if the real API named
        them otherwise): creates drop them, reads answer them as null. Empty: every field known."""
        unknown = set(fields) - set(UNKNOWABLE_ORDER_FIELDS)
        if unknown:
            raise ValueError(f"only {', '.join(UNKNOWABLE_ORDER_FIELDS)} can be made unknown, not {unknown}")
        with self._state_lock:
            self._unknown_order_fields = frozenset(fields)
        return sorted(self._unknown_order_fields)

    def _api_order_json(self, order: Any) -> dict[str, Any]:
        body = contract.order_json(self.account, order)
        for name in self._unknown_order_fields:
            body[name] = None
        return body

    def set_sku_uniqueness(self, enabled: bool) -> None:
        self.account.set_sku_uniqueness(enabled)

    def add_order_status(
        self, title: str, *, is_open: bool, allow_commitment: bool, sync_to_shipstation: bool = False
    ) -> dict[str, Any]:
        status = self.account.add_order_status(
            title, is_open=is_open, allow_commitment=allow_commitment, sync_to_shipstation=sync_to_shipstation
        )
        return asdict(status)

    def calculated_quantity(
        self,
        variation_id: int,
        statuses: Iterable[str] = ("Available",),
        warehouses: Iterable[str] | None = None,
    ) -> int:
        """WholeCell's truth by its own rules, to compare bmsync's mirror with."""
        return self.account.calculated_quantity(variation_id, statuses, warehouses)

    def set_credentials(self, app_id: str, app_secret: str) -> None:
        with self._state_lock:
            self.app_id = app_id
            self.app_secret = app_secret

    def set_faults(self, **changes: Any) -> Faults:
        known = {f.name for f in fields(Faults)}
        unknown = set(changes) - known
        if unknown:
            raise SandboxValidationError({name: ["is not a fault setting"] for name in sorted(unknown)})
        with self._state_lock:
            for name, value in changes.items():
                setattr(self._faults, name, value)
            return Faults(**asdict(self._faults))

    def clear_faults(self) -> Faults:
        with self._state_lock:
            self._faults = Faults()
            return Faults()

    def faults(self) -> Faults:
        with self._state_lock:
            return Faults(**asdict(self._faults))

    def calls(self) -> list[dict[str, Any]]:
        with self._state_lock:
            return [dict(call) for call in self._calls]

    def call_count(self) -> int:
        """How many API calls the log holds (``len(calls())`` without copying it)."""
        with self._state_lock:
            return len(self._calls)

    def clear_calls(self) -> int:
        with self._state_lock:
            count = len(self._calls)
            self._calls.clear()
            return count

    def set_contract_drift(
        self,
        *,
        absent_endpoints: Iterable[str] = (),
        renamed_fields: dict[str, dict[str, str]] | None = None,
        ignored_filters: dict[str, list[str]] | None = None,
    ) -> ContractDrift:
        """Make this account's API differ from the contract (replaces the previous drift; none = none)."""
        drift = ContractDrift(
            absent_endpoints=[str(path) for path in absent_endpoints],
            renamed_fields={
                str(k): {str(a): str(b) for a, b in v.items()} for k, v in (renamed_fields or {}).items()
            },
            ignored_filters={str(k): [str(name) for name in v] for k, v in (ignored_filters or {}).items()},
        )
        with self._state_lock:
            self._drift = drift
        return ContractDrift(**asdict(drift))

    def contract_drift(self) -> ContractDrift:
        with self._state_lock:
            return ContractDrift(**asdict(self._drift))

    def add_raw_item(self, endpoint: str, item: dict[str, Any]) -> None:
        """Serve ``item`` as it is, on the last page of the list ``endpoint``, whatever the filters: a
        record the account holds in a shape bmsync may not read (a null warehouse name...)."""
        with self._state_lock:
            self._raw_items.setdefault(endpoint, []).append(dict(item))

    def clear_raw_items(self) -> int:
        with self._state_lock:
            count = sum(len(items) for items in self._raw_items.values())
            self._raw_items.clear()
            return count

    # --- request handling (called by the HTTP handler's threads)

    def handle(
        self, method: str, raw_path: str, headers: Any, raw_body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        split = urlsplit(raw_path)
        query = parse_qs(split.query, keep_blank_values=True)
        path = split.path.rstrip("/") or "/"
        if path.startswith(contract.CONTROL_PREFIX):
            status, body = self._dispatch(
                self._control_routes, method, path[len(contract.CONTROL_PREFIX) :], query, raw_body
            )
            return status, body, {}
        if not path.startswith(contract.API_PREFIX):
            return 404, contract.error_body("Not found"), {}
        api_path = path[len(contract.API_PREFIX) :]
        fault, hold = self._take_fault(method, api_path)
        if fault == "rate_limit":
            result: tuple[int, Any, dict[str, str]] = (
                429,
                contract.error_body("Too many requests"),
                {"Retry-After": "1"},
            )
        elif fault == "server_error":
            result = (500, contract.error_body("Internal server error"), {})
        elif fault == "non_json":
            result = (200, "<html><body><h1>We'll be right back</h1></body></html>", {})
        elif not self._authorized(headers):
            result = (401, contract.error_body("Unauthorized"), {})
        else:
            status, body = self._drifted(method, api_path, query, raw_body)
            result = (status, body, {})
        # Logged when handled, before any hold: the log shows what the account did, not when it answered.
        self._log_call(method, api_path, query, result[0], fault)
        if hold > 0:
            # Network timeouts are real time, whatever clock the account runs on.
            self._stopping.wait(hold)
        return result

    def _drifted(
        self, method: str, api_path: str, query: dict[str, list[str]], raw_body: bytes
    ) -> tuple[int, Any]:
        """The API's answer under the contract drift: absent paths, ignored filters, raw items, renames."""
        drift = self.contract_drift()
        if drift.absent(api_path):
            return 404, contract.error_body("Not found")
        list_path = drift.list_path(api_path)
        ignored = set(drift.ignored_filters.get(api_path, ()))
        honoured = {name: values for name, values in query.items() if name not in ignored}
        status, body = self._dispatch(self._api_routes, method, api_path, honoured, raw_body)
        if status not in (200, 201) or not isinstance(body, dict):
            return status, body
        listed = isinstance(body.get("data"), list) and "pages" in body
        with self._state_lock:
            raw = [dict(item) for item in self._raw_items.get(api_path, ())] if listed else []
        if raw and body["page"] >= body["pages"]:
            body["data"] = [*body["data"], *raw]
        renames = drift.renamed_fields.get(list_path)
        if renames:
            items = body["data"] if listed else [body]
            for item in items:
                for old, new in renames.items():
                    if isinstance(item, dict) and old in item:
                        item[new] = item.pop(old)
        return status, body

    def _take_fault(self, method: str, path: str) -> tuple[str | None, float]:
        with self._state_lock:
            faults = self._faults
            if not faults.matches(method, path):
                return None, 0.0
            hold = faults.slow_seconds
            for name, label in (
                ("rate_limits", "rate_limit"),
                ("server_errors", "server_error"),
                ("non_json", "non_json"),
                ("timeouts", "timeout"),
            ):
                if getattr(faults, name) > 0:
                    setattr(faults, name, getattr(faults, name) - 1)
                    if label == "timeout":
                        hold += faults.timeout_seconds
                    return label, hold
            return None, hold

    def _authorized(self, headers: Any) -> bool:
        with self._state_lock:
            app_id, app_secret = self.app_id, self.app_secret
        authorization = headers.get("Authorization") or ""
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        header_app_id = headers.get(contract.APP_ID_HEADER)
        if header_app_id is not None and header_app_id != app_id:
            return False
        return hmac.compare_digest(decoded.encode(), f"{app_id}:{app_secret}".encode())

    def _log_call(
        self, method: str, path: str, query: dict[str, list[str]], status: int, fault: str | None
    ) -> None:
        with self._state_lock:
            self._calls.append(
                {
                    "method": method,
                    "path": path,
                    "query": query,
                    "status": status,
                    "fault": fault,
                    "at": contract.wire_time(self.clock.now()),
                }
            )

    def _dispatch(
        self, routes: list[Route], method: str, path: str, query: dict[str, list[str]], raw_body: bytes
    ) -> tuple[int, Any]:
        matched_path = False
        for route_method, pattern, action in routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            matched_path = True
            if route_method != method:
                continue
            try:
                body = json.loads(raw_body) if raw_body.strip() else {}
            except ValueError:
                return 400, contract.error_body("the body is not JSON")
            try:
                with self.account.lock:
                    return action(query, body, *(int(group) for group in match.groups()))
            except SandboxValidationError as error:
                return 422, contract.validation_body(error.fields)
            except SandboxNotFound:
                return 404, contract.error_body("Not found")
            except HttpProblem as problem:
                return problem.status, problem.body
            except (TypeError, ValueError, AttributeError, KeyError) as error:
                return 400, contract.error_body(f"bad request: {error!r}")
        if matched_path:
            return 405, contract.error_body(f"{method} is not allowed here")
        return 404, contract.error_body("Not found")

    # --- the API

    @staticmethod
    def _filters(query: dict[str, list[str]], names: Iterable[str]) -> dict[str, str]:
        return {name: query[name][0] for name in names if name in query}

    @staticmethod
    def _page(query: dict[str, list[str]]) -> int:
        try:
            return max(1, int(query.get("page", ["1"])[0]))
        except ValueError:
            return 1

    def _get_inventories(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        units = self.account.list_units(self._filters(query, contract.INVENTORY_FILTERS))
        return 200, contract.envelope(
            units, self._page(query), lambda unit: contract.unit_json(self.account, unit)
        )

    def _get_stock_levels(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        statuses = query.get(contract.STOCK_LEVEL_STATUSES_PARAM)
        return 200, contract.envelope(self.account.stock_levels(statuses), self._page(query))

    def _get_variations(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        sku = self._filters(query, contract.VARIATION_FILTERS).get("sku")
        items = [contract.variation_json(self.account, v) for v in self.account.list_variations(sku)]
        return 200, contract.envelope(items, self._page(query))

    def _get_statuses(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        items = [asdict(status) for status in self.account.order_statuses.values()]
        return 200, contract.envelope(items, self._page(query))

    def _get_customers(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        name = self._filters(query, contract.CUSTOMER_FILTERS).get("name")
        items = [contract.customer_json(c) for c in self.account.list_customers(name)]
        return 200, contract.envelope(items, self._page(query))

    def _post_customer(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        return 201, contract.customer_json(self.account.create_customer(_object(body).get("name")))

    def _get_orders(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        orders = self.account.list_orders(self._filters(query, contract.SALES_ORDER_FILTERS))
        items = [self._api_order_json(order) for order in orders]
        return 200, contract.envelope(items, self._page(query))

    def _post_order(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        create_fields = contract.sales_order_create_fields(_object(body))
        for name in self._unknown_order_fields:
            create_fields[name] = None  # an unknown field in a body is ignored, as the real API does
        order = self.account.create_sales_order(**create_fields)
        return 201, self._api_order_json(order)

    def _get_order(self, query: dict[str, list[str]], body: Any, order_id: int) -> tuple[int, Any]:
        return 200, self._api_order_json(self.account.order(order_id))

    def _patch_order(self, query: dict[str, list[str]], body: Any, order_id: int) -> tuple[int, Any]:
        self.account.order(order_id)  # 404 before 422
        status = _object(body).get("status")
        return 200, self._api_order_json(self.account.set_order_status(order_id, status))

    # --- the control API (/_sandbox/), mirroring the Python methods

    def _control_receive(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        body = _object(body)
        target = body.get("variation_id", body.get("sku"))
        units = self.receive_units(
            target,
            body.get("count", 1),
            status=body.get("status", "Available"),
            warehouse=body.get("warehouse"),
            location=body.get("location"),
            price_paid=body.get("price_paid", 0),
            esns=_esns(body.get("esns")),
        )
        return 201, {"data": units}

    def _control_unit_status(self, query: dict[str, list[str]], body: Any, unit_id: int) -> tuple[int, Any]:
        status: Any = _object(body).get("status")
        return 200, self.set_unit_status(unit_id, status)

    def _control_move(self, query: dict[str, list[str]], body: Any, unit_id: int) -> tuple[int, Any]:
        body = _object(body)
        return 200, self.move_unit(unit_id, warehouse=body.get("warehouse"), location=body.get("location"))

    def _control_release(self, query: dict[str, list[str]], body: Any, unit_id: int) -> tuple[int, Any]:
        return 200, self.release_unit(unit_id)

    def _control_create_order(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        body = _object(body)
        created_at = body.get("created_at")
        order = self.create_sales_order(
            order_items=body.get("order_items"),
            channel=body.get("channel", "Amazon"),
            status=body.get("status", "Pending"),
            customer_name=body.get("customer_name", "Walk-in Customer"),
            external_id=body.get("external_id"),
            shipping_address=body.get("shipping_address"),
            notes=body.get("notes"),
            created_at=parse_iso(created_at) if created_at else None,
        )
        return 201, order

    def _control_commit(self, query: dict[str, list[str]], body: Any, order_id: int) -> tuple[int, Any]:
        body = _object(body)
        return 200, self.commit_unit(order_id, body.get("unit_id"), body.get("sale_price"))

    def _control_shipment(self, query: dict[str, list[str]], body: Any, order_id: int) -> tuple[int, Any]:
        body = _object(body)
        shipment = self.add_shipment(
            order_id, body.get("carrier", ""), body.get("tracking_number", ""), body.get("tracking_url")
        )
        return 201, shipment

    def _control_order_status(self, query: dict[str, list[str]], body: Any, order_id: int) -> tuple[int, Any]:
        status: Any = _object(body).get("status")
        return 200, self.set_order_status(order_id, status)

    def _control_order(self, query: dict[str, list[str]], body: Any, order_id: int) -> tuple[int, Any]:
        return 200, self.order(order_id)

    def _control_variations(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        return 200, {"data": self.variations()}

    def _control_add_variation(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        body = _object(body)
        variation = self.add_variation(
            sku=body.get("sku"),
            grade=body.get("grade", "A"),
            manufacturer=body.get("manufacturer", "APPLE"),
            model=body.get("model", "Unknown"),
            capacity=body.get("capacity", "Unknown"),
            color=body.get("color", "Unknown"),
        )
        return 201, variation

    def _control_unknown_order_fields(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        names = _object(body).get("fields") or []
        if not isinstance(names, list):
            return 422, contract.validation_body({"fields": ["must be a list"]})
        try:
            return 200, {"fields": self.set_unknown_order_fields([str(name) for name in names])}
        except ValueError as error:
            return 422, contract.validation_body({"fields": [str(error)]})

    def _control_sku_uniqueness(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        enabled = bool(_object(body).get("enabled"))
        self.set_sku_uniqueness(enabled)
        return 200, {"enabled": enabled}

    def _control_add_status(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        body = _object(body)
        status = self.add_order_status(
            str(body.get("title", "")),
            is_open=bool(body.get("is_open")),
            allow_commitment=bool(body.get("allow_commitment")),
            sync_to_shipstation=bool(body.get("sync_to_shipstation")),
        )
        return 201, status

    def _control_calculated(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        variation_id = int(query["variation_id"][0])
        statuses = query.get("statuses") or ["Available"]
        warehouses = query.get("warehouses")
        account = self.account
        return 200, {
            "variation_id": variation_id,
            "available": account.available(variation_id, statuses, warehouses),
            "outstanding": account.outstanding(variation_id),
            "calculated": account.calculated_quantity(variation_id, statuses, warehouses),
        }

    def _control_config(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        body = _object(body)
        unknown = set(body) - {f.name for f in fields(ContractDrift)}
        if unknown:
            raise SandboxValidationError({name: ["is not a config setting"] for name in sorted(unknown)})
        drift = self.set_contract_drift(
            absent_endpoints=body.get("absent_endpoints") or (),
            renamed_fields=body.get("renamed_fields"),
            ignored_filters=body.get("ignored_filters"),
        )
        return 200, asdict(drift)

    def _control_add_raw_item(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        body = _object(body)
        item = body.get("item")
        if not isinstance(item, dict):
            raise SandboxValidationError({"item": ["must be a JSON object"]})
        self.add_raw_item(str(body.get("endpoint") or contract.INVENTORIES), item)
        return 201, {"endpoint": body.get("endpoint") or contract.INVENTORIES, "item": item}

    def _control_credentials(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        body = _object(body)
        self.set_credentials(str(body["app_id"]), str(body["app_secret"]))
        return 200, {"app_id": self.app_id}


def _esns(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise SandboxValidationError({"esns": ["must be a list of serial numbers or IMEIs, one per unit"]})
    return value


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise HttpProblem(400, contract.error_body("the body must be a JSON object"))
    return body


class _Handler(BaseHTTPRequestHandler):
    owner: WholeCellSandbox
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without NODELAY each answer waits ~40 ms on
        # the client's delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        try:
            status, body, extra_headers = self.owner.handle(self.command, self.path, self.headers, raw_body)
        except Exception as error:  # a sandbox bug must still answer, or the client would hang
            status, body, extra_headers = 500, contract.error_body(f"sandbox error: {error!r}"), {}
        if isinstance(body, str):
            payload, content_type = body.encode(), "text/html; charset=utf-8"
        else:
            payload, content_type = json.dumps(body).encode(), "application/json; charset=utf-8"
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in extra_headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout fault): nothing to answer

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the call log (``/_sandbox/calls``) records every API call."""


def serve_forever(port: int = 0, demo: bool = True) -> int:
    """``bmsync sandbox wholecell``: run until Ctrl-C."""
    sandbox = WholeCellSandbox(demo=demo)
    base_url = sandbox.start(port)
    print(f"WholeCell sandbox at {base_url} (App ID {sandbox.app_id!r}, App Secret {sandbox.app_secret!r})")
    print(f"control API at {sandbox.control_url}; Ctrl-C to stop", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0

"""A faithful emulator of Back Market's seller API on 127.0.0.1, with budgets and fault injection.

``/ws/...`` behaves like Back Market for everything bmsync uses; ``/_sandbox/...`` is the control API
for tests and the demo (documented in README.md beside this file). Time (budgets, task delays, order
dates) comes from the injected clock; only injected delays (slow responses, timeouts) use real time,
because they exist to trip the client's socket timeouts.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import secrets
import socket
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from bmsync.backmarket.states import OrderState
from bmsync.clock import Clock, SystemClock, utc_iso
from bmsync_sandbox.backmarket.account import Account, ApiError, Budgets, parse_filter_datetime

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 50
USER_AGENT_PATTERN = re.compile(r"^BM-[^;\s]+-[^;\s]+;[^@\s;]+@[^@\s;]+$")
FAULT_MODES = ("server_error", "timeout", "html_403", "html_429", "malformed_json", "slow")
#: ``refuse_date_format``: the order date filter format answered with 400 (None: both accepted).
DATE_FORMATS = ("rfc3339", "plain")
#: ``order_update_body``: what a successful ``POST /ws/orders/{id}`` answers with.
ORDER_UPDATE_BODIES: dict[str, Any] = {
    "order": None,  # the updated order, as the reference says
    "empty": b"",
    "status": {"statuscode": 200, "bodymessage": "Order updated"},
    "text": "OK",
}
CALL_LOG_SIZE = 20000

FIREWALL_PAGE = """<!DOCTYPE html>
<html><head><title>Attention Required! | Cloudflare</title></head>
<body><h1>Sorry, you have been blocked</h1>
<p>You are unable to access backmarket.fr</p><p>Cloudflare Ray ID: <strong>{ray}</strong></p></body></html>
"""
THROTTLE_PAGE = """<!DOCTYPE html>
<html><head><title>Too Many Requests | Cloudflare</title></head>
<body><h1>Error 1015</h1><p>You are being rate limited</p><p>Cloudflare Ray ID: <strong>{ray}</strong></p>
</body></html>
"""


@dataclass
class Fault:
    """One fault rule: ``mode`` on ``route`` (a route name such as ``POST /ws/orders/{order_id}``, or
    every ``/ws/`` route when None), for the next ``count`` matching calls or at ``rate`` (0..1).
    ``after``: process the request first, then fail the response (the change happened, the caller
    cannot tell). ``delay``: real seconds for ``slow`` and ``timeout``; ``status`` for ``server_error``."""

    mode: str
    route: str | None = None
    count: int | None = None
    rate: float | None = None
    after: bool = False
    delay: float = 1.0
    status: int = 500

    def __post_init__(self) -> None:
        if self.mode not in FAULT_MODES:
            raise ValueError(f"mode: {self.mode!r} is not one of {', '.join(FAULT_MODES)}")
        if self.count is None and self.rate is None:
            raise ValueError("give count (the next N calls) or rate (0..1)")
        if self.rate is not None and not 0 <= self.rate <= 1:
            raise ValueError("rate: between 0 and 1")
        if not 500 <= self.status <= 599:
            raise ValueError("status: a 5xx status")


class _RequestBudget:
    """Back Market's "about 200 requests per 10 s, then blocked for 10 s", on the injected clock."""

    def __init__(self) -> None:
        self.requests: deque[float] = deque()
        self.sku_updates: deque[tuple[float, int]] = deque()
        self.blocked_until = float("-inf")

    def admit(self, now: float, budgets: Budgets) -> bool:
        if now < self.blocked_until:
            return False
        while self.requests and now - self.requests[0] >= budgets.window_seconds:
            self.requests.popleft()
        if len(self.requests) >= budgets.requests_per_window:
            self.blocked_until = now + budgets.block_seconds
            return False
        self.requests.append(now)
        return True

    def admit_sku_updates(self, now: float, count: int, budgets: Budgets) -> bool:
        while self.sku_updates and now - self.sku_updates[0][0] >= 3600:
            self.sku_updates.popleft()
        used = sum(lines for _, lines in self.sku_updates)
        if used + count > budgets.sku_updates_per_hour:
            return False
        self.sku_updates.append((now, count))
        return True


@dataclass
class _Response:
    status: int
    body: Any
    headers: dict[str, str]


Route = tuple[str, re.Pattern[str], str, Callable[..., _Response]]

#: What the sandbox accepts as a token (the admin's rule for a pasted token).
TOKEN_PATTERN = re.compile(r"\S{8,512}")


class BackMarketSandbox:
    def __init__(
        self,
        *,
        clock: Clock | None = None,
        token: str = "sandbox-bm-token",  # noqa: S107 (the sandbox's fake token)
        demo: bool = True,
        require_user_agent: bool = True,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.token = token
        self.require_user_agent = require_user_agent
        self.budgets = Budgets()
        self.refuse_date_format: str | None = None
        self.order_update_body = "order"
        self._lock = threading.RLock()
        self._account = Account(self.clock)
        self._budget = _RequestBudget()
        self._faults: list[Fault] = []
        self._fault_random = random.Random(1)
        self._calls: deque[dict[str, Any]] = deque(maxlen=CALL_LOG_SIZE)
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""
        if demo:
            self._account.seed_demo()
        self._routes = self._build_routes()

    # --- lifecycle

    def start(self, port: int = 0) -> str:
        sandbox = self

        class Handler(_Handler):
            owner = sandbox

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        # A short poll interval so stop() returns quickly (tests start and stop many sandboxes).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="bm-sandbox", daemon=True
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        # Kept-alive connections would otherwise hold their handler threads until the client goes away.
        with self._lock:
            connections, self._connections = set(self._connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> BackMarketSandbox:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- control API (each mirrors a /_sandbox/ route)

    def create_buyer_order(
        self,
        sku: str,
        quantity: int = 1,
        *,
        more_lines: list[tuple[str, int]] | None = None,
        country_code: str | None = None,
        state: int = OrderState.PAID,
    ) -> dict[str, Any]:
        with self._lock:
            order = self._account.create_buyer_order(
                sku, quantity, more_lines=more_lines, country_code=country_code, state=state
            )
            return _copy(order)

    def mark_order_paid(self, order_id: int) -> dict[str, Any]:
        with self._lock:
            return _copy(self._account.set_order_paid(order_id))

    def add_listing(
        self,
        sku: str,
        quantity: int,
        *,
        price: Decimal | str = "99.00",
        grade: str = "GOOD",
        title: str | None = None,
        publication_state: int | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            return self._account.add_listing(
                sku, quantity, price=price, grade=grade, title=title, publication_state=publication_state
            )

    def set_listing_quantity(self, sku: str, quantity: int) -> dict[str, Any]:
        """Change a quantity behind bmsync's back (a sale elsewhere, an edit in the back office)."""
        with self._lock:
            listing = self._account.listing_by_sku(sku)
            self._account.set_quantity(listing, int(quantity))
            return dict(listing)

    def listing(self, sku: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._account.listing_by_sku(sku))

    def listings(self) -> list[dict[str, Any]]:
        with self._lock:
            return self._account.list_listings(publication_state=None, min_quantity=None, max_quantity=None)

    def order(self, order_id: int) -> dict[str, Any]:
        with self._lock:
            return _copy(self._account.order(order_id))

    def order_shipping(self, order_id: int) -> tuple[int, str | None]:
        """An order's state and tracking number, without copying it (the simulator asks often)."""
        with self._lock:
            order = self._account.order(order_id)
            return int(order["state"]), order.get("tracking_number")

    def orders(self) -> list[dict[str, Any]]:
        with self._lock:
            return [_copy(order) for order in self._account.orders.values()]

    def set_faults(self, faults: list[dict[str, Any] | Fault], *, seed: int | None = None) -> None:
        """Replace every fault rule (an empty list clears them)."""
        rules = [fault if isinstance(fault, Fault) else Fault(**fault) for fault in faults]
        with self._lock:
            self._faults = rules
            if seed is not None:
                self._fault_random = random.Random(seed)

    def clear_faults(self) -> None:
        self.set_faults([])

    def set_budgets(
        self,
        *,
        requests_per_window: int | None = None,
        window_seconds: float | None = None,
        block_seconds: float | None = None,
        sku_updates_per_hour: int | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            given = {
                "requests_per_window": requests_per_window,
                "window_seconds": window_seconds,
                "block_seconds": block_seconds,
                "sku_updates_per_hour": sku_updates_per_hour,
            }
            for name, value in given.items():
                if value is not None:
                    if value <= 0:
                        raise ValueError(f"{name}: must be more than 0")
                    setattr(self.budgets, name, value)
            self._budget = _RequestBudget()
            return asdict(self.budgets)

    def set_token(self, token: str | None = None) -> str:
        """Replace the account's token, as "Recover my token" in the Seller Portal does: the old one is
        refused from now on. Without ``token`` a new random one is issued. Returns the token in force."""
        new = token if token is not None else "sandbox-bm-" + secrets.token_urlsafe(24)
        if not isinstance(new, str) or not TOKEN_PATTERN.fullmatch(new):
            raise ApiError(400, "invalid-request", "token: 8 to 512 characters, no spaces")
        with self._lock:
            self.token = new
        return new

    def configure(
        self,
        *,
        require_user_agent: bool | None = None,
        task_delay_seconds: float | None = None,
        refuse_date_format: str | None = None,
        order_update_body: str | None = None,
        foreign_market_share: float | None = None,
    ) -> dict[str, Any]:
        """Behaviour switches. ``refuse_date_format``: ``rfc3339``, ``plain`` or ``""`` (accept both)."""
        with self._lock:
            if task_delay_seconds is not None and task_delay_seconds < 0:
                raise ValueError("task_delay_seconds: 0 or more")
            if refuse_date_format not in (None, "", *DATE_FORMATS):
                raise ValueError(f"refuse_date_format: one of {', '.join(DATE_FORMATS)}, or empty")
            if order_update_body is not None and order_update_body not in ORDER_UPDATE_BODIES:
                raise ValueError(f"order_update_body: one of {', '.join(ORDER_UPDATE_BODIES)}")
            if foreign_market_share is not None and not 0 <= foreign_market_share <= 1:
                raise ValueError("foreign_market_share: between 0 and 1")
            if require_user_agent is not None:
                self.require_user_agent = require_user_agent
            if task_delay_seconds is not None:
                self._account.task_delay_seconds = task_delay_seconds
            if refuse_date_format is not None:
                self.refuse_date_format = refuse_date_format or None
            if order_update_body is not None:
                self.order_update_body = order_update_body
            if foreign_market_share is not None:
                self._account.foreign_market_share = foreign_market_share
            return {
                "require_user_agent": self.require_user_agent,
                "task_delay_seconds": self._account.task_delay_seconds,
                "refuse_date_format": self.refuse_date_format,
                "order_update_body": self.order_update_body,
                "foreign_market_share": self._account.foreign_market_share,
            }

    def load_recorded(self, orders: list[dict[str, Any]], listings: list[dict[str, Any]]) -> dict[str, int]:
        """Serve recorded ``GET /ws/orders`` / ``GET /ws/listings`` objects as they are (see README)."""
        with self._lock:
            return self._account.load_recorded(orders, listings)

    def calls(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._calls)

    def clear_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def reset(self, *, demo: bool = False) -> None:
        with self._lock:
            self._account = Account(self.clock)
            self._budget = _RequestBudget()
            self._faults = []
            self._calls.clear()
            self.refuse_date_format = None
            self.order_update_body = "order"
            if demo:
                self._account.seed_demo()

    def route_names(self) -> list[str]:
        """The ``/ws/`` routes the sandbox serves (``METHOD /ws/template``), as fault rules name them."""
        return [name for _, _, name, _ in self._routes]

    # --- request handling

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[_Response, Fault | None]:
        """Answer one request; returns the response and the fault to apply to it, if any."""
        split = urlsplit(raw_path)
        path = split.path.rstrip("/") or "/"
        query = {key: values[-1] for key, values in parse_qs(split.query, keep_blank_values=True).items()}
        if path.startswith("/_sandbox"):
            return self._control(method, path, query, body), None
        with self._lock:
            route_name, handler, params = self._match(method, path)
            fault = self._pick_fault(route_name)
            record: dict[str, Any] = {
                "time": utc_iso(self.clock.now()),
                "monotonic": self.clock.monotonic(),
                "method": method,
                "path": path,
                "query": query,
                "route": route_name,
                "user_agent": headers.get("user-agent", ""),
                "accept_language": headers.get("accept-language", ""),
                "fault": fault.mode if fault else None,
                "body": _logged_body(body),
            }
            self._calls.append(record)
            if fault is not None and not fault.after and fault.mode != "slow":
                record["status"] = _fault_status(fault)
                return _Response(record["status"], None, {}), fault
            response = self._answer(method, headers, body, query, route_name, handler, params)
            record["processed_status"] = response.status
            record["status"] = _fault_status(fault) if fault and fault.mode != "slow" else response.status
            return response, fault

    def _answer(
        self,
        method: str,
        headers: dict[str, str],
        body: bytes,
        query: dict[str, str],
        route_name: str,
        handler: Callable[..., _Response] | None,
        params: dict[str, str],
    ) -> _Response:
        ray = uuid.uuid4().hex[:16]
        if self.require_user_agent and not USER_AGENT_PATTERN.match(headers.get("user-agent", "")):
            return _Response(403, FIREWALL_PAGE.format(ray=ray), {"cf-ray": ray, "Content-Type": "text/html"})
        now = self.clock.monotonic()
        if not self._budget.admit(now, self.budgets):
            return _error(429, "too-many-requests", "Too many requests. Client has been rate limited.")
        if headers.get("authorization", "") != f"Basic {self.token}":
            return _error(
                401, "unauthorized", "Invalid or missing token. Authentication credentials were not provided."
            )
        if handler is None:
            if route_name.startswith("PATCH /ws/listings"):
                return _error(405, "method-not-allowed", "Method PATCH is not allowed: use POST")
            return _error(404, "not-found", "Webservices unavailable")
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            return _error(400, "invalid-json", "The body is not valid JSON")
        try:
            return handler(query=query, body=payload, now=now, **params)
        except ApiError as error:
            body = error.body
            if isinstance(body, dict) and "error" in body:
                body = {**body, "requestId": uuid.uuid4().hex}
            return _Response(error.status, body, {})

    def _match(self, method: str, path: str) -> tuple[str, Callable[..., _Response] | None, dict[str, str]]:
        for route_method, pattern, name, handler in self._routes:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                return name, handler, match.groupdict()
        return f"{method} {path}", None, {}

    def _pick_fault(self, route_name: str) -> Fault | None:
        for fault in self._faults:
            if fault.route not in (None, route_name):
                continue
            if fault.count is not None:
                if fault.count <= 0:
                    continue
                fault.count -= 1
                return fault
            if fault.rate is not None and self._fault_random.random() < fault.rate:
                return fault
        return None

    def _build_routes(self) -> list[Route]:
        table: list[tuple[str, str, Callable[..., _Response]]] = [
            ("GET", "/ws/orders", self._list_orders),
            ("GET", "/ws/orders/{order_id}", self._get_order),
            ("POST", "/ws/orders/{order_id}", self._update_order),
            ("PATCH", "/ws/orderlines/{orderline_id}", self._update_orderline),
            ("GET", "/ws/listings", self._list_listings),
            ("POST", "/ws/listings", self._submit_batch),
            ("GET", "/ws/listings/detail", self._listing_detail),
            ("GET", "/ws/listings/{listing_id}", self._get_listing),
            ("POST", "/ws/listings/{listing_id}", self._update_listing),
            ("GET", "/ws/tasks/{task_id}", self._get_task),
        ]
        routes: list[Route] = []
        for method, template, handler in table:
            pattern = re.compile(re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template))
            routes.append((method, pattern, f"{method} {template}", handler))
        return routes

    # --- /ws/ routes

    def _page(self, path: str, items: list[dict[str, Any]], query: dict[str, str]) -> _Response:
        page = _int_param(query, "page", 1, minimum=1)
        size = min(_int_param(query, "page-size", DEFAULT_PAGE_SIZE, minimum=1), MAX_PAGE_SIZE)
        start = (page - 1) * size
        results = items[start : start + size]

        def link(number: int) -> str:
            return f"{self.base_url}{path}?{urlencode({**query, 'page': number, 'page-size': size})}"

        return _ok(
            {
                "count": len(items),
                "next": link(page + 1) if start + size < len(items) else None,
                "previous": link(page - 1) if page > 1 and items else None,
                "results": [_copy(item) for item in results],
            }
        )

    def _list_orders(self, *, query: dict[str, str], **_: Any) -> _Response:
        state = _int_param(query, "state", None)
        if state is not None and state not in (0, 1, 3, 8, 9, 10):
            raise ApiError(400, "invalid-request", f"state: {state} is not an order state")
        dates = {
            name: self._filter_date(name, query[name]) if query.get(name) else None
            for name in ("date_creation", "date_modification")
        }
        orders = self._account.list_orders(
            state=state,
            date_creation=dates["date_creation"],
            date_modification=dates["date_modification"],
            country_code=query.get("country_code") or None,
        )
        return self._page("/ws/orders", orders, query)

    def _filter_date(self, name: str, text: str) -> Any:
        written = "rfc3339" if "T" in text.upper() else "plain"
        if written == self.refuse_date_format:
            raise ApiError(400, "invalid-request", f"{name}: {text!r} is not a valid date")
        return parse_filter_datetime(name, text)

    def _get_order(self, *, order_id: str, **_: Any) -> _Response:
        return _ok(_copy(self._account.order(_path_int("order_id", order_id))))

    def _update_order(self, *, order_id: str, body: Any, **_: Any) -> _Response:
        order = _copy(self._account.update_order(_path_int("order_id", order_id), body))
        odd_body = ORDER_UPDATE_BODIES[self.order_update_body]
        if odd_body is None:
            return _ok(order)
        if isinstance(odd_body, str):
            return _Response(200, odd_body, {"Content-Type": "text/plain"})
        return _ok(odd_body)

    def _update_orderline(self, *, orderline_id: str, body: Any, **_: Any) -> _Response:
        return _ok(self._account.update_orderline(_path_int("orderline_id", orderline_id), body))

    def _list_listings(self, *, query: dict[str, str], **_: Any) -> _Response:
        publication_state = _int_param(query, "publication_state", None)
        if publication_state is not None and publication_state not in range(5):
            raise ApiError(400, "invalid-request", "publication_state: one of 0, 1, 2, 3, 4")
        listings = self._account.list_listings(
            publication_state=publication_state,
            min_quantity=_int_param(query, "min_quantity", None),
            max_quantity=_int_param(query, "max_quantity", None),
        )
        return self._page("/ws/listings", listings, query)

    def _get_listing(self, *, listing_id: str, **_: Any) -> _Response:
        return _ok({**self._account.listing_by_ref(listing_id), "statuscode": 200})

    def _listing_detail(self, *, query: dict[str, str], **_: Any) -> _Response:
        if query.get("sku"):
            listing = self._account.listing_by_sku(query["sku"])
        elif query.get("listing_id") or query.get("id"):
            listing = self._account.listing_by_ref(query.get("id") or query["listing_id"])
        else:
            raise ApiError(400, "invalid-request", "give sku, listing_id or id")
        return _ok({**listing, "statuscode": 200})

    def _update_listing(self, *, listing_id: str, body: Any, now: float, **_: Any) -> _Response:
        listing = self._account.listing_by_ref(listing_id)
        if not self._budget.admit_sku_updates(now, 1, self.budgets):
            return _error(429, "too-many-requests", "SKU update budget exceeded: try again later")
        return _ok(self._account.update_listing(listing, body))

    def _submit_batch(self, *, body: Any, now: float, **_: Any) -> _Response:
        task_id, lines = self._account.submit_batch(body)
        if not self._budget.admit_sku_updates(now, lines, self.budgets):
            self._account.tasks.pop(task_id)
            return _error(429, "too-many-requests", "SKU update budget exceeded: try again later")
        return _ok({"bodymessage": task_id, "statuscode": 200})

    def _get_task(self, *, task_id: str, **_: Any) -> _Response:
        return _ok(self._account.task(_path_int("task_id", task_id)))

    # --- /_sandbox/ control routes

    def _control(self, method: str, path: str, query: dict[str, str], body: bytes) -> _Response:
        try:
            payload = json.loads(body) if body else {}
            return self._control_route(method, path.removeprefix("/_sandbox"), payload)
        except ApiError as error:
            return _Response(error.status, error.body, {})
        except (ValueError, TypeError, KeyError) as error:
            return _error(400, "invalid-control-request", str(error))

    def _control_route(self, method: str, path: str, payload: dict[str, Any]) -> _Response:
        parts = [part for part in path.split("/") if part]
        match method, parts:
            case "POST", ["orders"]:
                more = [(line["sku"], int(line.get("quantity", 1))) for line in payload.get("more_lines", [])]
                order = self.create_buyer_order(
                    payload["sku"],
                    int(payload.get("quantity", 1)),
                    more_lines=more,
                    country_code=payload.get("country_code"),
                    state=int(payload.get("state", 1)),
                )
                return _Response(201, order, {})
            case "GET", ["orders"]:
                return _ok(self.orders())
            case "GET", ["orders", order_id]:
                return _ok(self.order(_path_int("order_id", order_id)))
            case "POST", ["orders", order_id, "paid"]:
                return _ok(self.mark_order_paid(_path_int("order_id", order_id)))
            case "GET", ["listings"]:
                return _ok(self.listings())
            case "POST", ["listings"]:
                listing = self.add_listing(
                    payload["sku"],
                    int(payload.get("quantity", 0)),
                    price=str(payload.get("price", "99.00")),
                    grade=payload.get("grade", "GOOD"),
                    title=payload.get("title"),
                    publication_state=payload.get("publication_state"),
                )
                return _Response(201, listing, {})
            case "GET", ["listings", sku]:
                return _ok(self.listing(sku))
            case "PUT", ["listings", sku, "quantity"]:
                return _ok(self.set_listing_quantity(sku, int(payload["quantity"])))
            case "PUT", ["faults"]:
                self.set_faults(list(payload.get("faults", [])), seed=payload.get("seed"))
                return _ok({"faults": [asdict(fault) for fault in self._faults]})
            case "GET", ["faults"]:
                return _ok({"faults": [asdict(fault) for fault in self._faults]})
            case "DELETE", ["faults"]:
                self.clear_faults()
                return _ok({"faults": []})
            case "PUT", ["budgets"]:
                known = {item.name for item in fields(Budgets)}
                return _ok(self.set_budgets(**{key: value for key, value in payload.items() if key in known}))
            case "GET", ["budgets"]:
                return _ok(asdict(self.budgets))
            case "PUT", ["config"]:
                return _ok(self.configure(**payload))
            case "POST", ["recorded"]:
                return _Response(201, self.load_recorded(payload["orders"], payload["listings"]), {})
            case "GET", ["calls"]:
                return _ok(self.calls())
            case "DELETE", ["calls"]:
                self.clear_calls()
                return _ok([])
            case "POST", ["token"]:
                return _ok({"token": self.set_token(payload.get("token"))})
            case "POST", ["reset"]:
                self.reset(demo=bool(payload.get("demo", False)))
                return _ok({"reset": True})
        return _error(404, "not-found", f"no control route {method} /_sandbox{path}")


def _logged_body(body: bytes) -> Any:
    """The request body as sent (parsed JSON), for tests that check what a client wrote."""
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body[:500].decode(errors="replace")


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _ok(body: Any) -> _Response:
    return _Response(200, body, {})


def _error(status: int, code: str, message: str) -> _Response:
    return _Response(status, {"error": {"code": code, "message": message}, "requestId": uuid.uuid4().hex}, {})


def _fault_status(fault: Fault) -> int:
    """The status the caller sees (0: no answer at all)."""
    statuses = {
        "server_error": fault.status,
        "html_403": 403,
        "html_429": 429,
        "timeout": 0,
        "malformed_json": 200,
    }
    return statuses.get(fault.mode, 200)


def _int_param(query: dict[str, str], name: str, default: int | None, *, minimum: int = 0) -> Any:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"-?\d+", raw) or int(raw) < minimum:
        raise ApiError(400, "invalid-request", f"{name}: {raw!r} is not a whole number of {minimum} or more")
    return int(raw)


def _path_int(name: str, raw: str) -> int:
    if not raw.isdigit():
        raise ApiError(404, "not-found", f"{name}: {raw!r} is not a known id")
    return int(raw)


class _Handler(BaseHTTPRequestHandler):
    owner: BackMarketSandbox
    protocol_version = "HTTP/1.1"
    server_version = "cloudflare"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without NODELAY each response waits ~40 ms on
        # the client's delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.owner._lock:
            self.owner._connections.add(self.connection)

    def finish(self) -> None:
        with self.owner._lock:
            self.owner._connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the sandbox keeps its own call log."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {key.lower(): value for key, value in self.headers.items()}
        response, fault = self.owner.handle(self.command, self.path, headers, body)
        if fault is not None and fault.mode in ("slow", "timeout"):
            threading.Event().wait(fault.delay)
        if fault is not None and fault.mode == "timeout":
            self.close_connection = True
            return
        if fault is not None:
            response = _faulty(fault, response)
        self._send(response)

    def _send(self, response: _Response) -> None:
        if isinstance(response.body, str) and response.headers.get("Content-Type", "").startswith("text/"):
            payload = response.body.encode()
        elif isinstance(response.body, bytes):
            payload = response.body
        else:
            payload = json.dumps(response.body).encode()
        self.send_response(response.status)
        headers = {"Content-Type": "application/json", **response.headers}
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve


def _faulty(fault: Fault, response: _Response) -> _Response:
    ray = uuid.uuid4().hex[:16]
    if fault.mode == "server_error":
        return _Response(
            fault.status, "<html><body>502 Bad Gateway</body></html>", {"Content-Type": "text/html"}
        )
    if fault.mode == "html_403":
        return _Response(403, FIREWALL_PAGE.format(ray=ray), {"Content-Type": "text/html", "cf-ray": ray})
    if fault.mode == "html_429":
        return _Response(429, THROTTLE_PAGE.format(ray=ray), {"Content-Type": "text/html", "cf-ray": ray})
    if fault.mode == "malformed_json":
        text = response.body.decode() if isinstance(response.body, bytes) else json.dumps(response.body)
        return _Response(200, text[:-7].encode() + b"{oops", {})
    return response


def serve_forever(port: int = 0, demo: bool = True) -> int:
    """``bmsync sandbox backmarket``: run until interrupted."""
    sandbox = BackMarketSandbox(demo=demo)
    base_url = sandbox.start(port)
    print(
        f"Back Market sandbox on {base_url} (token {sandbox.token!r}); control API under /_sandbox/",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0

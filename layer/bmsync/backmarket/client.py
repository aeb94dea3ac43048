"""The Back Market seller API client: sessions, headers, budgets, retries, pagination and typed errors.

Safety of retries: GETs are retried on 5xx, timeouts and broken bodies; a 429 or a firewall page means
the request was not processed, so every method is retried after a back-off of at least 10 s. POSTs
that move orderlines are never blindly repeated: after an unclear outcome the order is re-read, and the
change is sent again only if Back Market does not show it. Listing updates set absolute values, so
repeating them is safe; batch submissions and write-once identifiers are not repeated.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from pydantic import BaseModel, ValidationError

from bmsync import process
from bmsync.backmarket.errors import (
    BackMarketError,
    Blocked,
    Forbidden,
    InvalidRequest,
    InvalidTransition,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
)
from bmsync.backmarket.limiter import RateLimiter, shared_limiter
from bmsync.backmarket.models import (
    LINE_ACCEPTED,
    LINE_CANCELLED,
    LINE_REFUNDED_AFTER_SHIPPING,
    LINE_REFUNDED_BEFORE_SHIPPING,
    LINE_SHIPPED,
    PUBLICATION_OFFLINE,
    PUBLICATION_ONLINE,
    Listing,
    ListingCounts,
    Order,
    Task,
)
from bmsync.clock import Clock, utc_iso
from bmsync.connection_secrets import read_backmarket_token
from bmsync.observability import logger, redact_text, register_secret
from bmsync.secrets import SecretMissing
from bmsync.settings import Settings
from bmsync.shared_budget import BudgetStore
from bmsync.store.budgets_repo import BudgetsRepository

PAGE_SIZE = 50
#: Back Market blocks for 10 s once a budget is exceeded: never come back sooner.
THROTTLE_BACKOFF_SECONDS = 10.0
THROTTLE_RETRIES = 5
#: Attempts for a call that fails with a 5xx, a timeout or a broken body (when repeating is safe).
SERVER_ATTEMPTS = 4
SERVER_BACKOFF_SECONDS = 1.0
TASK_POLL_SECONDS = 10.0
MESSAGE_LIMIT = 300

ModelT = TypeVar("ModelT", bound=BaseModel)

_sessions: dict[tuple[str, str], requests.Session] = {}
_sessions_lock = threading.Lock()

#: Date filter formats of ``GET /ws/orders``. The spec says RFC 3339; other working integrations send
#: ``YYYY-MM-DD HH:MM:SS``. Whichever Back Market accepted last is used first, per (host, token).
DATE_FORMAT_RFC3339 = "rfc3339"
DATE_FORMAT_PLAIN = "plain"
_date_formats: dict[tuple[str, str], str] = {}


def _connection_key(base_url: str, token: str) -> tuple[str, str]:
    return base_url, hashlib.sha256(token.encode()).hexdigest()


def format_filter_date(moment: datetime, date_format: str) -> str:
    """A ``date_creation``/``date_modification`` filter value in UTC, in one of the two formats."""
    if date_format == DATE_FORMAT_PLAIN:
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return utc_iso(moment)


def _session_for(base_url: str, token: str) -> requests.Session:
    """One pooled session per (host, token) for the whole process (Lambda reuses it across calls)."""
    key = _connection_key(base_url, token)
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            session = requests.Session()
            _sessions[key] = session
        return session


def _is_html(response: requests.Response) -> bool:
    content_type = response.headers.get("Content-Type", "").lower()
    return "html" in content_type or response.text.lstrip()[:1] == "<"


def describe_error_body(response: requests.Response) -> str:
    """Back Market's error text, whatever the body's shape, redacted and short."""
    if not response.content:
        return "no details given"
    if _is_html(response):
        return "an HTML page from Back Market's firewall instead of JSON"
    try:
        body = response.json()
    except ValueError:
        return redact_text(response.text.strip())[:MESSAGE_LIMIT] or "no details given"
    return redact_text(_describe_json(body))[:MESSAGE_LIMIT]


def _describe_json(body: Any) -> str:
    if isinstance(body, str):
        return body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return _describe_entry(error)
        if isinstance(error, str):
            return error
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            return "; ".join(
                _describe_entry(entry) if isinstance(entry, dict) else str(entry) for entry in errors
            )
        return _describe_entry(body)
    if isinstance(body, list) and body:
        return "; ".join(str(entry) for entry in body)
    return json.dumps(body)


def _describe_entry(entry: dict[str, Any]) -> str:
    text = next(
        (str(entry[key]) for key in ("message", "detail", "title", "bodymessage") if entry.get(key)), ""
    )
    code = entry.get("code")
    if text and code:
        return f"{text} ({code})"
    return text or str(code or json.dumps(entry))


def _bot_challenge(response: requests.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    errors = body.get("errors") if isinstance(body, dict) else None
    return isinstance(errors, list) and any(
        isinstance(entry, dict) and "challenge" in str(entry.get("code", "")) for entry in errors
    )


class _Outcome(Exception):
    """Internal: an attempt failed in a way the retry loop decides about."""

    def __init__(self, error: BackMarketError, *, throttled: bool = False, unclear: bool = False) -> None:
        super().__init__(error.message)
        self.error = error
        self.throttled = throttled
        #: The request may have been processed (timeout, 5xx, broken body).
        self.unclear = unclear


class BackMarketClient:
    """One seller account on one platform (host + token), in one market (``Accept-Language``)."""

    def __init__(
        self,
        *,
        base_url: str,
        token_provider: Callable[[bool], str],
        market: str,
        user_agent: str,
        clock: Clock,
        limiter: RateLimiter | None = None,
        budget_store: BudgetStore | None = None,
        budget_scope: str = "",
        timeout: tuple[float, float] = (3.05, 20.0),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token_provider = token_provider
        self.market = market
        self.user_agent = user_agent
        self.clock = clock
        self._limiter = limiter
        #: Where the token's budgets are counted for every container (none: this process only).
        self._budget_store = budget_store
        self._budget_scope = budget_scope
        self.timeout = timeout
        self._token: str | None = None

    # --- budgets

    def limiter(self) -> RateLimiter:
        if self._limiter is None:
            self._limiter = shared_limiter(
                self.base_url,
                self._current_token(),
                self.clock,
                store=self._budget_store,
                scope=self._budget_scope,
            )
        return self._limiter

    def requests_remaining(self) -> int:
        return self.limiter().requests_remaining()

    def sku_updates_remaining(self) -> int:
        return self.limiter().sku_updates_remaining()

    def hold_sku_updates(self, count: int, *, keep: int) -> bool:
        """Set aside ``count`` SKU updates for the next calls if ``keep`` stay free for every container."""
        return self.limiter().hold_sku_updates(count, keep=keep)

    # --- orders

    def iter_orders(
        self,
        *,
        state: int | None = None,
        date_creation: datetime | None = None,
        date_modification: datetime | None = None,
        country_code: str | None = None,
    ) -> Iterator[Order]:
        filters: dict[str, Any] = {"state": state, "country_code": country_code}
        dates = {"date_creation": date_creation, "date_modification": date_modification}
        if not any(dates.values()):
            return self._paginate("/ws/orders", filters, Order, "order_id")
        return self._orders_since(filters, dates)

    def _orders_since(self, filters: dict[str, Any], dates: dict[str, datetime | None]) -> Iterator[Order]:
        """Orders with date filters: a 400 on the first page means Back Market refused the format, so
        the other one is tried, and the one that works is remembered for the connection."""
        key = _connection_key(self.base_url, self._current_token())
        first_choice = _date_formats.get(key, DATE_FORMAT_RFC3339)
        second_choice = DATE_FORMAT_PLAIN if first_choice == DATE_FORMAT_RFC3339 else DATE_FORMAT_RFC3339
        for date_format in (first_choice, second_choice):
            formatted = {
                name: format_filter_date(moment, date_format) for name, moment in dates.items() if moment
            }
            pages = self._paginate("/ws/orders", {**filters, **formatted}, Order, "order_id")
            try:
                first = next(pages, None)
            except InvalidRequest as refusal:
                if refusal.status != 400 or date_format == second_choice:
                    raise
                logger.warning(
                    "Back Market refused the order date filter format; trying the other one",
                    extra={"refused": date_format, "next": second_choice},
                )
                continue
            _date_formats[key] = date_format
            if first is not None:
                yield first
                yield from pages
            return

    def get_order(self, order_id: int) -> Order:
        return self._model(Order, self._request("GET", f"/ws/orders/{int(order_id)}"))

    def accept_orderline(self, order_id: int, sku: str) -> Order:
        return self._move_line(order_id, sku, LINE_ACCEPTED, {})

    def cancel_orderline(self, order_id: int, sku: str) -> Order:
        return self._move_line(order_id, sku, LINE_CANCELLED, {})

    def refund_orderline(
        self,
        order_id: int,
        sku: str,
        *,
        after_shipping: bool,
        return_reason: int = 0,
        return_message: str = "",
    ) -> Order:
        if after_shipping:
            extra = {"return_reason": return_reason, "return_message": return_message[:500]}
            return self._move_line(order_id, sku, LINE_REFUNDED_AFTER_SHIPPING, extra)
        return self._move_line(order_id, sku, LINE_REFUNDED_BEFORE_SHIPPING, {})

    def ship_order(
        self,
        order_id: int,
        *,
        tracking_number: str,
        shipper: str | None = None,
        tracking_url: str | None = None,
        date_shipping: datetime | None = None,
        imei: str | None = None,
        serial_number: str | None = None,
    ) -> Order:
        if not tracking_number.strip():
            raise InvalidRequest("A tracking number is required to ship a Back Market order.", status=None)
        body: dict[str, Any] = {"order_id": int(order_id), "new_state": LINE_SHIPPED}
        optional = {
            "tracking_number": tracking_number.strip(),
            "shipper": shipper,
            "tracking_url": tracking_url,
            "date_shipping": utc_iso(date_shipping) if date_shipping else None,
            "imei": imei,
            "serial_number": serial_number,
        }
        body.update({key: value for key, value in optional.items() if value})

        def shipped(order: Order) -> bool:
            return (order.tracking_number or "") == body["tracking_number"] and not any(
                line.state == LINE_ACCEPTED for line in order.orderlines
            )

        return self._update_order(int(order_id), body, shipped)

    def set_orderline_identifiers(
        self, orderline_id: int, *, imei: str | None = None, serial_number: str | None = None
    ) -> None:
        body = {key: value for key, value in (("imei", imei), ("serial_number", serial_number)) if value}
        if not body:
            raise InvalidRequest("Give an IMEI or a serial number to set on the orderline.", status=None)
        self._request(
            "PATCH",
            f"/ws/orderlines/{int(orderline_id)}",
            json_body=body,
            bad_request=InvalidRequest,
            repeatable=False,  # write-once: a repeat after an unclear outcome could be refused
        )

    def _move_line(self, order_id: int, sku: str, new_state: int, extra: dict[str, Any]) -> Order:
        body = {"order_id": int(order_id), "new_state": new_state, "sku": sku, **extra}

        def moved(order: Order) -> bool:
            line = order.line_for_sku(sku)
            return line is not None and line.state == new_state

        return self._update_order(int(order_id), body, moved)

    def _update_order(self, order_id: int, body: dict[str, Any], done: Callable[[Order], bool]) -> Order:
        """Send a state change; after an unclear outcome, re-read the order before sending it again."""
        path = f"/ws/orders/{order_id}"
        last_error: BackMarketError | None = None
        for attempt in range(SERVER_ATTEMPTS):
            if attempt:
                self._backoff(attempt)
                current = self.get_order(order_id)
                if done(current):
                    return current
            try:
                data = self._request(
                    "POST", path, json_body=body, bad_request=InvalidTransition, repeatable=False
                )
            except InvalidTransition as refusal:
                # Already there (an earlier attempt's lost answer, or a change made in the back office):
                # the caller wanted this state, so that is success; otherwise Back Market's refusal stands.
                try:
                    current = self.get_order(order_id)
                except BackMarketError:
                    raise refusal from None
                if done(current):
                    return current
                raise
            except ServerError as error:
                last_error = error
                logger.warning("Back Market order update unclear; re-reading the order", extra={"path": path})
                continue
            answered = self._answered_order(data, order_id)
            if answered is not None:
                return answered
            # A 200 whose body is not the order: Back Market made the change, so confirm it by reading
            # the order rather than failing a step that succeeded.
            logger.info("Back Market answered an order update without the order; re-reading it")
            current = self.get_order(order_id)
            if done(current):
                return current
            last_error = ServerError(
                f"Back Market answered POST {path} with 200 but the order does not show the change.",
                status=200,
            )
        assert last_error is not None
        raise last_error

    @staticmethod
    def _answered_order(data: Any, order_id: int) -> Order | None:
        """The order in a success body, or None when the body is something else (empty, a status)."""
        try:
            order = Order.model_validate(data)
        except ValidationError:
            return None
        return order if order.order_id == order_id else None

    def read_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """One GET of ``path`` as Back Market answers it (unparsed, errors as usual): for ``bmsync probe``."""
        return self._request("GET", path, params=params)

    # --- listings

    def iter_listings(
        self,
        *,
        publication_state: int | None = None,
        min_quantity: int | None = None,
        max_quantity: int | None = None,
    ) -> Iterator[Listing]:
        filters = {
            "publication_state": publication_state,
            "min_quantity": min_quantity,
            "max_quantity": max_quantity,
        }
        return self._paginate("/ws/listings", filters, Listing, "id")

    def count_listings(
        self,
        *,
        publication_state: int | None = None,
        min_quantity: int | None = None,
        max_quantity: int | None = None,
    ) -> int:
        """How many listings match, from the list's ``count`` (one request, whatever the catalogue size)."""
        filters = {
            "publication_state": publication_state,
            "min_quantity": min_quantity,
            "max_quantity": max_quantity,
        }
        params = {key: value for key, value in filters.items() if value is not None}
        data = self._request("GET", "/ws/listings", params={**params, "page": 1, "page-size": 1})
        count = data.get("count") if isinstance(data, dict) else None
        if not isinstance(count, int) or isinstance(count, bool):
            raise ServerError("Back Market sent a listing list without a count.", status=200)
        return count

    def listing_counts(self) -> ListingCounts:
        """How many listings each import scope would bring, and how many sold out went offline."""
        return ListingCounts(
            all=self.count_listings(),
            online=self.count_listings(publication_state=PUBLICATION_ONLINE),
            offline_sold_out=self.count_listings(publication_state=PUBLICATION_OFFLINE, max_quantity=0),
        )

    def get_listing(self, listing_ref: str | int) -> Listing:
        return self._model(Listing, self._request("GET", f"/ws/listings/{quote(str(listing_ref), safe='')}"))

    def get_listing_by_sku(self, sku: str) -> Listing:
        return self._model(Listing, self._request("GET", "/ws/listings/detail", params={"sku": sku}))

    def update_listing(
        self,
        listing_ref: str | int,
        *,
        quantity: int | None = None,
        pub_state: int | None = None,
        **fields: Any,
    ) -> Listing:
        """A real-time partial update; only the given fields change. Counts one SKU update."""
        body: dict[str, Any] = {key: value for key, value in fields.items() if value is not None}
        if quantity is not None:
            if quantity < 0:
                raise InvalidRequest("A listing quantity cannot be negative.", status=None)
            body["quantity"] = int(quantity)
        if pub_state is not None:
            body["pub_state"] = int(pub_state)
        if not body:
            raise InvalidRequest("Nothing to update on the listing.", status=None)
        body = {key: str(value) if isinstance(value, Decimal) else value for key, value in body.items()}
        data = self._request(
            "POST",
            f"/ws/listings/{quote(str(listing_ref), safe='')}",
            json_body=body,
            sku_updates=1,
            bad_request=InvalidRequest,
        )
        return self._model(Listing, data)

    def submit_batch(self, csv_text: str) -> str:
        """Queue a batch CSV update (not real time, not for stock); returns the task id to poll."""
        rows = [row for row in csv.reader(io.StringIO(csv_text)) if any(cell.strip() for cell in row)]
        if len(rows) < 2:
            raise InvalidRequest(
                "The batch CSV needs a header line and at least one listing line.", status=None
            )
        body = {"catalog": csv_text, "quotechar": '"', "delimiter": ",", "encoding": "utf-8"}
        data = self._request(
            "POST",
            "/ws/listings",
            json_body=body,
            sku_updates=len(rows) - 1,
            bad_request=InvalidRequest,
            repeatable=False,
        )
        task_id = data.get("bodymessage") if isinstance(data, dict) else None
        if task_id is None:
            raise ServerError("Back Market accepted the batch but sent no task id.", status=200)
        return str(task_id)

    def get_task(self, task_id: str | int) -> Task:
        return self._model(Task, self._request("GET", f"/ws/tasks/{int(task_id)}"))

    def wait_for_task(self, task_id: str | int, *, timeout_seconds: float) -> Task:
        """Poll until the task is done or failed; a task still pending at the timeout is returned as is."""
        deadline = self.clock.monotonic() + timeout_seconds
        while True:
            task = self.get_task(task_id)
            remaining = deadline - self.clock.monotonic()
            if not task.pending or remaining <= 0:
                return task
            self.clock.sleep(min(TASK_POLL_SECONDS, remaining))

    # --- plumbing

    def _current_token(self, *, force_refresh: bool = False) -> str:
        if self._token is None or force_refresh:
            try:
                token = self._token_provider(force_refresh).strip()
            except SecretMissing as error:
                raise Unauthorized(
                    "No Back Market token is saved for this connection.",
                    status=None,
                    action="Create a token in the Back Market back office and save it in the admin.",
                ) from error
            if not token:
                raise Unauthorized("The saved Back Market token is empty.", status=None)
            register_secret(token)
            self._token = token
        return self._token

    def _headers(self, token: str) -> dict[str, str]:
        return {
            # The token exactly as issued: Back Market's "Basic" scheme does not want it base64'd again.
            "Authorization": f"Basic {token}",
            "Accept-Language": self.market,
            "User-Agent": self.user_agent,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    def _model(self, model: type[ModelT], data: Any) -> ModelT:
        try:
            return model.model_validate(data)
        except ValidationError as error:
            fields = ", ".join(".".join(str(part) for part in item["loc"]) for item in error.errors())
            raise ServerError(
                f"Back Market sent a {model.__name__} bmsync cannot read (fields: {fields or 'body'}).",
                status=200,
            ) from None

    def _paginate(
        self, path: str, filters: dict[str, Any], model: type[ModelT], id_key: str
    ) -> Iterator[ModelT]:
        params = {key: value for key, value in filters.items() if value is not None}
        params["page-size"] = PAGE_SIZE
        seen: set[Any] = set()
        page = 1
        while True:
            data = self._request("GET", path, params={**params, "page": page})
            results = data.get("results") if isinstance(data, dict) else None
            if not results:
                return
            new_on_page = 0
            for item in results:
                key = item.get(id_key) if isinstance(item, dict) else None
                if key is not None and key in seen:
                    continue
                seen.add(key)
                new_on_page += 1
                yield self._model(model, item)
            # Count pages ourselves ("next" may point elsewhere) and stop on a page that adds nothing,
            # so a server that repeats a page cannot loop us forever.
            if not data.get("next") or not new_on_page:
                return
            page += 1

    def _backoff(self, attempt: int) -> None:
        delay = SERVER_BACKOFF_SECONDS * 2 ** (attempt - 1)
        self.clock.sleep(delay + process.jitter().uniform(0, delay))

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        sku_updates: int = 0,
        bad_request: type[BackMarketError] = InvalidRequest,
        repeatable: bool = True,
    ) -> Any:
        """One call with budgets and retries; ``repeatable``: may it be re-sent after an unclear failure."""
        server_attempt = 0
        throttled = 0
        refreshed = False
        while True:
            token = self._current_token()
            self.limiter().acquire(sku_updates=sku_updates)
            try:
                return self._attempt(method, path, token, params, json_body, bad_request)
            except Unauthorized:
                if refreshed:
                    raise
                refreshed = True
                # The token may have been replaced in the admin since it was cached: ask once more.
                if self._current_token(force_refresh=True) == token:
                    raise
                logger.info("Back Market token was refreshed; retrying once", extra={"path": path})
            except _Outcome as outcome:
                if outcome.throttled:
                    throttled += 1
                    if throttled > THROTTLE_RETRIES:
                        raise outcome.error from None
                    wait = THROTTLE_BACKOFF_SECONDS + process.jitter().uniform(0, 2)
                    logger.warning(
                        "Back Market throttled or blocked the call; backing off",
                        extra={"path": path, "status": outcome.error.status, "wait_seconds": round(wait, 1)},
                    )
                    self.clock.sleep(wait)
                    continue
                server_attempt += 1
                if (outcome.unclear and not repeatable) or server_attempt >= SERVER_ATTEMPTS:
                    raise outcome.error from None
                logger.warning(
                    "Back Market call failed; retrying",
                    extra={"path": path, "status": outcome.error.status, "attempt": server_attempt},
                )
                self._backoff(server_attempt)

    def _attempt(
        self,
        method: str,
        path: str,
        token: str,
        params: dict[str, Any] | None,
        json_body: Any,
        bad_request: type[BackMarketError],
    ) -> Any:
        where = f"{method} {path}"
        try:
            response = _session_for(self.base_url, token).request(
                method,
                self.base_url + path,
                params=params,
                data=json.dumps(json_body) if json_body is not None else None,
                headers=self._headers(token),
                timeout=self.timeout,
            )
        except requests.ConnectTimeout:
            # Nothing was sent: repeating is safe for every call.
            raise _Outcome(ServerError(f"Could not connect to Back Market for {where} in time.")) from None
        except requests.Timeout:
            raise _Outcome(
                ServerError(f"Back Market did not answer {where} in time."), unclear=True
            ) from None
        except requests.RequestException as error:
            raise _Outcome(
                ServerError(f"Could not reach Back Market for {where} ({type(error).__name__})."),
                unclear=True,
            ) from None
        status = response.status_code
        if 200 <= status < 300:
            if not response.content:
                return {}
            try:
                return response.json()
            except ValueError:
                raise _Outcome(
                    ServerError(f"Back Market answered {where} with a body that is not JSON.", status=status),
                    unclear=True,
                ) from None
        raise self._error_for(response, where, bad_request)

    def _error_for(
        self, response: requests.Response, where: str, bad_request: type[BackMarketError]
    ) -> Exception:
        status = response.status_code
        detail = describe_error_body(response)
        cf_ray = response.headers.get("cf-ray")
        if status == 401:
            return Unauthorized()
        if status == 429:
            return _Outcome(
                RateLimited(f"Back Market throttled {where} (429): {detail}.", status=status), throttled=True
            )
        if status == 403 and _is_html(response):
            return _Outcome(
                Blocked(f"Back Market's firewall refused {where}: {detail}.", status=status, cf_ray=cf_ray),
                throttled=True,
            )
        if status == 403 and _bot_challenge(response):
            return Blocked(f"Back Market asked {where} to pass a bot challenge: {detail}.", cf_ray=cf_ray)
        if status == 403:
            return Forbidden(f"Back Market refused {where} (403): {detail}.")
        if status == 404:
            return NotFound(f"Back Market does not know {where} (404): {detail}.")
        if status >= 500:
            return _Outcome(
                ServerError(f"Back Market failed on {where} ({status}): {detail}.", status=status),
                unclear=True,
            )
        return bad_request(f"Back Market refused {where} ({status}): {detail}.", status=status)


def client_for(settings: Settings, clock: Clock) -> BackMarketClient:
    """The client of a connection, its token read from Secrets Manager (re-read after a 401, and when
    the admin saved another since it was cached)."""

    def token(force_refresh: bool) -> str:
        return read_backmarket_token(
            settings.connection_id, version=settings.secrets_version, force_fetch=force_refresh
        )

    return BackMarketClient(
        base_url=settings.backmarket.base_url,
        token_provider=token,
        market=settings.backmarket.market,
        user_agent=settings.backmarket.user_agent,
        clock=clock,
        budget_store=BudgetsRepository(settings.connection_id),
        budget_scope=settings.connection_id,
    )

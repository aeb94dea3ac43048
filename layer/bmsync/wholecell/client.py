"""The WholeCell API client: Basic auth from Secrets Manager, paging to the end, a limiter, retries.

Retry policy (why each case is safe):

- 429: WholeCell refused the request before doing anything, so every call waits (``Retry-After`` or
  exponential backoff on the injected clock) and tries again, up to ``max_attempts``.
- 5xx, a body that is not JSON, a timeout or a dropped connection: reads and ``PATCH`` of a status
  (setting the same status twice is harmless) are retried the same way. A *create* (``POST``) is NOT
  resent: WholeCell may have created the order already, and a second POST would create a second one.
  It raises :class:`~bmsync.wholecell.errors.OutcomeUnknown`; the caller looks the order up by its
  external id (``find_sales_order_by_external_id``) before creating it again.
- 401: the credentials are read once more from Secrets Manager (``force_refresh=True``); the call is
  retried once only if they changed, otherwise :class:`~bmsync.wholecell.errors.Unauthorized`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import requests
from pydantic import BaseModel, ValidationError
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from bmsync.clock import Clock
from bmsync.connection_secrets import WholeCellCredentials
from bmsync.observability import logger
from bmsync.shared_budget import BudgetRule, BudgetStore, SharedBudget
from bmsync.wholecell import contract
from bmsync.wholecell.errors import (
    EndpointMissing,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    ServerError,
    Unauthorized,
    UnexpectedResponse,
    ValidationFailed,
    WholeCellError,
)
from bmsync.wholecell.models import (
    Customer,
    InventoryUnit,
    ProductVariation,
    SalesOrder,
    SalesOrderCreate,
    SalesOrderStatus,
    StockLevel,
)

CredentialsProvider = Callable[[bool], WholeCellCredentials]
ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class MalformedItem:
    """One item of a list bmsync cannot read, left out of the list (quarantined) so the rest goes on.

    ``fields`` are the dotted paths of the fields it could not read (``warehouse.name``); ``problems``
    say why, in pydantic's words. No value of the item is kept (it may hold personal data).
    """

    path: str
    model: str
    item_id: str
    fields: tuple[str, ...]
    problems: tuple[str, ...]


MalformedSink = Callable[[MalformedItem], None]


@dataclass(frozen=True)
class ListPage(Generic[ModelT]):
    """One page of a WholeCell list: its readable items, its number, the list's page count, and
    whether it is the last (an empty page, or the count reached)."""

    items: list[ModelT]
    page: int
    pages: int
    last: bool


MAX_BACKOFF_SECONDS = 60.0


#: WholeCell's requests a second are counted across containers over this window, in 1-second buckets.
SHARED_WINDOW_SECONDS = 5.0


class RequestLimiter:
    """Spaces requests at least ``1 / requests_per_second`` apart (thread-safe, on the injected clock).

    With ``shared`` (the connection's stored budgets) every container and function using the
    credentials also stays, together, under ``requests_per_second`` over :data:`SHARED_WINDOW_SECONDS`.
    """

    def __init__(
        self, clock: Clock, requests_per_second: float, *, shared: BudgetStore | None = None
    ) -> None:
        if requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive")
        self._clock = clock
        self._interval = 1.0 / requests_per_second
        self._next_slot: float | None = None
        self._lock = threading.Lock()
        rule = BudgetRule(
            limit=max(1, math.floor(requests_per_second * SHARED_WINDOW_SECONDS)),
            window_seconds=SHARED_WINDOW_SECONDS,
            bucket_seconds=1.0,
            batch=max(1, math.floor(requests_per_second)),
        )
        self._shared = SharedBudget(shared, "wholecell-requests", rule, clock) if shared is not None else None

    def acquire(self) -> None:
        with self._lock:
            now = self._clock.monotonic()
            if self._next_slot is not None and self._next_slot > now:
                self._clock.sleep(self._next_slot - now)
            if self._shared is not None:
                while (wait := self._shared.try_take(1)) > 0:
                    self._clock.sleep(wait)
            now = self._clock.monotonic()
            self._next_slot = max(now, self._next_slot or now) + self._interval


class WholeCellClient:
    def __init__(
        self,
        *,
        base_url: str,
        credentials_provider: CredentialsProvider,
        clock: Clock,
        requests_per_second: float = 2.0,
        budget_store: BudgetStore | None = None,
        timeout: tuple[float, float] = (3.05, 30.0),
        max_attempts: int = 5,
        backoff_seconds: float = 1.0,
        session: requests.Session | None = None,
        on_malformed: MalformedSink | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._credentials_provider = credentials_provider
        self._clock = clock
        #: ``budget_store``: where the credentials' request budget is counted for every container.
        self._limiter = RequestLimiter(clock, requests_per_second, shared=budget_store)
        self._timeout = timeout
        self._max_attempts = max(1, max_attempts)
        self._backoff_seconds = backoff_seconds
        self._session = session or requests.Session()
        self._credentials: WholeCellCredentials | None = None
        self._on_malformed = on_malformed

    # --- inventory and catalogue

    def iter_inventories(
        self,
        *,
        status: str | None = None,
        esn: str | None = None,
        location: str | None = None,
        updated_at_gt: datetime | None = None,
    ) -> Iterator[InventoryUnit]:
        filters = contract.query(status=status, esn=esn, location=location, updated_at_gt=updated_at_gt)
        yield from self._iter_models(contract.INVENTORIES, filters, InventoryUnit)

    def iter_stock_levels(self, *, inventory_statuses: list[str] | None = None) -> Iterator[StockLevel]:
        filters = (
            {contract.STOCK_LEVEL_STATUSES_PARAM: list(inventory_statuses)} if inventory_statuses else {}
        )
        yield from self._iter_models(contract.STOCK_LEVELS, filters, StockLevel)

    def iter_product_variations(self, *, sku: str | None = None) -> Iterator[ProductVariation]:
        filters = {contract.VARIATION_SKU_PARAM: sku} if sku is not None else {}
        for variation in self._iter_models(contract.PRODUCT_VARIATIONS, filters, ProductVariation):
            # The filter is adopted, not confirmed: an API that ignores it would return every variation.
            if sku is None or variation.sku == sku:
                yield variation

    def inventory_page(self, *, page: int, status: str | None = None) -> ListPage[InventoryUnit]:
        """One page of ``/inventories`` (a reconciliation reads a long list a chunk at a time)."""
        return self._page_of_models(contract.INVENTORIES, contract.query(status=status), InventoryUnit, page)

    def product_variation_page(self, *, page: int) -> ListPage[ProductVariation]:
        return self._page_of_models(contract.PRODUCT_VARIATIONS, {}, ProductVariation, page)

    def sales_order_page(self, *, page: int, updated_at_gt: datetime | None = None) -> ListPage[SalesOrder]:
        listed = self._page_of_models(
            contract.SALES_ORDERS, contract.query(updated_at_gt=updated_at_gt), SalesOrder, page
        )
        if updated_at_gt is None:
            return listed
        # The filter is adopted: re-check locally in case the API ignores it.
        kept = [order for order in listed.items if order.updated_at > updated_at_gt]
        return ListPage(items=kept, page=listed.page, pages=listed.pages, last=listed.last)

    def list_sales_order_statuses(self) -> list[SalesOrderStatus]:
        return list(self._iter_models(contract.SALES_ORDER_STATUSES, {}, SalesOrderStatus))

    # --- customers

    def find_customer(self, name: str) -> Customer | None:
        wanted = name.strip()
        filters = {contract.CUSTOMER_NAME_PARAM: wanted}
        for customer in self._iter_models(contract.CUSTOMERS, filters, Customer):
            if customer.name.strip() == wanted:
                return customer
        return None

    def create_customer(self, name: str) -> Customer:
        body = self._request("POST", contract.CUSTOMERS, json=contract.create_customer_body(name.strip()))
        return self._model(Customer, contract.single_item(body))

    def find_or_create_customer(self, name: str) -> Customer:
        found = self.find_customer(name)
        if found is not None:
            return found
        try:
            return self.create_customer(name)
        except OutcomeUnknown:
            # The create may have happened: look before anyone creates a second customer.
            found = self.find_customer(name)
            if found is not None:
                return found
            raise

    # --- sales orders

    def iter_sales_orders(
        self, *, channel: str | None = None, status: str | None = None, updated_at_gt: datetime | None = None
    ) -> Iterator[SalesOrder]:
        filters = contract.query(channel=channel, status=status, updated_at_gt=updated_at_gt)
        for order in self._iter_models(contract.SALES_ORDERS, filters, SalesOrder):
            # The list filters are adopted: re-check locally in case the API ignores one.
            if channel is not None and order.channel != channel:
                continue
            if status is not None and order.status != status:
                continue
            if updated_at_gt is not None and order.updated_at <= updated_at_gt:
                continue
            yield order

    def find_sales_order_by_external_id(
        self, external_id: str, *, channel: str = "Backmarket"
    ) -> SalesOrder | None:
        filters = contract.query(channel=channel, **{contract.EXTERNAL_ID_PARAM: external_id})
        # Strict: an order skipped as unreadable could be the one looked for, and be created twice.
        for order in self._iter_models(contract.SALES_ORDERS, filters, SalesOrder, strict=True):
            # The real API ignores unknown filters and would return every order: filter here too.
            if order.external_id == external_id and order.channel == channel:
                return order
        return None

    def create_sales_order(self, order: SalesOrderCreate) -> SalesOrder:
        body = self._request("POST", contract.SALES_ORDERS, json=contract.sales_order_body(order))
        return self._model(SalesOrder, contract.single_item(body))

    def get_sales_order(self, order_id: int) -> SalesOrder:
        body = self._request("GET", contract.sales_order_path(order_id))
        return self._model(SalesOrder, contract.single_item(body))

    def update_sales_order_status(self, order_id: int, status: str) -> SalesOrder:
        body = self._request(
            "PATCH", contract.sales_order_path(order_id), json=contract.update_status_body(status)
        )
        return self._model(SalesOrder, contract.single_item(body))

    # --- plumbing

    def read_page(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """One GET of a path as WholeCell answers it (the JSON body, unparsed): for ``bmsync probe``.
        A 404 is :class:`EndpointMissing`."""
        try:
            return self._request("GET", path, params=params)
        except NotFound as error:
            raise EndpointMissing(path) from error

    def _iter_models(
        self, path: str, filters: dict[str, Any], model: type[ModelT], *, strict: bool = False
    ) -> Iterator[ModelT]:
        """Every item of every page; an unreadable one is quarantined, unless ``strict`` (a lookup
        that must not miss what it looks for) makes it an :class:`UnexpectedResponse`. Items are read
        one at a time: a lookup that stops at what it found never reads the rest of the page."""
        page = 1
        while True:
            raw_items, pages = self._raw_page(path, filters, page)
            for item in raw_items:
                read = self._read_item(path, model, item, strict=strict)
                if read is not None:
                    yield read
            if not raw_items or page >= pages:
                return
            page += 1

    def _page_of_models(
        self, path: str, filters: dict[str, Any], model: type[ModelT], page: int
    ) -> ListPage[ModelT]:
        """One page of a list, its unreadable items quarantined (see :meth:`_iter_models`)."""
        raw_items, pages = self._raw_page(path, filters, page)
        items = [read for item in raw_items if (read := self._read_item(path, model, item)) is not None]
        return ListPage(items=items, page=page, pages=pages, last=not raw_items or page >= pages)

    def _raw_page(self, path: str, filters: dict[str, Any], page: int) -> tuple[list[Any], int]:
        body = self.read_page(path, {**filters, contract.PAGE_PARAM: page})
        try:
            raw_items, _, pages = contract.page_items(body)
        except (TypeError, ValueError) as error:
            raise UnexpectedResponse(f"WholeCell {path} page {page} is not a list envelope") from error
        return raw_items, pages

    def _read_item(self, path: str, model: type[ModelT], item: Any, *, strict: bool = False) -> ModelT | None:
        if strict:
            return self._model(model, item)
        try:
            return model.model_validate(item)
        except ValidationError as error:
            self._quarantine(path, model, item, error)
            return None

    def _quarantine(self, path: str, model: type[BaseModel], item: Any, error: ValidationError) -> None:
        """One unreadable item is left out; the rest of the page and of the list go on."""
        item_id = item.get("id") if isinstance(item, dict) else None
        malformed = MalformedItem(
            path=path,
            model=model.__name__,
            item_id=str(item_id) if item_id is not None else "?",
            fields=tuple(
                ".".join(str(part) for part in problem["loc"]) or "item" for problem in error.errors()
            ),
            problems=tuple(str(problem["msg"]) for problem in error.errors()),
        )
        logger.warning(
            "WholeCell item quarantined",
            extra={"path": path, "item_id": malformed.item_id, "fields": list(malformed.fields)},
        )
        if self._on_malformed is not None:
            self._on_malformed(malformed)

    @staticmethod
    def _model(model: type[ModelT], item: Any) -> ModelT:
        try:
            return model.model_validate(item)
        except ValidationError as error:
            fields = ", ".join(".".join(str(part) for part in e["loc"]) for e in error.errors())
            raise UnexpectedResponse(
                f"WholeCell sent a {model.__name__} bmsync cannot read (fields: {fields})"
            ) from error

    def _current_credentials(self, force_refresh: bool) -> WholeCellCredentials:
        if self._credentials is None or force_refresh:
            self._credentials = self._credentials_provider(force_refresh)
        return self._credentials

    def _headers(self, credentials: WholeCellCredentials) -> dict[str, str]:
        return {
            "Authorization": contract.basic_authorization(
                credentials.app_id, credentials.app_secret.get_secret_value()
            ),
            contract.APP_ID_HEADER: credentials.app_id,
            "Accept": "application/json",
            "User-Agent": "bmsync",
        }

    def _backoff(self, attempt: int, response: requests.Response | None = None) -> None:
        delay = self._backoff_seconds * 2 ** (attempt - 1)
        retry_after = response.headers.get("Retry-After") if response is not None else None
        if retry_after and retry_after.strip().isdigit():
            delay = float(retry_after)
        self._clock.sleep(min(delay, MAX_BACKOFF_SECONDS))

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
    ) -> Any:
        # Only a create is unsafe to resend; a status PATCH sets the same value again.
        resendable = method != "POST"
        what = f"{method} {path}"
        credentials = self._current_credentials(False)
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            last_try = attempt >= self._max_attempts
            self._limiter.acquire()
            try:
                response = self._session.request(
                    method,
                    self._base_url + path,
                    params=params,
                    json=json,
                    headers=self._headers(credentials),
                    timeout=self._timeout,
                )
            except (requests.Timeout, requests.ConnectionError) as error:
                # A request that never left can be resent even when it is a create.
                if not resendable and not _never_sent(error):
                    raise OutcomeUnknown(
                        f"WholeCell did not answer {what} ({type(error).__name__}): it may or may not "
                        "have done it",
                        action="look the record up in WholeCell before creating it again",
                    ) from error
                if last_try:
                    raise ServerError(f"WholeCell did not answer {what} ({type(error).__name__})") from error
                self._log_retry(what, attempt, type(error).__name__)
                self._backoff(attempt)
                continue

            status = response.status_code
            if status == 401:
                if refreshed:
                    raise Unauthorized()
                refreshed = True
                fresh = self._current_credentials(True)
                if _same(fresh, credentials):
                    raise Unauthorized()
                credentials = fresh
                attempt -= 1  # a credentials refresh is not a failed attempt
                continue
            if status == 403:
                raise Unauthorized(
                    f"WholeCell refused {what}: the API App lacks a permission",
                    status=403,
                    action="give the API App read and write access to inventory, customers and sales "
                    "orders in WholeCell settings",
                )
            if status == 429:
                if last_try:
                    raise RateLimited(
                        f"WholeCell kept answering 429 (too many requests) to {what}",
                        status=429,
                        action="lower the WholeCell requests per second in the admin",
                    )
                self._log_retry(what, attempt, "429")
                self._backoff(attempt, response)
                continue
            if status >= 500:
                if not resendable:
                    raise OutcomeUnknown(
                        f"WholeCell answered {status} to {what}: it may or may not have done it",
                        status=status,
                        action="look the record up in WholeCell before creating it again",
                    )
                if last_try:
                    raise ServerError(f"WholeCell answered {status} to {what}", status=status)
                self._log_retry(what, attempt, str(status))
                self._backoff(attempt, response)
                continue
            body = _json_or_none(response)
            if status == 404:
                raise NotFound(f"WholeCell has no such record ({what})", status=404)
            if status == 422:
                fields = _validation_fields(body)
                summary = "; ".join(f"{field}: {', '.join(messages)}" for field, messages in fields.items())
                raise ValidationFailed(f"WholeCell refused {what}: {summary}", fields=fields)
            if status >= 400:
                raise WholeCellError(f"WholeCell answered {status} to {what}", status=status)
            if body is None:
                if not resendable:
                    raise OutcomeUnknown(
                        f"WholeCell answered {what} with a body that is not JSON: it may or may not "
                        "have done it",
                        status=status,
                        action="look the record up in WholeCell before creating it again",
                    )
                if last_try:
                    raise ServerError(f"WholeCell kept answering {what} with a body that is not JSON")
                self._log_retry(what, attempt, "not JSON")
                self._backoff(attempt)
                continue
            return body

    @staticmethod
    def _log_retry(what: str, attempt: int, reason: str) -> None:
        logger.warning("WholeCell call retried", extra={"call": what, "attempt": attempt, "reason": reason})


def _never_sent(error: requests.RequestException) -> bool:
    """Whether the request never left (no connection was made), so resending cannot duplicate it."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, NewConnectionError | ConnectTimeoutError):
            return True
        reason = getattr(cause, "reason", None)
        cause = reason if isinstance(reason, BaseException) else cause.__cause__ or cause.__context__
    return False


def _same(left: WholeCellCredentials, right: WholeCellCredentials) -> bool:
    return (
        left.app_id == right.app_id
        and left.app_secret.get_secret_value() == right.app_secret.get_secret_value()
    )


def _json_or_none(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _validation_fields(body: Any) -> dict[str, list[str]]:
    errors = body.get(contract.VALIDATION_ERRORS_KEY) if isinstance(body, dict) else None
    if not isinstance(errors, dict):
        message = body.get(contract.ERROR_MESSAGE_KEY) if isinstance(body, dict) else None
        return {"base": [str(message or "invalid")]}
    return {
        str(field): [str(m) for m in messages] if isinstance(messages, list) else [str(messages)]
        for field, messages in errors.items()
    }

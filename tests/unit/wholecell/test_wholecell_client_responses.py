"""The client against answers the sandbox does not give: odd shapes, 403, an envelope that lies."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import requests

from bmsync.clock import ManualClock
from bmsync.connection_secrets import WholeCellCredentials
from bmsync.wholecell import WholeCellClient
from bmsync.wholecell.errors import ServerError, Unauthorized, UnexpectedResponse


class ScriptedSession(requests.Session):
    """Answers each request with the next scripted (status, body, headers) and records what was sent."""

    def __init__(self, answers: list[tuple[int, Any, dict[str, str]]]) -> None:
        super().__init__()
        self.answers = list(answers)
        self.sent: list[dict[str, Any]] = []

    def request(self, method, url, **kwargs):  # type: ignore[override]
        self.sent.append({"method": method, "url": url, **kwargs})
        status, body, headers = self.answers.pop(0)
        response = requests.Response()
        response.status_code = status
        response._content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        response.headers.update(headers)
        return response


def _client(session: ScriptedSession, clock: ManualClock, **options) -> WholeCellClient:
    return WholeCellClient(
        base_url="https://api.wholecell.example/api/v1/",
        credentials_provider=lambda force: WholeCellCredentials(app_id="app-1", app_secret="s3cr3t-value"),
        clock=clock,
        session=session,
        **options,
    )


def test_requests_carry_basic_auth_the_app_id_header_and_explicit_timeouts(clock):
    session = ScriptedSession([(200, {"data": [], "page": 1, "pages": 0}, {})])
    assert list(_client(session, clock).iter_inventories(status="Available")) == []
    (sent,) = session.sent
    assert sent["url"] == "https://api.wholecell.example/api/v1/inventories"
    assert sent["params"] == {"status": "Available", "page": 1}
    assert sent["headers"]["Authorization"] == "Basic YXBwLTE6czNjcjN0LXZhbHVl"  # app-1:s3cr3t-value
    assert sent["headers"]["X-App-Id"] == "app-1"
    assert sent["timeout"] == (3.05, 30.0)


def test_paging_stops_at_an_empty_page_even_if_pages_says_more(clock):
    unit_page = {
        "data": [
            {
                "id": 1,
                "status": "Available",
                "created_at": "2026-01-05T09:00:00.000Z",
                "updated_at": "2026-01-05T09:00:00.000Z",
            }
        ],
        "page": 1,
        "pages": 5,
    }
    session = ScriptedSession([(200, unit_page, {}), (200, {"data": [], "page": 2, "pages": 5}, {})])
    assert [u.id for u in _client(session, clock).iter_inventories()] == [1]
    assert [s["params"]["page"] for s in session.sent] == [1, 2]


def test_one_page_of_a_list_says_whether_it_is_the_last(clock):
    unit = {
        "id": 7,
        "status": "Available",
        "created_at": "2026-01-05T09:00:00.000Z",
        "updated_at": "2026-01-05T09:00:00.000Z",
    }
    session = ScriptedSession(
        [
            (200, {"data": [unit, {"id": "not a unit"}], "page": 57, "pages": 173}, {}),
            (200, {"data": [unit], "page": 173, "pages": 173}, {}),
            (200, {"data": [], "page": 174, "pages": 173}, {}),
        ]
    )
    client = _client(session, clock)
    middle = client.inventory_page(page=57, status="Available")
    assert [u.id for u in middle.items] == [7] and middle.pages == 173 and not middle.last  # one quarantined
    assert session.sent[0]["params"] == {"status": "Available", "page": 57}
    assert client.inventory_page(page=173, status="Available").last
    assert client.inventory_page(page=174, status="Available").last


def test_a_sales_order_page_keeps_the_updated_at_filter_when_the_api_ignores_it(clock):
    def order(order_id: int, updated_at: str) -> dict[str, Any]:
        return {
            "id": order_id,
            "status": "Pending",
            "created_at": "2026-01-01T09:00:00.000Z",
            "updated_at": updated_at,
        }

    body = {"data": [order(1, "2026-01-01T09:00:00.000Z"), order(2, "2026-01-05T09:00:00.000Z")], "pages": 1}
    session = ScriptedSession([(200, body, {})])
    since = clock.now() - timedelta(days=2)
    listed = _client(session, clock).sales_order_page(page=1, updated_at_gt=since)
    assert [o.id for o in listed.items] == [2] and listed.last


def test_a_shape_bmsync_cannot_read_asks_for_attention_naming_the_field(clock):
    session = ScriptedSession([(200, {"status": "Pending"}, {})])
    with pytest.raises(UnexpectedResponse) as error:
        _client(session, clock).get_sales_order(5)
    assert error.value.needs_attention and "id" in str(error.value) and "contract.py" in error.value.action

    not_an_envelope = ScriptedSession([(200, [1, 2, 3], {})])
    with pytest.raises(UnexpectedResponse):
        _client(not_an_envelope, clock).list_sales_order_statuses()


def test_403_names_the_missing_permission_and_is_not_retried(clock):
    session = ScriptedSession([(403, {"error": "Forbidden"}, {})])
    with pytest.raises(Unauthorized) as error:
        _client(session, clock).list_sales_order_statuses()
    assert error.value.status == 403 and "permission" in error.value.message
    assert len(session.sent) == 1


def test_5xx_reads_back_off_exponentially_then_give_up(clock):
    session = ScriptedSession([(503, "<html>down</html>", {})] * 4)
    started = clock.monotonic()
    with pytest.raises(ServerError) as error:
        _client(session, clock, max_attempts=4, requests_per_second=100).get_sales_order(5)
    assert error.value.status == 503 and len(session.sent) == 4
    assert clock.monotonic() - started == pytest.approx(1 + 2 + 4, abs=0.05)
    assert "s3cr3t-value" not in str(error.value)

"""Proof that a run's log lines carry no token, Authorization header, cookie or buyer's personal data."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from bmsync import connection_secrets, secrets
from bmsync.errors import IntegrationError
from bmsync.observability import REDACTED, logger, redact
from bmsync.store.sync_state import RunRecord, SyncStateRepository
from bmsync.sync.flow import run_flow
from tests.conftest import FIXTURES

BACKMARKET_TOKEN = "bm-live-token-9f8e7d6c5b4a"
WHOLECELL_APP_SECRET = "wc-app-secret-0a1b2c3d4e"
SESSION_COOKIE = "sess-4b1d9c7e2f"
ADMIN_PASSWORD = "correct-horse-battery"


class RevokedToken(IntegrationError):
    service = "backmarket"
    needs_attention = True


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def _sample_order() -> dict[str, Any]:
    orders = json.loads((FIXTURES / "backmarket/samples/orders.json").read_text())
    return dict(orders[0])


def _personal_values(order: dict[str, Any]) -> list[str]:
    values: list[str] = []
    for address in (order["shipping_address"], order["billing_address"]):
        for key in ("first_name", "last_name", "street", "postal_code", "phone", "email"):
            if address.get(key):
                values.append(str(address[key]))
    return values


class FakeContext:
    function_name = "order_import"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:order_import"
    aws_request_id = "req-1"


def test_a_run_logs_no_token_header_cookie_or_personal_data(aws: None, clock, captured_logs) -> None:
    connection_secrets.write_backmarket_token("uk", BACKMARKET_TOKEN)
    connection_secrets.write_wholecell_credentials("uk", "app-1", WHOLECELL_APP_SECRET)
    secrets.reset_cache()
    order = _sample_order()
    buyer = order["shipping_address"]
    buyer_name = f"{buyer['first_name']} {buyer['last_name']}"
    admin_event = {
        "version": "2.0",
        "rawPath": "/api/settings",
        "headers": {
            "authorization": f"Bearer {BACKMARKET_TOKEN}",
            "cookie": f"bmsync_session={SESSION_COOKIE}",
        },
        "cookies": [f"bmsync_session={SESSION_COOKIE}"],
        "body": json.dumps({"password": ADMIN_PASSWORD, "backmarket_token": BACKMARKET_TOKEN}),
    }

    @logger.inject_lambda_context(log_event=True)
    def handler(event: dict[str, Any], context: object) -> None:
        token = connection_secrets.read_backmarket_token("uk")
        credentials = connection_secrets.read_wholecell_credentials("uk")
        state = SyncStateRepository("uk", clock)

        def body(run: RunRecord) -> None:
            logger.info("fetched order", extra={"order": order, "sku": order["orderlines"][0]["listing"]})
            logger.info(
                "created WholeCell sales order",
                extra={
                    "sales_order": {
                        "id": 991,
                        "external_id": str(order["order_id"]),
                        "customer": {"id": 12, "name": buyer_name},
                        "shipping_address": {"name": buyer_name, "street1": buyer["street"]},
                    }
                },
            )
            logger.info("request headers", extra={"headers": {"Authorization": f"Basic {token}"}})
            logger.info(f"calling Back Market with Authorization: Basic {token}")
            logger.info(f"WholeCell said: bad app secret {credentials.app_secret.get_secret_value()}")
            try:
                raise RuntimeError(f"401 for token {token} of {buyer['email']}")
            except RuntimeError:
                logger.exception("Back Market refused the token")
            raise RevokedToken(f"Back Market rejected token {token}")

        run_flow("order_import", state, clock, body, services=("backmarket",))

    handler(admin_event, FakeContext())

    text = captured_logs.getvalue()
    lines = _lines(captured_logs)
    assert len(lines) >= 8, text  # the event, six messages and the flow's warning all reached the log
    forbidden = [
        BACKMARKET_TOKEN,
        WHOLECELL_APP_SECRET,
        SESSION_COOKIE,
        ADMIN_PASSWORD,
        buyer_name,
        *_personal_values(order),
    ]
    leaked = [value for value in forbidden if value in text]
    assert leaked == [], f"leaked into the logs: {leaked}\n{text}"
    # What an operator needs is still there.
    assert str(order["order_id"]) in text
    assert order["orderlines"][0]["listing"] in text
    assert "Back Market refused the token" in text
    assert any(line.get("function_name") == "order_import" for line in lines)


def test_redaction_keeps_structure_and_scrubs_at_any_depth() -> None:
    payload = {
        "results": [{"shipping_address": {"first_name": "Alex"}, "order_id": 5, "state": 1}],
        "X-Api-Token": "abc",
        "note": "mail alex@example.com",
    }
    assert redact(payload) == {
        "results": [{"shipping_address": REDACTED, "order_id": 5, "state": 1}],
        "X-Api-Token": REDACTED,
        "note": "mail [email]",
    }


def test_a_reference_sample_is_fully_scrubbed_of_buyer_data() -> None:
    orders = json.loads((FIXTURES / "backmarket/samples/orders.json").read_text())
    dumped = json.dumps(redact(orders))
    for order in orders:
        for value in _personal_values(order):
            assert value not in dumped


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Basic dW5rbm93bi10b2tlbg==", "dW5rbm93bi10b2tlbg=="),
        ("headers={'Authorization': 'Bearer abc.def.ghi'}", "abc.def.ghi"),
        ('{"app_secret": "s3cr3t-value", "app_id": "app-1"}', "s3cr3t-value"),
        ("POST /login password=hunter22&user=ops", "hunter22"),
        ("Set-Cookie: bmsync_session=zzz999; HttpOnly", "zzz999"),
    ],
)
def test_credentials_never_seen_before_are_scrubbed_from_text(text: str, secret: str) -> None:
    scrubbed = redact(text)
    assert secret not in scrubbed
    assert REDACTED in scrubbed

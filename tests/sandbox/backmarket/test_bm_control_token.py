"""The Back Market emulator's token reset over its control API (the Seller Portal's "Recover my token")."""

from __future__ import annotations

import requests

from bmsync_sandbox.backmarket.server import BackMarketSandbox
from tests.integration.backmarket.conftest import USER_AGENT

TIMEOUT = 5


def _orders(sandbox: BackMarketSandbox, token: str) -> requests.Response:
    return requests.get(
        f"{sandbox.base_url}/ws/orders",
        headers={"Authorization": f"Basic {token}", "User-Agent": USER_AGENT},
        timeout=TIMEOUT,
    )


def test_a_new_token_is_issued_and_the_old_one_is_refused(bm_sandbox: BackMarketSandbox) -> None:
    old = bm_sandbox.token
    assert _orders(bm_sandbox, old).status_code == 200
    issued = requests.post(f"{bm_sandbox.base_url}/_sandbox/token", timeout=TIMEOUT)
    assert issued.status_code == 200, issued.text
    new = issued.json()["token"]
    assert new != old and len(new) >= 8
    refused = _orders(bm_sandbox, old)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
    assert _orders(bm_sandbox, new).status_code == 200


def test_a_chosen_token_is_set_and_a_malformed_one_refused(bm_sandbox: BackMarketSandbox) -> None:
    chosen = requests.post(
        f"{bm_sandbox.base_url}/_sandbox/token", json={"token": "my-own-test-token"}, timeout=TIMEOUT
    )
    assert chosen.status_code == 200 and chosen.json() == {"token": "my-own-test-token"}
    assert _orders(bm_sandbox, "my-own-test-token").status_code == 200
    for bad in ("short", "has a space in it", 12345678):
        refused = requests.post(f"{bm_sandbox.base_url}/_sandbox/token", json={"token": bad}, timeout=TIMEOUT)
        assert refused.status_code == 400, bad
        assert "token" in refused.json()["error"]["message"]
    assert _orders(bm_sandbox, "my-own-test-token").status_code == 200  # nothing changed

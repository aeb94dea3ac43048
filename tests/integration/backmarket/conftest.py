"""Back Market client <-> sandbox fixtures: both driven by one ManualClock, so budgets run in seconds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bmsync.backmarket import BackMarketClient
from bmsync.backmarket import client as client_module
from bmsync.backmarket.limiter import reset_shared_limiters
from bmsync.clock import ManualClock
from bmsync_sandbox.backmarket.server import BackMarketSandbox

USER_AGENT = "BM-Acme-bmsync;ops@acme.example"


@pytest.fixture
def bm_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def bm_sandbox(bm_clock: ManualClock) -> Iterator[BackMarketSandbox]:
    sandbox = BackMarketSandbox(clock=bm_clock, token="bm-test-token-7f3a9c", demo=True)
    sandbox.start(0)
    yield sandbox
    sandbox.stop()
    reset_shared_limiters()
    client_module._date_formats.clear()


@pytest.fixture
def empty_sandbox(bm_clock: ManualClock) -> Iterator[BackMarketSandbox]:
    sandbox = BackMarketSandbox(clock=bm_clock, token="bm-test-token-7f3a9c", demo=False)
    sandbox.start(0)
    yield sandbox
    sandbox.stop()
    reset_shared_limiters()
    client_module._date_formats.clear()


@pytest.fixture
def make_client(bm_clock: ManualClock) -> Callable[..., BackMarketClient]:
    def make(sandbox: BackMarketSandbox, **overrides: Any) -> BackMarketClient:
        options: dict[str, Any] = {
            "base_url": sandbox.base_url,
            "token_provider": lambda force_refresh: sandbox.token,
            "market": "en-gb",
            "user_agent": USER_AGENT,
            "clock": bm_clock,
            "timeout": (1.0, 2.0),
            **overrides,
        }
        return BackMarketClient(**options)

    return make


@pytest.fixture
def bm_client(
    bm_sandbox: BackMarketSandbox, make_client: Callable[..., BackMarketClient]
) -> BackMarketClient:
    return make_client(bm_sandbox)

"""A WholeCell sandbox on a free loopback port and a client for it, both on one ManualClock."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from bmsync.clock import ManualClock
from bmsync.connection_secrets import WholeCellCredentials
from bmsync.wholecell import WholeCellClient
from bmsync_sandbox.wholecell.server import WholeCellSandbox


@pytest.fixture
def wholecell_sandbox(clock: ManualClock) -> Iterator[WholeCellSandbox]:
    sandbox = WholeCellSandbox(clock=clock, demo=False)
    sandbox.start(0)
    yield sandbox
    sandbox.stop()


@pytest.fixture
def make_wholecell_client(clock: ManualClock) -> Callable[..., WholeCellClient]:
    def make(sandbox: WholeCellSandbox, **options) -> WholeCellClient:
        provider = options.pop(
            "credentials_provider",
            lambda force_refresh: WholeCellCredentials(app_id=sandbox.app_id, app_secret=sandbox.app_secret),
        )
        # The ManualClock makes the limiter and backoff instant; real time only passes on the wire.
        options.setdefault("timeout", (2.0, 5.0))
        return WholeCellClient(
            base_url=sandbox.base_url, credentials_provider=provider, clock=clock, **options
        )

    return make


@pytest.fixture
def wholecell(wholecell_sandbox: WholeCellSandbox, make_wholecell_client) -> WholeCellClient:
    return make_wholecell_client(wholecell_sandbox)

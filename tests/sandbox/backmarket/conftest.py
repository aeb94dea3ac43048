"""The Back Market emulator and a client for it, on one ManualClock: the product's client-test fixtures."""

from tests.integration.backmarket.conftest import (  # noqa: F401 (the shared fixtures)
    bm_clock,
    bm_sandbox,
    make_client,
)

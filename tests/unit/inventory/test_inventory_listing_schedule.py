"""listing_import's schedule: every 5 minutes, an import hourly, sooner after a failure."""

from __future__ import annotations

from bmsync.admin.ports import listing_import_event
from bmsync.store.sync_state import SyncStateRepository
from bmsync.sync.listing_import import FLOW, ON_DEMAND_SOURCE, import_due


def test_the_first_scheduled_import_is_due(aws: None, clock) -> None:
    assert import_due(SyncStateRepository("uk", clock), clock)


def test_after_a_success_the_next_import_waits_an_hour(aws: None, clock) -> None:
    state = SyncStateRepository("uk", clock)
    state.finish_run(state.start_run(FLOW), "succeeded")
    clock.advance(5 * 60)
    assert not import_due(state, clock)
    clock.advance(55 * 60)
    assert import_due(state, clock)


def test_after_a_failure_the_next_schedule_tries_again(aws: None, clock) -> None:
    state = SyncStateRepository("uk", clock)
    state.finish_run(state.start_run(FLOW), "failed", "Back Market answered 503")
    clock.advance(5 * 60)
    assert import_due(state, clock)


def test_the_admins_import_button_is_on_demand(clock) -> None:
    assert listing_import_event("uk", clock).source == ON_DEMAND_SOURCE

from __future__ import annotations

from typing import Any

import pytest

from bmsync.errors import IntegrationError
from bmsync.events import ScheduledEvent
from bmsync.settings import Settings
from bmsync.store.listings_repo import ListingsRepository
from bmsync.store.settings_repo import SettingsRepository
from bmsync.store.sync_state import RunRecord, SyncStateRepository
from bmsync.sync.flow import connections_for, lease_for, run_flow


class TokenRevoked(IntegrationError):
    service = "backmarket"
    needs_attention = True


class Unauthorized(TokenRevoked):
    pass


def test_a_run_is_recorded_with_its_counts(aws: None, clock) -> None:
    state = SyncStateRepository("uk", clock)

    def body(run: RunRecord) -> None:
        run.counts["imported"] = 2

    run = run_flow("order_import", state, clock, body)
    assert run.status == "succeeded" and run.counts == {"imported": 2}
    assert state.last_run("order_import") == run


def test_an_overlapping_run_is_skipped_not_run_twice(aws: None, clock) -> None:
    state = SyncStateRepository("uk", clock)
    calls: list[str] = []

    def outer(run: RunRecord) -> None:
        calls.append("outer")
        inner = run_flow("order_import", state, clock, lambda run: calls.append("inner"))
        assert inner.status == "skipped"

    run_flow("order_import", state, clock, outer)
    assert calls == ["outer"]


def test_a_revoked_token_becomes_a_critical_alert_cleared_by_the_next_good_run(aws: None, clock) -> None:
    state = SyncStateRepository("uk", clock)

    def revoked(run: RunRecord) -> None:
        raise Unauthorized("Back Market rejected the token (reset?)", status=401, action="Set a new token")

    run = run_flow("order_import", state, clock, revoked, services=("backmarket",))
    assert run.status == "failed" and run.error == "Back Market rejected the token (reset?)"
    [alert] = state.alerts()
    assert alert.severity == "critical" and alert.action == "Set a new token"

    # A flow that cannot resend the pushes the token failed (shipment_export) leaves it raised.
    run_flow("shipment_export", state, clock, lambda run: None, services=("backmarket",))
    assert [alert.severity for alert in state.alerts()] == ["critical"]
    run_flow(
        "order_import",
        state,
        clock,
        lambda run: None,
        services=("backmarket",),
        listings=ListingsRepository("uk"),
    )
    assert state.alerts() == []


def test_an_unexpected_error_is_recorded_released_and_raised(aws: None, clock) -> None:
    state = SyncStateRepository("uk", clock)

    def broken(run: RunRecord) -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        run_flow("order_import", state, clock, broken)
    last = state.last_run("order_import")
    assert last is not None and last.status == "failed" and "boom" in (last.error or "")
    assert run_flow("order_import", state, clock, lambda run: None).status == "succeeded"


class _Context:
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:bmsync-order-import"


def _scheduled(clock, connection_id: str | None = None) -> ScheduledEvent:
    return ScheduledEvent(function="order_import", scheduled_time=clock.now(), connection_id=connection_id)


def test_a_scheduled_run_for_several_connections_starts_one_invocation_each(aws: None, clock) -> None:
    repo = SettingsRepository()
    for connection_id in ("eu", "us", "ap"):
        repo.save(Settings(connection_id=connection_id))
    started: list[tuple[str, dict[str, Any]]] = []

    runs_here = connections_for(
        _scheduled(clock), _Context(), fan_out=lambda arn, event: started.append((arn, event))
    )

    assert runs_here == []
    assert [arn for arn, _ in started] == [_Context.invoked_function_arn] * 3
    assert [ScheduledEvent.model_validate(event) for _, event in started] == [
        _scheduled(clock, connection_id) for connection_id in ("ap", "eu", "us")
    ]
    # Each invocation then runs its own connection only.
    assert [s.connection_id for s in connections_for(_scheduled(clock, "us"), _Context())] == ["us"]


def test_a_single_connection_runs_in_the_scheduled_invocation_itself(aws: None, clock) -> None:
    SettingsRepository().save(Settings(connection_id="eu"))

    def never(arn: str, event: dict[str, Any]) -> None:
        raise AssertionError("one connection needs no fan-out")

    assert [s.connection_id for s in connections_for(_scheduled(clock), _Context(), fan_out=never)] == ["eu"]
    assert connections_for(_scheduled(clock, "gone"), _Context(), fan_out=never) == []


def test_a_crashed_runs_lock_holds_the_next_runs_only_until_its_functions_timeout(aws: None, clock) -> None:
    """A run killed mid-way (Lambda's timeout, a crash) never releases its lock; the next minute's runs
    are skipped while it holds, and run again once the function's timeout (and a margin) has passed."""
    from bmsync.catalog import by_name
    from bmsync.sync.flow import LEASE_MARGIN

    state = SyncStateRepository("uk", clock)
    assert state.acquire_lock("order_import", "a run that died", lease_for("order_import"))
    timeout = by_name("order_import").timeout_seconds
    clock.advance(timeout - 1)
    assert run_flow("order_import", state, clock, lambda run: None).status == "skipped"
    clock.advance(1 + LEASE_MARGIN.total_seconds() + 1)
    assert run_flow("order_import", state, clock, lambda run: None).status == "succeeded"
    # A task's flow has its function's lease; a flow of no function has none to guess.
    assert lease_for("quantity_sync.drift_check").total_seconds() == (
        by_name("quantity_sync").timeout_seconds + LEASE_MARGIN.total_seconds()
    )
    with pytest.raises(KeyError):
        lease_for("no_such_function")

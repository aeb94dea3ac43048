"""How every scheduled flow runs for one connection: a lease lock, a run record, plain-words failures.

Two overlapping invocations of a flow (a slow run and the next minute's schedule) never run at once
for one connection: the second finds the lock held and records a skipped run. A crashed run's lock
expires with its lease. An :class:`IntegrationError` that needs a person (a revoked token) becomes a
critical alert; it clears by itself on the next successful run of a flow that talks to that service.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Literal

from bmsync.clock import Clock
from bmsync.errors import IntegrationError
from bmsync.observability import logger
from bmsync.store.sync_state import RunRecord, SyncStateRepository

FlowBody = Callable[[RunRecord], None]


#: Error class names (lower-cased) whose alerts a successful run clears.
ATTENTION_ERRORS = ("unauthorized", "forbidden", "blocked")


def attention_alert_id(error: IntegrationError) -> str:
    return f"{error.service}-{type(error).__name__.lower()}"


def run_flow(
    flow: str,
    state: SyncStateRepository,
    clock: Clock,
    body: FlowBody,
    *,
    services: tuple[str, ...] = (),
    lease: timedelta = timedelta(minutes=5),
) -> RunRecord:
    """Run ``body`` under the flow's lock and record the run; ``body`` fills ``run.counts``.

    ``body`` may update ``run.progress``/``run.counts`` and call ``state.save_run(run)`` on long work.
    Errors are recorded and re-raised, except integration errors, which are recorded as the run's
    failure (and an alert where a person must act) so that the schedule simply tries again.
    ``services`` names the services ``body`` talks to ("backmarket", "wholecell"): a successful run
    proves their credentials work, so their attention alerts are cleared.
    """
    owner = uuid.uuid4().hex
    if not state.acquire_lock(flow, owner, lease):
        run = state.start_run(flow)
        logger.info("flow skipped: another run holds the lock", extra={"flow": flow})
        return state.finish_run(run, "skipped", "another run of this flow was still working")
    run = state.start_run(flow)
    outcome: Literal["succeeded", "failed"] = "failed"
    error_text: str | None = None
    try:
        body(run)
        outcome = "succeeded"
        state.clear_alerts(f"{service}-{attention}" for service in services for attention in ATTENTION_ERRORS)
    except IntegrationError as error:
        error_text = error.message
        logger.warning(
            "flow failed on an integration error",
            extra={"flow": flow, "remote_service": error.service, "error_type": type(error).__name__},
        )
        if error.needs_attention:
            state.raise_alert(
                attention_alert_id(error),
                error.message,
                severity="critical",
                action=error.action,
                subject="connection",
            )
    except Exception as error:
        error_text = f"{type(error).__name__}: {error}"
        state.release_lock(flow, owner)
        state.finish_run(run, "failed", error_text)
        raise
    state.release_lock(flow, owner)
    return state.finish_run(run, outcome, error_text)

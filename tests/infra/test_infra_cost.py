"""The cost estimate in docs/deploy.md is the one computed from the template the stack synthesizes."""

from __future__ import annotations

from typing import Any

from bmsync.catalog import FUNCTIONS
from infra.config import REPO
from infra.cost import DOC_TABLE, MINUTES_PER_MONTH, Volume, estimate, markdown


def _line(lines: list[Any], service: str) -> Any:
    return next(line for line in lines if line.service == service)


def test_docs_show_the_estimate_of_the_current_stack(deployed: Any) -> None:
    doc = (REPO / "docs" / "deploy.md").read_text()
    shown = DOC_TABLE.search(doc)
    assert shown, "docs/deploy.md lost its cost table markers"
    assert shown.group(2) == markdown(estimate(deployed.raw)), (
        "the stack changed: run `make synth && .venv/bin/python -m infra.cost --write-docs`"
    )


def test_estimate_counts_what_the_template_deploys(deployed: Any) -> None:
    lines = estimate(deployed.raw)
    # Every schedule of the catalogue, over 30 days (two every-minute polls make most of them).
    runs = sum(MINUTES_PER_MONTH // minutes for spec in FUNCTIONS for _, minutes in spec.schedules)
    assert runs > 2 * MINUTES_PER_MONTH
    assert f"{runs:,} scheduled" in _line(lines, "Lambda requests").arithmetic
    assert _line(lines, "Secrets Manager").arithmetic.startswith("3 secrets")
    alarms = len(deployed.resources("AWS::CloudWatch::Alarm"))
    assert _line(lines, "CloudWatch alarms + dashboard").arithmetic.startswith(f"{alarms} alarms")
    assert 5 < sum(line.usd for line in lines) < 40


def test_estimate_follows_volume_and_schedules(deployed: Any, customized: Any) -> None:
    base = sum(line.usd for line in estimate(deployed.raw))
    busier = sum(line.usd for line in estimate(deployed.raw, Volume(orders=15_000, stock_changes=90_000)))
    assert base < busier
    # The customized stack polls every 5 minutes instead of every minute.
    assert sum(line.usd for line in estimate(customized.raw)) < base

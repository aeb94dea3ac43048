"""Point 9 of issue 18: every cdk-nag acknowledgement answers a finding cdk-nag really makes.

A stale acknowledgement (its resource or its finding gone) would silently hide a future finding of
the same id there. So the stack is synthesized once more with no acknowledgement at all, and each
acknowledgement of the real stack must name a finding of that synthesis at its construct or below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import infra.nag
from infra.synth import nag_findings

Acknowledged = list[tuple[str, str]]


class _Recording:
    """Stands in for ``aws_cdk.Validations``: records each acknowledgement instead of making it."""

    def __init__(self, into: Acknowledged) -> None:
        self._into = into

    def of(self, scope: Any) -> Any:
        into = self._into

        class _Scope:
            def acknowledge(self, acknowledgment: Any) -> None:
                into.append((scope.node.path, acknowledgment.id))

        return _Scope()


def _unacknowledged(
    context: dict[str, Any], layer: Path, outdir: Path
) -> tuple[Acknowledged, list[tuple[str, str]]]:
    """Synthesize without acknowledgements: (what would have been acknowledged, every finding)."""
    from infra.app import build_app

    acknowledged: Acknowledged = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(infra.nag, "Validations", _Recording(acknowledged))
        app, _ = build_app({"layer_dir": str(layer), **context}, outdir=str(outdir))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    findings = []
    for line in nag_findings(outdir):
        # "<plugin>: <rule> at <construct path>: <description>"
        rule, _, rest = line.split(": ", 1)[1].partition(" at ")
        findings.append((rule, rest.split(": ", 1)[0]))
    return acknowledged, findings


def _answers(acknowledgement: tuple[str, str], finding: tuple[str, str]) -> bool:
    path, rule = acknowledgement
    found_rule, found_path = finding
    same_rule = found_rule == rule if "[" in rule else found_rule.split("[")[0] == rule
    return same_rule and (found_path == path or found_path.startswith(f"{path}/"))


@pytest.fixture(scope="module")
def without_acknowledgements(
    tmp_path_factory: pytest.TempPathFactory, stand_in_layer: Path
) -> tuple[Acknowledged, list[tuple[str, str]]]:
    return _unacknowledged({}, stand_in_layer, tmp_path_factory.mktemp("unacknowledged"))


def test_each_acknowledgement_matches_a_real_finding(
    without_acknowledgements: tuple[Acknowledged, list[tuple[str, str]]],
) -> None:
    acknowledged, findings = without_acknowledgements
    assert len(acknowledged) > 20
    stale = [a for a in acknowledged if not any(_answers(a, finding) for finding in findings)]
    assert stale == []


def test_each_finding_is_acknowledged_where_it_is_made(
    without_acknowledgements: tuple[Acknowledged, list[tuple[str, str]]],
) -> None:
    """The other half: the recording saw every acknowledgement the real synthesis relies on."""
    acknowledged, findings = without_acknowledgements
    assert [f for f in findings if not any(_answers(a, f) for a in acknowledged)] == []


def test_only_scheduled_functions_are_acknowledged_on_the_schedules_role(
    without_acknowledgements: tuple[Acknowledged, list[tuple[str, str]]], deployed: Any
) -> None:
    acknowledged, _ = without_acknowledgements
    on_schedules = {rule for path, rule in acknowledged if path == "bmsync/Schedules/InvokeRole"}
    scheduled = {
        deployed.logical_id(deployed.stack.functions.by_name[name])
        for name, spec in deployed.stack.functions.specs.items()
        if spec.schedules
    }
    assert on_schedules == {
        f"AwsSolutions-IAM5[Resource::<{function_id}.Arn>:*]" for function_id in scheduled
    }
    admin_id = deployed.logical_id(deployed.stack.functions.by_name["admin"])
    assert not any(admin_id in rule for rule in on_schedules)


def test_a_stale_acknowledgement_is_caught(
    without_acknowledgements: tuple[Acknowledged, list[tuple[str, str]]], deployed: Any
) -> None:
    """The check itself: an acknowledgement for a function that has no schedule matches no finding."""
    _, findings = without_acknowledgements
    admin_id = deployed.logical_id(deployed.stack.functions.by_name["admin"])
    stale = ("bmsync/Schedules/InvokeRole", f"AwsSolutions-IAM5[Resource::<{admin_id}.Arn>:*]")
    assert not any(_answers(stale, finding) for finding in findings)
    real = next(a for a in without_acknowledgements[0] if a[0] == "bmsync/Schedules/InvokeRole")
    assert any(_answers(real, finding) for finding in findings)

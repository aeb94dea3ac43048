"""``make synth``: synthesize offline, fail on any unacknowledged cdk-nag finding, lint the templates.

cdk-nag's AwsSolutions and Serverless packs run as CDK validation plugins during synthesis (see
:mod:`infra.app`); CDK writes their report to ``cdk.out/validation-report.json``. cfn-lint then checks
every template CDK wrote. The context is ``cdk.json``'s, as ``cdk synth`` would use it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from cfnlint.api import ManualArgs, lint_file

from infra.app import build_app
from infra.config import REPO, DeployConfig, resolve_layer_dir
from infra.layer import layer_problems

#: cfn-lint checks left out, each with why.
IGNORED_LINT_CHECKS = {
    # CDK makes each function DependsOn its role as well as the role's policy; the role part repeats
    # what the GetAtt already implies. Harmless, and not ours to remove.
    "W3005": "obsolete DependsOn that CDK generates for a function's role",
}


def cdk_context() -> dict[str, Any]:
    context = json.loads((REPO / "cdk.json").read_text())["context"]
    return {key: value for key, value in context.items() if not key.startswith("//")}


def nag_findings(outdir: Path) -> list[str]:
    """The unacknowledged findings of the validation report, one line each."""
    report_file = outdir / "validation-report.json"
    if not report_file.exists():
        return []
    lines = []
    for plugin in json.loads(report_file.read_text()).get("pluginReports", []):
        for violation in plugin.get("violations", []):
            for construct in violation.get("violatingConstructs", []):
                lines.append(
                    f"{plugin['pluginName']}: {violation['ruleName']} at {construct['constructPath']}: "
                    f"{violation['description']}"
                )
    return lines


def acknowledgements(outdir: Path) -> list[tuple[str, str, str]]:
    """Every acknowledged finding in the templates: (resource, rule, reason), from ``Metadata.cdk_nag``."""
    found = []
    for template in sorted(outdir.glob("*.template.json")):
        for logical_id, resource in json.loads(template.read_text())["Resources"].items():
            for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
                found.append((logical_id, rule["id"], rule.get("reason", "")))
    return found


def lint(outdir: Path) -> list[str]:
    problems: list[str] = []
    config = ManualArgs(ignore_checks=sorted(IGNORED_LINT_CHECKS))
    for template in sorted(outdir.glob("*.template.json")):
        problems.extend(str(match) for match in lint_file(template, config=config))
    return problems


def synthesize(outdir: Path, context: dict[str, Any]) -> list[str]:
    """Synthesize into ``outdir``; the problems found (empty: deployable)."""
    (outdir / "validation-report.json").unlink(missing_ok=True)
    app, _ = build_app(context, outdir=str(outdir))
    try:
        app.synth()
    except RuntimeError as error:
        findings = nag_findings(outdir)
        if not findings:
            raise
        return [f"cdk-nag: {line}" for line in findings] + [f"synthesis stopped: {error}"]
    return [f"cfn-lint: {problem}" for problem in lint(outdir)]


def main() -> int:
    outdir = REPO / "cdk.out"
    context = cdk_context()
    layer_dir = resolve_layer_dir(context.get("layer_dir") or DeployConfig.model_fields["layer_dir"].default)
    problems = [f"layer: {problem}" for problem in layer_problems(layer_dir)]
    if not problems:
        problems = synthesize(outdir, context)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"make synth: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    templates = ", ".join(path.name for path in sorted(outdir.glob("*.template.json")))
    acknowledged = acknowledgements(outdir)
    rules = sorted({rule.split("[")[0] for _, rule, _ in acknowledged})
    print(
        f"make synth: {templates} synthesized; cdk-nag (AwsSolutions, Serverless) and cfn-lint clean; "
        f"{len(acknowledged)} acknowledged findings, each with its reason in Metadata.cdk_nag "
        f"({', '.join(rules)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``make synth``'s gates (cdk-nag as validation plugins, cfn-lint) and the deploy-time options."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from infra.config import DeployConfig
from infra.layer import REQUIRED_PACKAGES, layer_problems
from infra.synth import acknowledgements, cdk_context, lint, nag_findings


def test_the_default_stack_has_no_unacknowledged_finding_and_lints_clean(deployed: Any) -> None:
    assert nag_findings(deployed.outdir) == []
    assert lint(deployed.outdir) == []


def test_every_acknowledged_finding_carries_its_reason_in_the_template(deployed: Any) -> None:
    acknowledged = acknowledgements(deployed.outdir)
    assert len(acknowledged) > 20
    for logical_id, rule, reason in acknowledged:
        assert len(reason.split()) >= 8, f"{rule} on {logical_id} needs a written reason"
    # The public Function URL is a deliberate choice, not an acknowledged finding: no pack flags it.
    rules = {rule.split("[")[0] for _, rule, _ in acknowledged}
    assert rules == {
        "AwsSolutions-IAM5",
        "AwsSolutions-L1",
        "AwsSolutions-SMG4",
        "AwsSolutions-SQS3",
        "Serverless-LambdaDLQ",
        "Serverless-LambdaEventSourceMappingDestination",
        "Serverless-LambdaLatestVersion",
        "Serverless-SQSRedrivePolicy",
    }


def test_an_unacknowledged_finding_stops_the_synthesis(tmp_path: Path, stand_in_layer: Path) -> None:
    from aws_cdk import aws_sqs as sqs

    from infra.app import build_app

    app, stack = build_app({"layer_dir": str(stand_in_layer)}, outdir=str(tmp_path))
    sqs.Queue(stack, "Careless", encryption=sqs.QueueEncryption.UNENCRYPTED)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    findings = nag_findings(tmp_path)
    assert any("AwsSolutions-SQS4" in line and "bmsync/Careless" in line for line in findings)
    assert all("bmsync/Careless" in line for line in findings), "only the careless queue is at fault"


def test_cfn_lint_reports_a_broken_template(tmp_path: Path) -> None:
    template = {
        "Resources": {
            "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {"BillingMode": "SOMETIMES"}},
        }
    }
    (tmp_path / "broken.template.json").write_text(json.dumps(template))
    problems = lint(tmp_path)
    assert any("SOMETIMES" in problem for problem in problems)
    assert any("KeySchema" in problem for problem in problems)


def test_cdk_json_holds_the_documented_defaults(stand_in_layer: Path) -> None:
    context = cdk_context()
    config = DeployConfig.from_context(lambda key: {**context, "layer_dir": str(stand_in_layer)}.get(key))
    assert config.connections == ("default",)
    assert config.backmarket_reserved_concurrency == 2
    assert config.admin_reserved_concurrency == 5
    assert config.alarm_email is None
    assert (config.log_retention_days, config.log_level, config.stack_name) == (30, "INFO", "bmsync")


def _config(stand_in_layer: Path, **values: Any) -> DeployConfig:
    return DeployConfig.model_validate({"layer_dir": str(stand_in_layer), **values})


def test_command_line_text_is_understood(stand_in_layer: Path) -> None:
    config = _config(stand_in_layer, connections="eu, us", schedules='{"order_import:catch_up": 0}')
    assert config.connections == ("eu", "us")
    assert config.minutes("order_import", "catch_up", 1440) == 0
    assert config.minutes("order_import", None, 1) == 1


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"connections": "EU"}, "connections", "lower-case"),
        ({"connections": "eu,eu"}, "connections", "unique"),
        ({"schedules": {"order_imports": 5}}, "schedules", "unknown schedule"),
        ({"schedules": {"order_import": -1}}, "schedules", "0 (disabled)"),
        ({"log_retention_days": 31}, "log_retention_days", "one of"),
        ({"alarm_email": "not-an-address"}, "alarm_email", "pattern"),
        ({"backmarket_reserved_concurrency": -1}, "backmarket_reserved_concurrency", "greater than"),
        ({"admin_reserved_concurrency": 101}, "admin_reserved_concurrency", "less than"),
    ],
)
def test_bad_options_are_refused_naming_the_option(
    stand_in_layer: Path, values: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        _config(stand_in_layer, **values)
    assert field in str(raised.value) and words in str(raised.value)


def test_a_missing_layer_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="run `make layer` first"):
        DeployConfig(layer_dir=tmp_path / "nothing")


def _layer(root: Path, *names: str) -> Path:
    for name in names:
        (root / "python" / name).mkdir(parents=True)
    return root


def test_a_complete_layer_for_the_lambda_runtime_passes(tmp_path: Path) -> None:
    layer = _layer(tmp_path, *REQUIRED_PACKAGES)
    (layer / "python" / "pydantic_core" / "_pydantic_core.cpython-312-x86_64-linux-gnu.so").write_bytes(b"")
    assert layer_problems(layer) == []


def test_layer_mistakes_that_would_only_show_at_a_cold_start_are_caught(tmp_path: Path) -> None:
    missing_xray = [name for name in REQUIRED_PACKAGES if name != "aws_xray_sdk"]
    layer = _layer(tmp_path, *missing_xray, "botocore")
    (layer / "python" / "pydantic_core" / "_pydantic_core.cpython-311-darwin.so").write_bytes(b"")
    problems = layer_problems(layer)
    assert any("lacks aws_xray_sdk" in problem for problem in problems)
    assert any("carries botocore" in problem for problem in problems)
    assert any("_pydantic_core.cpython-311-darwin.so is not built for CPython 3.12" in p for p in problems)
    assert len(problems) == 3


def test_no_layer_at_all_says_how_to_build_it(tmp_path: Path) -> None:
    assert layer_problems(tmp_path) == [f"{tmp_path}/python does not exist: run `make layer`"]

"""Synthesize the CDK app once per session (jsii is slow to start) against a tiny stand-in layer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from aws_cdk.assertions import Template


@dataclass
class Synthesized:
    template: Template
    raw: dict[str, Any]
    stack: Any
    outdir: Path

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {lid: r for lid, r in self.raw["Resources"].items() if r["Type"] == kind}

    def logical_id(self, construct: Any) -> str:
        return str(self.stack.get_logical_id(construct.node.default_child))


@pytest.fixture(scope="session")
def stand_in_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    layer = tmp_path_factory.mktemp("layer")
    (layer / "python").mkdir()
    (layer / "python" / "placeholder.py").write_text("# the tests do not need the real layer\n")
    return layer


@pytest.fixture(scope="session")
def synth(
    tmp_path_factory: pytest.TempPathFactory, stand_in_layer: Path
) -> Callable[[dict[str, Any]], Synthesized]:
    # infra first: it quiets jsii's Node banner before aws_cdk starts the kernel.
    from infra.app import build_app

    def run(context: dict[str, Any]) -> Synthesized:
        outdir = tmp_path_factory.mktemp("cdk.out")
        app, stack = build_app({"layer_dir": str(stand_in_layer), **context}, outdir=str(outdir))
        assembly = app.synth()
        raw = assembly.get_stack_by_name(stack.stack_name).template
        from aws_cdk.assertions import Template

        return Synthesized(Template.from_json(raw), raw, stack, outdir)

    return run


@pytest.fixture(scope="session")
def deployed(synth: Callable[[dict[str, Any]], Synthesized]) -> Synthesized:
    """The stack with cdk.json's defaults."""
    from infra.synth import cdk_context

    context = {key: value for key, value in cdk_context().items() if key != "layer_dir"}
    return synth(context)


#: Every option away from its default, so one more synthesis covers them all.
CUSTOM_CONTEXT = {
    "connections": "eu,us",
    "backmarket_reserved_concurrency": 0,
    "admin_reserved_concurrency": 3,
    "alarm_email": "ops@seller.example",
    "schedules": {"listing_import": 120, "order_import:catch_up": 0, "order_import": 5, "wholecell_watch": 5},
    "log_retention_days": 90,
}


@pytest.fixture(scope="session")
def customized(synth: Callable[[dict[str, Any]], Synthesized]) -> Synthesized:
    """The stack with every option of ``CUSTOM_CONTEXT``."""
    return synth(CUSTOM_CONTEXT)

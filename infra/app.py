"""The CDK app: ``cdk deploy`` runs it (``cdk.json``); ``make synth`` runs it offline (:mod:`infra.synth`).

cdk-nag's AwsSolutions and Serverless packs run as validation plugins: a finding that is not
acknowledged (with its written reason, next to the resource it concerns) fails the synthesis.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from infra.config import DeployConfig
from infra.stack import BmsyncStack


def build_app(context: dict[str, Any] | None = None, *, outdir: str | None = None) -> tuple[App, BmsyncStack]:
    app = App(context=context, outdir=outdir)
    config = DeployConfig.from_context(app.node.try_get_context)
    stack = BmsyncStack(app, config.stack_name, config=config)
    # Acknowledgements are also written into the template (Metadata.cdk_nag): the audit trail ships with it.
    Validations.of(app).add_plugins(
        AwsSolutionsChecks(app, write_suppressions_to_cloud_formation=True),
        ServerlessChecks(app, write_suppressions_to_cloud_formation=True),
    )
    return app, stack


def main() -> None:
    app, _ = build_app()
    app.synth()


if __name__ == "__main__":
    main()

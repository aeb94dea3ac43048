"""The CDK app that deploys bmsync into a seller's AWS account (``cdk deploy``; ``make synth`` offline)."""

import os

# jsii's Node.js runtime prints a banner about the Node version of this machine on every start: it says
# nothing about bmsync and would bury the findings of ``make synth`` (docs/deploy.md names the Node to use).
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")

"""The one stack of bmsync, composed of its constructs."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.config import DeployConfig
from infra.functions import Functions
from infra.monitoring import Monitoring
from infra.schedules import Schedules
from infra.secrets import Secrets
from infra.tables import Tables


class BmsyncStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: DeployConfig) -> None:
        super().__init__(
            scope,
            construct_id,
            description="bmsync: WholeCell <-> Back Market integration (orders, quantities, shipments)",
        )
        self.config = config
        self.tables = Tables(self, "Tables")
        self.secrets = Secrets(self, "Secrets", connections=config.connections)
        self.functions = Functions(self, "Functions", config=config, tables=self.tables, secrets=self.secrets)
        self.schedules = Schedules(self, "Schedules", config=config, functions=self.functions)
        dead_letter_queues = {f"{name} failures": q for name, q in self.functions.failure_queues.items()}
        dead_letter_queues["schedule dead letters"] = self.schedules.dead_letters
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            functions=self.functions,
            dead_letter_queues=dead_letter_queues,
        )
        if self.functions.function_url is not None:
            CfnOutput(
                self, "AdminUrl", value=self.functions.function_url.url, description="the bmsync console"
            )
        CfnOutput(
            self, "AlarmTopic", value=self.monitoring.topic.topic_arn, description="subscribe to alarms"
        )
        CfnOutput(
            self,
            "SecretNames",
            value=", ".join(self.secrets.names),
            description="created empty: set them in the admin (`bmsync admin set-password` for bmsync/admin)",
        )

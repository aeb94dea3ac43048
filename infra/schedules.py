"""EventBridge Scheduler schedules: each function's rates from the catalogue, with the payload
``bmsync.events.ScheduledEvent`` parses (the scheduled time filled in by Scheduler)."""

from __future__ import annotations

from typing import cast

from aws_cdk import CfnElement, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import DeployConfig, schedule_key
from infra.functions import Functions, failure_queue
from infra.nag import acknowledge

#: Scheduler retries a failed delivery (throttling, a missing permission) twice, then dead-letters it:
#: the next scheduled run does the same work, so piling up retries only adds load.
RETRY_ATTEMPTS = 2


def payload(function: str, task: str | None) -> dict[str, str]:
    event = {
        "source": "bmsync.schedule",
        "function": function,
        "scheduled_time": scheduler.ContextAttribute.scheduled_time,
    }
    if task:
        event["task"] = task
    return event


class Schedules(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: DeployConfig, functions: Functions
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters: sqs.Queue = failure_queue(
            self, "DeadLetters", "schedules Scheduler could not deliver"
        )
        group = scheduler.ScheduleGroup(self, "Group")
        # One role for every schedule, assumable by Scheduler for this account only (confused deputy).
        role = iam.Role(
            self,
            "InvokeRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            ),
            description="bmsync schedules: invoke the scheduled functions",
        )
        self.by_key: dict[str, scheduler.Schedule] = {}
        for name, spec in functions.specs.items():
            for task, default_minutes in spec.schedules:
                key = schedule_key(name, task)
                minutes = config.minutes(name, task, default_minutes)
                every = minutes or default_minutes  # a disabled schedule keeps its usual rate
                self.by_key[key] = scheduler.Schedule(
                    self,
                    key.replace(":", "-"),
                    description=f"bmsync {key}: every {every} minute(s)",
                    schedule=scheduler.ScheduleExpression.rate(Duration.minutes(every)),
                    schedule_group=group,
                    enabled=minutes > 0,
                    target=targets.LambdaInvoke(
                        functions.by_name[name],
                        input=scheduler.ScheduleTargetInput.from_object(payload(name, task)),
                        retry_attempts=RETRY_ATTEMPTS,
                        # A delivery later than the next run is worthless: that run does the work.
                        max_event_age=Duration.seconds(min(max(60, every * 60), 24 * 3600)),
                        dead_letter_queue=self.dead_letters,
                        role=role,
                    ),
                )
            if not spec.schedules:
                continue  # no schedule, so no grant: an acknowledgement here would hide a future finding
            function_resource = cast(CfnElement, functions.by_name[name].node.default_child)
            function_id = Stack.of(self).get_logical_id(function_resource)
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::<{function_id}.Arn>:*]",
                "CDK's Lambda target grants invoke on the function and its versions; only bmsync's "
                "scheduled functions are named.",
            )

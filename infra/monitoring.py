"""Alarms a person must act on, sent to one SNS topic (e-mail), and a dashboard of the whole system.

Alarms: a function's errors and throttles, a dead-letter queue holding anything, a stream consumer
falling behind, and Back Market rejecting the token (the seller reset it: every flow stops until the
new one is saved in the admin).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from bmsync.catalog import FunctionSpec
from infra.config import DeployConfig
from infra.functions import METRICS_NAMESPACE, Functions
from infra.nag import acknowledge

PERIOD = Duration.minutes(5)
#: A stream consumer this far behind is no longer near real time (Back Market oversells meanwhile).
ITERATOR_AGE_LIMIT = Duration.minutes(15)
TOKEN_REJECTED_METRIC = "BackMarketTokenRejected"  # noqa: S105 (a metric name)


def token_rejected_pattern(spec: FunctionSpec) -> logs.IFilterPattern:
    """The log lines of ``spec`` that say Back Market rejected the token (401 after a fresh read).

    Failures are logged with ``error_type`` (the error's class) and, by ``run_flow``, ``remote_service``.
    A function that calls WholeCell too must name the service: WholeCell's 401 is ``Unauthorized`` too.
    """
    unauthorized = logs.FilterPattern.string_value("$.error_type", "=", "Unauthorized")
    if not spec.calls_wholecell:
        return unauthorized
    return logs.FilterPattern.all(
        logs.FilterPattern.string_value("$.remote_service", "=", "backmarket"), unauthorized
    )


_THROTTLE_ADVICE = {
    False: "raise backmarket_reserved_concurrency or the account's Lambda concurrency quota.",
    True: "more requests than admin_reserved_concurrency at once (a flood of the public URL is cut off "
    "here on purpose); raise it only if the console itself is refused.",
}


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeployConfig,
        functions: Functions,
        dead_letter_queues: dict[str, sqs.Queue],
    ) -> None:
        super().__init__(scope, construct_id)
        # CloudWatch can only publish to an encrypted topic whose key lets it: a key of our own.
        key = kms.Key(self, "AlarmsKey", enable_key_rotation=True, description="bmsync alarm topic")
        key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        self.topic = sns.Topic(self, "Alarms", display_name="bmsync alarms", master_key=key, enforce_ssl=True)
        if config.alarm_email:
            subscription = self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
            acknowledge(
                subscription,
                "Serverless-SNSRedrivePolicy",
                "An e-mail that cannot be delivered (a bounced address) is not worth replaying: the alarm "
                "itself stays visible in CloudWatch and on the dashboard until it is resolved.",
            )
        self.alarms: list[cloudwatch.Alarm] = []

        for name, function in functions.by_name.items():
            self._alarm(
                f"{name}-errors",
                function.metric_errors(period=PERIOD, statistic="Sum"),
                f"bmsync {name} failed (an unexpected error, not a Back Market/WholeCell answer). "
                f"Open its log group, find the error and fix or report it; failed events wait in its queue.",
            )
            self._alarm(
                f"{name}-throttles",
                function.metric_throttles(period=PERIOD, statistic="Sum"),
                f"bmsync {name} was throttled: {_THROTTLE_ADVICE[bool(functions.specs[name].function_url)]}",
            )
            if functions.specs[name].streams:
                self._alarm(
                    f"{name}-iterator-age",
                    function.metric("IteratorAge", period=PERIOD, statistic="Maximum"),
                    f"bmsync {name} is more than {ITERATOR_AGE_LIMIT.to_minutes()} minutes behind its "
                    "table stream: check its errors and throttles.",
                    threshold=ITERATOR_AGE_LIMIT.to_milliseconds(),
                )

        for name, queue in dead_letter_queues.items():
            self._alarm(
                f"{name}-dead-letters",
                queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
                f"bmsync: {name} holds work that was given up on. Read the messages (they name the "
                "function, the records or the schedule), fix the cause, then replay or purge them.",
            )

        token_metric = cloudwatch.Metric(
            namespace=METRICS_NAMESPACE, metric_name=TOKEN_REJECTED_METRIC, period=PERIOD, statistic="Sum"
        )
        for name, spec in functions.specs.items():
            if spec.calls_backmarket:
                logs.MetricFilter(
                    self,
                    f"{name}-token-rejected",
                    log_group=functions.log_groups[name],
                    filter_pattern=token_rejected_pattern(spec),
                    metric_namespace=METRICS_NAMESPACE,
                    metric_name=TOKEN_REJECTED_METRIC,
                    metric_value="1",
                )
        self._alarm(
            "backmarket-token-rejected",
            token_metric,
            "Back Market rejected the API token (reset by a password change, or for another platform): "
            "orders, quantities and shipments are stopped. Get a new token (Back Market > Support > "
            "Technical Support > Recover my token) and save it in the bmsync admin.",
        )

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.days(1))
        functions_by_name = list(functions.by_name.items())
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Invocations",
                left=[f.metric_invocations(label=n, period=PERIOD) for n, f in functions_by_name],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Errors and throttles",
                left=[f.metric_errors(label=n, period=PERIOD) for n, f in functions_by_name],
                right=[f.metric_throttles(label=n, period=PERIOD) for n, f in functions_by_name],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Duration (p95, ms)",
                left=[
                    f.metric_duration(label=n, period=PERIOD, statistic="p95") for n, f in functions_by_name
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Stream iterator age (max, ms)",
                left=[
                    f.metric("IteratorAge", label=n, period=PERIOD, statistic="Maximum")
                    for n, f in functions_by_name
                    if functions.specs[n].streams
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Dead letters waiting",
                left=[
                    q.metric_approximate_number_of_messages_visible(label=n, period=PERIOD)
                    for n, q in dead_letter_queues.items()
                ],
                width=12,
            ),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=12),
        )
        self.dashboard.add_widgets(
            cloudwatch.SingleValueWidget(
                title="Back Market token rejections", metrics=[token_metric], width=6
            )
        )
        self.dashboard.add_widgets(*sync_figures_widgets())

    def _alarm(
        self, name: str, metric: cloudwatch.IMetric, description: str, *, threshold: float = 1
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            name,
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        alarm.add_ok_action(actions.SnsAction(self.topic))
        self.alarms.append(alarm)
        return alarm


#: The figures of the admin's Status page, from the functions' EMF metrics (``bmsync.observability``):
#: ``(widget title, metric names, statistic, period)``. Every connection's line is found by a SEARCH
#: (connections are not known when the stack is built).
SYNC_FIGURES = (
    (
        "Latency p50 (s): stock → Back Market, order → WholeCell, shipment → Back Market",
        ("QuantitySyncLatency", "OrderImportLatency", "ShipmentExportLatency"),
        "p50",
        Duration.hours(1),
    ),
    (
        "Latency p95 (s): stock → Back Market, order → WholeCell, shipment → Back Market",
        ("QuantitySyncLatency", "OrderImportLatency", "ShipmentExportLatency"),
        "p95",
        Duration.hours(1),
    ),
    (
        "Orders imported, quantities pushed, shipments sent (per hour)",
        ("OrdersImported", "QuantitiesPushed", "ShipmentsExported"),
        "Sum",
        Duration.hours(1),
    ),
    (
        "Back Market budgets left (SKU updates this hour, requests in the window)",
        ("BackMarketSkuUpdatesRemaining", "BackMarketRequestsRemaining"),
        "Minimum",
        Duration.minutes(5),
    ),
    ("Sync errors (per hour)", ("Errors",), "Sum", Duration.hours(1)),
)


def _search(metric_name: str, statistic: str, period: Duration) -> cloudwatch.MathExpression:
    return cloudwatch.MathExpression(
        expression=(
            f"SEARCH('{{{METRICS_NAMESPACE},connection,function,service}} "
            f"MetricName=\"{metric_name}\"', '{statistic}', {int(period.to_seconds())})"
        ),
        using_metrics={},
        label=metric_name,
        period=period,
    )


def sync_figures_widgets() -> list[cloudwatch.GraphWidget]:
    return [
        cloudwatch.GraphWidget(
            title=title, left=[_search(name, statistic, period) for name in names], width=12
        )
        for title, names, statistic, period in SYNC_FIGURES
    ]

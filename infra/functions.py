"""The shared layer and one Lambda function per folder of ``functions/``, as the catalogue describes them.

Each function gets its own role holding only what it uses (the DynamoDB actions ``infra.access`` gives
it on its tables, the secrets of the services it calls, its log group, its failure queue), its own log
group with retention, JSON logs and X-Ray.
Stream-triggered functions get their event sources with Lambda's failure handling and filters. A
function that runs twice a minute (``rerun_after_seconds``) gets its rerun queue: its scheduled runs
send to it (``bmsync.rerun``), and it is the function's SQS event source.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from bmsync import connection_secrets
from bmsync.admin.ports import LISTING_IMPORT_FUNCTION_ENV
from bmsync.catalog import FUNCTIONS, FunctionSpec
from bmsync.environment import RERUN_QUEUE_VARIABLE
from bmsync.observability import SERVICE
from bmsync.settings import ADMIN_SECRET_NAME
from infra.access import check_against_the_catalogue, table_actions
from infra.config import LOG_RETENTION, DeployConfig
from infra.nag import acknowledge
from infra.secrets import Secrets, nag_resource
from infra.tables import Tables

#: What the admin does with a connection's secrets: save, say whether set, test, delete.
ADMIN_CONNECTION_SECRET_ACTIONS = (
    "CreateSecret",
    "DescribeSecret",
    "GetSecretValue",
    "PutSecretValue",
    "DeleteSecret",
)
#: What the admin does with its own secret (password hash, session key, API tokens); never delete.
ADMIN_OWN_SECRET_ACTIONS = ("CreateSecret", "DescribeSecret", "GetSecretValue", "PutSecretValue")

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.X86_64
METRICS_NAMESPACE = "bmsync"
#: How long a failed batch or invocation waits in its queue for a person (SQS's longest retention).
FAILURE_RETENTION = Duration.days(14)

_PYTHON_312 = (
    "Python 3.12 on purpose: the layer is built for it (`make layer`) and bmsync is tested on 3.11 and "
    "3.12; move the layer, the runtime and the tests to a newer Python together."
)
_LAMBDA_LOG_LEVELS = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARN", "ERROR": "ERROR"}


def failure_queue(
    scope: Construct, construct_id: str, purpose: str, *, redrive_target: bool = False
) -> sqs.Queue:
    """A queue where what Lambda or Scheduler gave up on waits for a person (alarmed on its depth).
    ``redrive_target``: another queue's redrive policy names it too (cdk-nag then sees it as one)."""
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=FAILURE_RETENTION,
    )
    if not redrive_target:
        acknowledge(
            queue,
            "AwsSolutions-SQS3",
            f"This queue is itself the dead-letter destination ({purpose}); nothing consumes it "
            "automatically, so it needs no dead-letter queue of its own.",
        )
    acknowledge(queue, "Serverless-SQSRedrivePolicy", f"A dead-letter destination itself ({purpose}).")
    return queue


class Functions(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeployConfig,
        tables: Tables,
        secrets: Secrets,
    ) -> None:
        super().__init__(scope, construct_id)
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=lambda_.Code.from_asset(str(config.layer_dir)),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="bmsync with Powertools, X-Ray SDK, requests, pydantic (boto3 from the runtime)",
        )
        self.by_name: dict[str, lambda_.Function] = {}
        self.log_groups: dict[str, logs.LogGroup] = {}
        self.failure_queues: dict[str, sqs.Queue] = {}
        self.rerun_queues: dict[str, sqs.Queue] = {}
        self.specs: dict[str, FunctionSpec] = {}
        check_against_the_catalogue()
        self.function_url: lambda_.FunctionUrl | None = None
        for spec in FUNCTIONS:
            self._function(spec, config, tables, secrets)
        self._let_admin_start_listing_import()

    def _function(self, spec: FunctionSpec, config: DeployConfig, tables: Tables, secrets: Secrets) -> None:
        scope = Construct(self, spec.name)
        log_group = logs.LogGroup(scope, "Logs", retention=LOG_RETENTION[config.log_retention_days])
        role = iam.Role(
            scope,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"bmsync {spec.name}: only what this function uses",
        )
        log_group.grant_write(role)
        scheduled = bool(spec.schedules)
        # What Lambda gives up on (failed scheduled runs, stream batches out of retries) waits here; a
        # function served only by its URL answers its caller and has nothing to keep.
        failures = (
            failure_queue(
                scope,
                "Failures",
                f"{spec.name}'s failed invocations, stream batches and reruns",
                redrive_target=spec.rerun_after_seconds is not None,
            )
            if scheduled or spec.streams
            else None
        )
        reserved = reserved_concurrency(spec, config)
        level = _LAMBDA_LOG_LEVELS[config.log_level]
        function = lambda_.Function(
            scope,
            "Function",
            description=f"bmsync {spec.name}: {spec.description}",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(spec.folder), exclude=["__pycache__", "*.pyc", "tests", "*.md"]),
            layers=[self.layer],
            role=role,
            timeout=Duration.seconds(spec.timeout_seconds),
            memory_size=spec.memory_mb,
            environment={
                **{tables.definitions[name].env_var: tables.by_name[name].table_name for name in spec.tables},
                "BMSYNC_FUNCTION": spec.name,  # the catalogue name (AWS names the function itself)
                "POWERTOOLS_SERVICE_NAME": SERVICE,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": config.log_level,
            },
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel(level),
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            reserved_concurrent_executions=reserved or None,
            # A scheduled run is not retried by Lambda: the next scheduled run does the work again.
            retry_attempts=0 if scheduled else None,
            max_event_age=_max_event_age(spec) if scheduled else None,
            on_failure=destinations.SqsDestination(failures) if scheduled and failures else None,
        )
        acknowledge(
            function,
            "Serverless-LambdaDLQ",
            "Failed asynchronous (scheduled) invocations go to the on-failure destination, the newer "
            "form of a dead-letter queue that also records the error; stream batches go to the event "
            "source's on-failure queue; Function URL calls are synchronous.",
        )
        for rule in ("Serverless-LambdaLatestVersion", "AwsSolutions-L1"):
            acknowledge(function, rule, _PYTHON_312)
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "Only X-Ray's PutTraceSegments/PutTelemetryRecords and DynamoDB's ListStreams (stream event "
            "sources) take Resource *: these actions support no resource-level permissions.",
        )
        tables.grant_data(table_actions(spec.name), role)
        self._grant_secrets(spec, role, secrets)
        if scheduled:
            # A scheduled run for several connections invokes the function itself once per connection
            # (``bmsync.sync.flow.connections_for``). A policy of its own, not the role's default one
            # the function depends on: the function's ARN in that one would be a dependency cycle.
            iam.Policy(
                scope,
                "FanOut",
                roles=[role],
                statements=[
                    iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[function.function_arn])
                ],
            )
        for source in spec.streams:
            assert failures is not None
            function.add_event_source(
                event_sources.DynamoEventSource(
                    tables.by_name[source.table.logical_name],
                    starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                    batch_size=source.batch_size,
                    max_batching_window=Duration.seconds(source.max_batching_window_seconds),
                    bisect_batch_on_error=source.bisect_on_error,
                    retry_attempts=source.max_retries,
                    max_record_age=Duration.seconds(source.max_record_age_seconds),
                    report_batch_item_failures=True,
                    parallelization_factor=1,
                    on_failure=event_sources.SqsDlq(failures),
                    filters=[
                        lambda_.FilterCriteria.filter(pattern)
                        for pattern in source.filter_patterns(spec.name)
                    ],
                )
            )
        if spec.rerun_after_seconds is not None:
            assert failures is not None, "a rerun comes from a schedule"
            self.rerun_queues[spec.name] = self._rerun_queue(scope, spec, function, failures)
        if spec.function_url:
            self.function_url = self._admin_url(function)
        self.by_name[spec.name] = function
        self.log_groups[spec.name] = log_group
        if failures is not None:
            self.failure_queues[spec.name] = failures
        self.specs[spec.name] = spec

    def _rerun_queue(
        self, scope: Construct, spec: FunctionSpec, function: lambda_.Function, failures: sqs.Queue
    ) -> sqs.Queue:
        """The queue of the function's reruns: each scheduled run sends its slot's second run with a
        delay (``bmsync.sync.flow.request_reruns``), and the queue invokes the function with it."""
        queue = sqs.Queue(
            scope,
            "Reruns",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            # Lambda requires at least the function's timeout; a received rerun is not seen again.
            visibility_timeout=Duration.seconds(spec.timeout_seconds + 30),
            # A rerun is worth something only within its minute: one delivery, and a rerun that
            # failed goes to the function's failure queue (where a person sees it, alarmed) instead
            # of running again a visibility timeout later, into work the next slots have done.
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=1, queue=failures),
            retention_period=Duration.minutes(15),
        )
        function.add_environment(RERUN_QUEUE_VARIABLE, queue.queue_url)
        # SendMessage on its own queue only (not grant_send_messages, which adds GetQueueUrl and
        # GetQueueAttributes the code never calls).
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[queue.queue_arn])
        )
        function.add_event_source(
            event_sources.SqsEventSource(queue, batch_size=1, report_batch_item_failures=True)
        )
        (mapping,) = [
            child
            for child in function.node.children
            if isinstance(child, lambda_.EventSourceMapping) and child.node.id.startswith("SqsEventSource")
        ]
        acknowledge(
            mapping,
            "Serverless-LambdaEventSourceMappingDestination",
            "An SQS event source takes no on-failure destination: the rerun queue's redrive policy "
            "(maxReceiveCount 1) moves a failed rerun to the function's failure queue instead.",
        )
        return queue

    def _grant_secrets(self, spec: FunctionSpec, role: iam.Role, secrets: Secrets) -> None:
        """Each role reaches only the secrets its code names (``bmsync.connection_secrets`` builds the
        connections' names): the sync functions read their connections' tokens; the admin manages
        those and its own secret, which no other role can reach."""
        backmarket = connection_secrets.name_pattern("backmarket-token")
        wholecell = connection_secrets.name_pattern("wholecell")
        grants: list[tuple[tuple[str, ...], list[str]]] = []
        if spec.function_url:
            # Tokens of connections added after deployment too: saved, tested, deleted with them.
            grants.append((ADMIN_CONNECTION_SECRET_ACTIONS, [backmarket, wholecell]))
            grants.append((ADMIN_OWN_SECRET_ACTIONS, [ADMIN_SECRET_NAME]))
        else:
            readable = [backmarket] if spec.calls_backmarket else []
            readable += [wholecell] if spec.calls_wholecell else []
            if readable:
                grants.append((("GetSecretValue",), readable))
        for actions, patterns in grants:
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=[f"secretsmanager:{action}" for action in actions],
                    resources=[secrets.arn_pattern(pattern) for pattern in patterns],
                )
            )
            for pattern in patterns:
                if "*" in pattern:
                    acknowledge(
                        role,
                        f"AwsSolutions-IAM5[{nag_resource(pattern)}]",
                        "Secrets are named bmsync/<connection>/...: connections added in the admin "
                        "after deployment need no redeploy.",
                    )

    def _let_admin_start_listing_import(self) -> None:
        """The console's "Import listings" invokes listing_import asynchronously (``bmsync.admin.ports``)."""
        admin, listing_import = self.by_name["admin"], self.by_name["listing_import"]
        admin.add_environment(LISTING_IMPORT_FUNCTION_ENV, listing_import.function_name)
        # The function itself only (not its versions): what a grant_invoke would add is more than needed.
        admin.add_to_role_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[listing_import.function_arn])
        )

    def _admin_url(self, function: lambda_.Function) -> lambda_.FunctionUrl:
        # AuthType NONE: the console is opened in a browser, which cannot sign requests with SigV4. The
        # admin authenticates every request itself (password hash in Secrets Manager, signed session
        # cookie, CSRF token), so the URL is public the way any sign-in page is.
        return function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)


def reserved_concurrency(spec: FunctionSpec, config: DeployConfig) -> int:
    """The reserved concurrency of a function (0: none).

    The admin's is a cap: its URL is public, and a flood of requests (each sign-in a 600,000-round
    PBKDF2) must not take the account's concurrency from the sync functions or run up the bill.
    Back Market callers get one to stay inside Back Market's rate limits. A stream consumer runs one
    batch per shard of each stream at a time, its schedule one more, and its rerun queue one more (a
    throttled rerun would go to the failure queue: its queue delivers once): it never gets less than
    that, or it would throttle itself.
    """
    if spec.function_url:
        return config.admin_reserved_concurrency
    if not spec.calls_backmarket or not config.backmarket_reserved_concurrency:
        return 0
    return max(
        config.backmarket_reserved_concurrency,
        len(spec.streams) + bool(spec.schedules) + (spec.rerun_after_seconds is not None),
    )


def _max_event_age(spec: FunctionSpec) -> Duration:
    """A scheduled event is stale once its next run is due: the shortest rate, within Lambda's limits."""
    shortest = min(minutes for _, minutes in spec.schedules)
    return Duration.seconds(min(max(60, shortest * 60), 6 * 3600))

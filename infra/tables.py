"""The DynamoDB tables, built from their one definition in :mod:`bmsync.store.tables`."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from bmsync.store.tables import ALL_TABLES, Key, TableDef

_ATTRIBUTE_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER}
_STREAM_VIEWS = {
    "NEW_IMAGE": dynamodb.StreamViewType.NEW_IMAGE,
    "OLD_IMAGE": dynamodb.StreamViewType.OLD_IMAGE,
    "NEW_AND_OLD_IMAGES": dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
    "KEYS_ONLY": dynamodb.StreamViewType.KEYS_ONLY,
}
_PROJECTIONS = {"ALL": dynamodb.ProjectionType.ALL, "KEYS_ONLY": dynamodb.ProjectionType.KEYS_ONLY}


def _attribute(key: Key) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=key.name, type=_ATTRIBUTE_TYPES[key.type])


class Tables(Construct):
    """Every table: on demand, encrypted, point-in-time recovery, TTL where defined, kept on delete.

    The seller's orders and settings must survive a mistaken ``cdk destroy`` or a stack replacement,
    so tables are retained and protected from deletion; CloudFormation names them (several stacks can
    share an account) and the functions learn the names from ``BMSYNC_TABLE_<NAME>``.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.by_name: dict[str, dynamodb.Table] = {}
        self.definitions: dict[str, TableDef] = {}
        for definition in ALL_TABLES:
            table = dynamodb.Table(
                self,
                definition.logical_name,
                partition_key=_attribute(definition.partition_key),
                sort_key=_attribute(definition.sort_key) if definition.sort_key else None,
                billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
                encryption=dynamodb.TableEncryption.AWS_MANAGED,
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True
                ),
                stream=_STREAM_VIEWS[definition.stream] if definition.stream else None,
                time_to_live_attribute=definition.ttl_attribute,
                deletion_protection=True,
                removal_policy=RemovalPolicy.RETAIN,
            )
            for index in definition.indexes:
                table.add_global_secondary_index(
                    index_name=index.name,
                    partition_key=_attribute(index.partition_key),
                    sort_key=_attribute(index.sort_key) if index.sort_key else None,
                    projection_type=_PROJECTIONS[index.projection],
                )
            self.by_name[definition.logical_name] = table
            self.definitions[definition.logical_name] = definition

    def grant_data(self, table_actions: dict[str, tuple[str, ...]], role: iam.IRole) -> None:
        """Let ``role`` do these actions on the items of each table, one statement per table.

        Only a Query needs a table's indexes, so only then are they named too.
        """
        for name, actions in sorted(table_actions.items()):
            table = self.by_name[name]
            resources = [table.table_arn]
            if "dynamodb:Query" in actions:
                resources.extend(
                    f"{table.table_arn}/index/{index.name}" for index in self.definitions[name].indexes
                )
            role.add_to_principal_policy(iam.PolicyStatement(actions=sorted(actions), resources=resources))

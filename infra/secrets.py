"""The secrets, created without a value: the seller types tokens into the admin, never into a template.

One Back Market token and one WholeCell App ID + Secret per connection (``bmsync.connection_secrets``
names them from the connection id), and the admin's own secret (password hash and session key). A
secret without a value makes the functions report "secret ... is not set: set it in the admin
console".
"""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from bmsync.connection_secrets import SECRET_KINDS, secret_name
from bmsync.settings import ADMIN_SECRET_NAME
from infra.nag import acknowledge

_NO_ROTATION = (
    "The value is a third-party credential (Back Market token, WholeCell App Secret) or the admin's "
    "password hash: it is rotated by changing it at its source and saving it in the admin, which "
    "writes a new version; Secrets Manager has no way to mint these itself."
)


class Secrets(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, connections: tuple[str, ...]) -> None:
        super().__init__(scope, construct_id)
        self.names: list[str] = [ADMIN_SECRET_NAME]
        for connection in connections:
            self.names.extend(secret_name(connection, kind) for kind in SECRET_KINDS)
        for name in self.names:
            secret = secretsmanager.CfnSecret(
                self,
                name.replace("/", "-"),
                name=name,
                description=f"bmsync: {_purpose(name)}. Set it in the bmsync admin; never in a template.",
            )
            # Deleting the stack must not throw away a seller's credentials by accident.
            secret.apply_removal_policy(RemovalPolicy.RETAIN)
            acknowledge(secret, "AwsSolutions-SMG4", _NO_ROTATION)

    def arn_pattern(self, name_pattern: str) -> str:
        """The ARN of secrets named ``name_pattern`` (Secrets Manager appends ``-`` and 6 characters)."""
        return Stack.of(self).format_arn(
            service="secretsmanager",
            resource="secret",
            resource_name=f"{name_pattern}-??????",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )


def nag_resource(name_pattern: str) -> str:
    """How cdk-nag names a secret ARN pattern in an IAM5 finding (the template's tokens, unresolved)."""
    return (
        "Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:"
        f"{name_pattern}-??????"
    )


def _purpose(name: str) -> str:
    if name == ADMIN_SECRET_NAME:
        return "the admin console's password hash and session key"
    if name.endswith("/backmarket-token"):
        return "the Back Market API token of connection " + name.split("/")[1]
    return "the WholeCell App ID and App Secret of connection " + name.split("/")[1]

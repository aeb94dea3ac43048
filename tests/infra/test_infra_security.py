"""Least privilege, the admin's public Function URL, and secrets that hold no value in the template."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from typing import Any

import pytest

from bmsync import connection_secrets
from bmsync.catalog import FUNCTIONS, by_name
from bmsync.settings import ADMIN_SECRET_NAME, LOCAL_SANDBOX_HOSTS_ENV

#: The connections' secret ARNs' name patterns (Secrets Manager appends ``-`` and 6 characters).
CONNECTION_PATTERNS = {
    kind: f"{connection_secrets.name_pattern(kind)}-??????" for kind in connection_secrets.SECRET_KINDS
}
#: Actions AWS offers no resource-level permission for: the only ones allowed on Resource "*".
UNSCOPABLE_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "dynamodb:ListStreams"}


def _statements(deployed: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in deployed.raw["Resources"].items():
        properties = resource.get("Properties", {})
        documents = []
        if resource["Type"] == "AWS::IAM::Policy":
            documents.append(properties["PolicyDocument"])
        if resource["Type"] == "AWS::IAM::Role":
            documents.extend(policy["PolicyDocument"] for policy in properties.get("Policies", []))
        for document in documents:
            for statement in document["Statement"]:
                yield logical_id, statement


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_iam_statement_on_every_resource_where_one_can_be_named(deployed: Any) -> None:
    statements = list(_statements(deployed))
    assert len(statements) > 20
    for logical_id, statement in statements:
        actions = set(_as_list(statement["Action"]))
        assert not any(action == "*" or action.endswith(":*") for action in actions), (logical_id, actions)
        if "*" in _as_list(statement["Resource"]):
            assert actions <= UNSCOPABLE_ACTIONS, f"{logical_id} grants {actions} on every resource"


def _role_statements(deployed: Any, function: str) -> list[dict[str, Any]]:
    role = deployed.stack.functions.by_name[function].role
    role_id = deployed.logical_id(role)
    policies = [
        resource["Properties"]["PolicyDocument"]["Statement"]
        for resource in deployed.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in resource["Properties"]["Roles"]
    ]
    assert "ManagedPolicyArns" not in deployed.raw["Resources"][role_id]["Properties"]
    return [statement for statements in policies for statement in statements]


def _referenced_ids(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            yield value["Fn::GetAtt"][0]
        for item in value.values():
            yield from _referenced_ids(item)
    elif isinstance(value, list):
        for item in value:
            yield from _referenced_ids(item)


def _secret_patterns(statements: list[dict[str, Any]], action: str) -> set[str]:
    patterns = set()
    for statement in statements:
        if action in _as_list(statement["Action"]):
            for resource in _as_list(statement["Resource"]):
                patterns.add(resource["Fn::Join"][1][-1].removeprefix(":secret:"))
    return patterns


@pytest.mark.parametrize("function", [spec.name for spec in FUNCTIONS])
def test_each_function_role_reaches_only_its_own_tables_and_secrets(deployed: Any, function: str) -> None:
    spec = by_name(function)
    statements = _role_statements(deployed, function)
    tables = deployed.stack.tables.by_name
    item_actions = {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"}
    data_statements = [s for s in statements if item_actions & set(_as_list(s["Action"]))]
    reached = {table_id for s in data_statements for table_id in _referenced_ids(s["Resource"])}
    assert reached == {deployed.logical_id(tables[name]) for name in spec.tables}

    readable = _secret_patterns(statements, "secretsmanager:GetSecretValue")
    connections = {CONNECTION_PATTERNS["backmarket-token"], CONNECTION_PATTERNS["wholecell"]}
    if spec.function_url:
        admin = f"{ADMIN_SECRET_NAME}-??????"
        assert readable == connections | {admin}
        assert _secret_patterns(statements, "secretsmanager:PutSecretValue") == connections | {admin}
        # A connection's secrets go with it; the admin's own secret can never be deleted by it.
        assert _secret_patterns(statements, "secretsmanager:DeleteSecret") == connections
        return
    expected = {CONNECTION_PATTERNS["backmarket-token"]} if spec.calls_backmarket else set()
    expected |= {CONNECTION_PATTERNS["wholecell"]} if spec.calls_wholecell else set()
    assert readable == expected
    for action in ("PutSecretValue", "CreateSecret", "DeleteSecret", "DescribeSecret"):
        assert _secret_patterns(statements, f"secretsmanager:{action}") == set(), action
    # The code that reads connection tokens cannot reach the admin's secret (issue 18.1).
    assert not any(fnmatch.fnmatchcase(f"{ADMIN_SECRET_NAME}-AbC123", pattern) for pattern in readable)


def test_the_patterns_match_exactly_the_names_the_code_builds() -> None:
    for kind, pattern in CONNECTION_PATTERNS.items():
        for connection in ("shop", "eu-2", "admin"):
            assert fnmatch.fnmatchcase(f"{connection_secrets.secret_name(connection, kind)}-AbC123", pattern)
        assert not fnmatch.fnmatchcase(f"{ADMIN_SECRET_NAME}-AbC123", pattern)
        assert not fnmatch.fnmatchcase("bmsync/demo/other-AbC123", pattern)


def test_no_function_may_reach_the_local_emulators(deployed: Any) -> None:
    """Only the local runtime lists emulator hosts a connection may use; never a deployed function."""
    functions = deployed.resources("AWS::Lambda::Function")
    assert functions
    for resource in functions.values():
        assert LOCAL_SANDBOX_HOSTS_ENV not in resource["Properties"]["Environment"]["Variables"]
    assert LOCAL_SANDBOX_HOSTS_ENV not in json.dumps(deployed.raw)


def test_only_the_admin_may_start_a_listing_import_and_a_scheduled_function_only_itself(
    deployed: Any,
) -> None:
    listing_import = deployed.stack.functions.by_name["listing_import"]
    listing_import_arn = {"Fn::GetAtt": [deployed.logical_id(listing_import), "Arn"]}
    for spec in FUNCTIONS:
        invoke = [
            s
            for s in _role_statements(deployed, spec.name)
            if "lambda:InvokeFunction" in _as_list(s["Action"])
        ]
        own_arn = {"Fn::GetAtt": [deployed.logical_id(deployed.stack.functions.by_name[spec.name]), "Arn"]}
        if spec.name == "admin":
            assert [s["Resource"] for s in invoke] == [listing_import_arn]
        elif spec.schedules:
            # The fan-out of a scheduled run: one invocation of itself per connection.
            assert [(s["Action"], s["Resource"]) for s in invoke] == [("lambda:InvokeFunction", own_arn)]
        else:
            assert invoke == []
    admin = deployed.raw["Resources"][deployed.logical_id(deployed.stack.functions.by_name["admin"])]
    variables = admin["Properties"]["Environment"]["Variables"]
    assert variables["BMSYNC_LISTING_IMPORT_FUNCTION"] == {"Ref": deployed.logical_id(listing_import)}


def test_only_the_admin_has_a_function_url_and_it_is_public_for_its_own_sign_in(deployed: Any) -> None:
    admin_id = deployed.logical_id(deployed.stack.functions.by_name["admin"])
    urls = list(deployed.resources("AWS::Lambda::Url").values())
    assert [url["Properties"] for url in urls] == [
        {"AuthType": "NONE", "TargetFunctionArn": {"Fn::GetAtt": [admin_id, "Arn"]}}
    ]
    permissions = [r["Properties"] for r in deployed.resources("AWS::Lambda::Permission").values()]
    public = [p for p in permissions if p["Principal"] == "*"]
    assert all(p["FunctionName"] == {"Fn::GetAtt": [admin_id, "Arn"]} for p in public)
    # Anyone may call the URL, and only through the URL: never a plain Invoke from another account.
    assert {p["Action"] for p in public} == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
    for permission in public:
        if permission["Action"] == "lambda:InvokeFunctionUrl":
            assert permission["FunctionUrlAuthType"] == "NONE"
        else:
            assert permission["InvokedViaFunctionUrl"] is True
    outputs = deployed.raw["Outputs"]
    assert outputs["AdminUrl"]["Value"]["Fn::GetAtt"][1] == "FunctionUrl"


def test_secrets_are_created_without_a_value_and_kept(deployed: Any) -> None:
    secrets = deployed.resources("AWS::SecretsManager::Secret")
    names = sorted(resource["Properties"]["Name"] for resource in secrets.values())
    assert names == sorted([ADMIN_SECRET_NAME, "bmsync/default/backmarket-token", "bmsync/default/wholecell"])
    for resource in secrets.values():
        assert set(resource["Properties"]) == {"Name", "Description"}
        assert resource["DeletionPolicy"] == "Retain"


def test_no_secret_value_anywhere_in_the_template(deployed: Any) -> None:
    text = json.dumps(deployed.raw)
    for marker in ("SecretString", "GenerateSecretString", "sandbox-bm-token", "sandbox-secret", "Bearer "):
        assert marker not in text
    for resource in deployed.resources("AWS::Lambda::Function").values():
        for key, value in resource["Properties"]["Environment"]["Variables"].items():
            if "SECRET" in key or "TOKEN" in key or "PASSWORD" in key:
                assert key.endswith("_NAME") and value.startswith("bmsync/"), key


def test_secrets_per_connection_from_the_context(customized: Any) -> None:
    two = customized
    names = {r["Properties"]["Name"] for r in two.resources("AWS::SecretsManager::Secret").values()}
    assert names == {
        ADMIN_SECRET_NAME,
        "bmsync/eu/backmarket-token",
        "bmsync/eu/wholecell",
        "bmsync/us/backmarket-token",
        "bmsync/us/wholecell",
    }
    admin_id = two.logical_id(two.stack.functions.by_name["admin"])
    reserved = {
        logical_id: f["Properties"].get("ReservedConcurrentExecutions")
        for logical_id, f in two.resources("AWS::Lambda::Function").items()
    }
    assert {logical_id: n for logical_id, n in reserved.items() if n is not None} == {admin_id: 3}
    subscriptions = [r["Properties"] for r in two.resources("AWS::SNS::Subscription").values()]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "ops@seller.example")]

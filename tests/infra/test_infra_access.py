"""Point 9 of issue 18: each function may do in DynamoDB only what its code does, table by table.

The code is read by ``dynamo_usage`` (every boto3 call a function's handler can reach); the grants
are ``infra.access.TABLE_ACTIONS``; the template is what ``cdk deploy`` would create.
"""

from __future__ import annotations

from typing import Any

import pytest

from bmsync.catalog import FUNCTIONS
from infra.access import table_actions
from tests.infra.dynamo_usage import needed_access

#: What the reading of the code finds but no deployed function can run: (function, table, action).
#: Each must still be found (a stale entry fails), so this list cannot hide a real need.
NOT_RUN_IN_AWS = {
    ("admin", "listings", "dynamodb:PutItem"): (
        "InProcessListingImportStarter runs the listing import inside the admin only outside Lambda "
        "(the sandbox); in AWS the admin invokes the listing_import function"
    ),
    ("admin", "stock", "dynamodb:PutItem"): (
        "the admin's `@app.put(...)` routes name StockRepository.put; the admin never writes stock"
    ),
}
STREAM_ACTIONS = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"}


def _flat(access: dict[str, Any]) -> set[tuple[str, str]]:
    return {(table, action) for table, actions in access.items() for action in actions}


@pytest.mark.parametrize("function", [spec.name for spec in FUNCTIONS])
def test_each_function_is_given_exactly_the_actions_its_code_uses(function: str) -> None:
    needed = _flat(needed_access(function))
    excused = {(table, action) for (name, table, action) in NOT_RUN_IN_AWS if name == function}
    assert excused <= needed, f"stale NOT_RUN_IN_AWS entries: {sorted(excused - needed)}"
    granted = _flat(table_actions(function))
    assert sorted(needed - excused - granted) == [], "the code needs these, infra/access.py lacks them"
    assert sorted(granted - needed) == [], "infra/access.py grants these, no code of the function uses them"
    assert not granted & excused


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _granted_in_template(deployed: Any, function: str) -> dict[str, set[str]]:
    """Table logical id -> the item actions the function's role has on it (and only on it)."""
    role_id = deployed.logical_id(deployed.stack.functions.by_name[function].role)
    granted: dict[str, set[str]] = {}
    for policy in deployed.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = {a for a in _as_list(statement["Action"]) if a.startswith("dynamodb:")}
            actions -= STREAM_ACTIONS | {"dynamodb:ListStreams"}
            if not actions:
                continue
            resources = _as_list(statement["Resource"])
            tables = set()
            for resource in resources:
                target = resource.get("Fn::GetAtt") or resource["Fn::Join"][1][0]["Fn::GetAtt"]
                assert target[1] == "Arn", resource
                tables.add(target[0])
            assert len(tables) == 1, f"one statement per table: {statement}"
            index_resources = [r for r in resources if "Fn::Join" in r]
            assert bool(index_resources) <= ("dynamodb:Query" in actions), "indexes only for a Query"
            granted.setdefault(tables.pop(), set()).update(actions)
    return granted


@pytest.mark.parametrize("function", [spec.name for spec in FUNCTIONS])
def test_the_template_grants_each_role_only_the_declared_actions(deployed: Any, function: str) -> None:
    tables = deployed.stack.tables.by_name
    expected = {
        deployed.logical_id(tables[name]): set(actions) for name, actions in table_actions(function).items()
    }
    assert _granted_in_template(deployed, function) == expected


def test_no_role_may_scan_or_delete_where_it_does_not_need_to(deployed: Any) -> None:
    """What issue 18 found: every role could DeleteItem, BatchWriteItem and Scan every table it touched."""
    settings_id = deployed.logical_id(deployed.stack.tables.by_name["settings"])
    for spec in FUNCTIONS:
        for table_id, actions in _granted_in_template(deployed, spec.name).items():
            assert "dynamodb:BatchWriteItem" not in actions, (spec.name, table_id)
            if table_id != settings_id:
                assert "dynamodb:Scan" not in actions, (spec.name, table_id)
    quantity_sync = _granted_in_template(deployed, "quantity_sync")
    stock_id = deployed.logical_id(deployed.stack.tables.by_name["stock"])
    assert quantity_sync[stock_id] == {"dynamodb:GetItem", "dynamodb:Query"}

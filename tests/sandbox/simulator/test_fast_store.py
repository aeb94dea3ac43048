"""The simulator's fast DynamoDB answers are moto's own answers: over a short simulation every item
operation is answered both ways, and both are parsed as the client parses them."""

from __future__ import annotations

import contextlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from botocore.parsers import create_parser
from moto.dynamodb.responses import DynamoResult

from bmsync_sandbox.simulator import simulation
from bmsync_sandbox.simulator.fast_store import (
    ITEM_OPERATIONS,
    fast_stream_records,
    faster_queries,
    item_response,
)
from bmsync_sandbox.simulator.simulation import SimulationConfig, simulate
from bmsync_sandbox.simulator.traffic import TrafficRates


def test_fast_item_responses_equal_motos_serializer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compared: Counter[str] = Counter()
    differences: list[str] = []
    moto_serializer = DynamoResult.execute_result
    parser = create_parser("json")

    def as_client_sees(context: Any, status: int, headers: dict[str, str], body: str) -> Any:
        response = {"status_code": status, "headers": headers, "body": body.encode()}
        parsed = parser.parse(response, context.operation_model.output_shape)
        parsed.pop("ResponseMetadata", None)
        return parsed

    def both(self: Any, context: Any) -> Any:
        status, headers, body = moto_serializer(self, context)
        operation = context.operation_model.name
        if operation in ITEM_OPERATIONS and not isinstance(self.result, Exception):
            fast_status, fast_headers, fast_body = item_response(self.result)
            compared[operation] += 1
            fast = as_client_sees(context, fast_status, fast_headers, fast_body)
            if fast != as_client_sees(context, status, headers, body) or fast_status != status:
                differences.append(f"{operation}: {body[:200]} != {fast_body[:200]}")
        return status, headers, body

    monkeypatch.setattr(DynamoResult, "execute_result", both)
    monkeypatch.setattr(simulation, "fast_item_responses", contextlib.nullcontext)
    busy = TrafficRates(
        buyer_orders=40,
        units_received=30,
        other_channel_orders=10,
        shipments=30,
        hand_status_changes=10,
        validation_minutes=(1, 3),
        late_validation_share=0,
        grading_minutes=(1, 5),
    )
    report = simulate(
        SimulationConfig(days=0.25 / 24, seed=3, faults="none", extra_skus=2, rates=busy, settle_minutes=2),
        work_dir=tmp_path,
    )

    assert report["ok"]
    assert differences == []
    assert {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan"} <= set(compared)
    assert sum(compared.values()) > 300


@pytest.mark.parametrize("update", ["expression", "attribute_updates"])
def test_faster_queries_follow_updates_so_query_pages_still_stop_at_one_megabyte(update: str) -> None:
    import boto3
    from moto import mock_aws

    big = "x" * 300_000  # four of these pass DynamoDB's 1 MB page: a Query must split them
    with mock_aws(), faster_queries():
        dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
        dynamodb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "s", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "p", "AttributeType": "S"},
                {"AttributeName": "s", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        query = {
            "TableName": "t",
            "KeyConditionExpression": "p = :p",
            "ExpressionAttributeValues": {":p": {"S": "a"}},
        }
        for sort in "1234":
            dynamodb.put_item(TableName="t", Item={"p": {"S": "a"}, "s": {"S": sort}, "v": {"S": "small"}})
        assert len(dynamodb.query(**query)["Items"]) == 4  # sizes now cached, small

        for sort in "1234":
            key = {"p": {"S": "a"}, "s": {"S": sort}}
            if update == "expression":
                dynamodb.update_item(
                    TableName="t",
                    Key=key,
                    UpdateExpression="SET v = :v",
                    ExpressionAttributeValues={":v": {"S": big}},
                )
            else:
                dynamodb.update_item(
                    TableName="t", Key=key, AttributeUpdates={"v": {"Value": {"S": big}, "Action": "PUT"}}
                )

        first = dynamodb.query(**query)
        assert len(first["Items"]) == 3
        rest = dynamodb.query(**query, ExclusiveStartKey=first["LastEvaluatedKey"])
        assert [item["s"]["S"] for item in rest["Items"]] == ["4"]


def test_faster_queries_sort_an_index_and_a_table_as_moto_does() -> None:
    import boto3
    from moto import mock_aws

    def numbers_in_index_order(fast: bool, forward: bool) -> list[str]:
        with mock_aws(), faster_queries() if fast else contextlib.nullcontext():
            dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
            dynamodb.create_table(
                TableName="t",
                KeySchema=[
                    {"AttributeName": "p", "KeyType": "HASH"},
                    {"AttributeName": "s", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": name, "AttributeType": kind}
                    for name, kind in (("p", "S"), ("s", "S"), ("g", "S"), ("n", "N"))
                ],
                GlobalSecondaryIndexes=[
                    {
                        "IndexName": "by_n",
                        "KeySchema": [
                            {"AttributeName": "g", "KeyType": "HASH"},
                            {"AttributeName": "n", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                ],
                BillingMode="PAY_PER_REQUEST",
            )
            for sort, number in zip("abcdefg", ["100", "9", "10", "2.5", "-1", "10", "9"], strict=True):
                item = {
                    "p": {"S": "b" if sort in "bdf" else "a"},
                    "s": {"S": sort},
                    "g": {"S": "x"},
                    "n": {"N": number},
                }
                dynamodb.put_item(TableName="t", Item=item)
            items = dynamodb.query(
                TableName="t",
                IndexName="by_n",
                KeyConditionExpression="g = :g AND n >= :low",
                ExpressionAttributeValues={":g": {"S": "x"}, ":low": {"N": "0"}},
                ScanIndexForward=forward,
            )["Items"]
            scanned = dynamodb.scan(TableName="t")["Items"]
            return [f"{item['n']['N']}{item['s']['S']}" for item in items] + [
                f"{item['p']['S']}{item['s']['S']}" for item in scanned
            ]

    assert numbers_in_index_order(fast=True, forward=True) == [
        *("2.5d", "9g", "9b", "10c", "10f", "100a"),  # the index query: ties by table key (p, s)
        *("aa", "ac", "ae", "ag", "bb", "bd", "bf"),  # a scan: by hash key, then range key
    ]
    for forward in (True, False):
        assert numbers_in_index_order(fast=True, forward=forward) == numbers_in_index_order(
            fast=False, forward=forward
        )


def test_faster_queries_hand_moto_only_the_matching_partition_or_index_key() -> None:
    """A query reads only the items its key condition can match (at 2,000 listings, reading the whole
    table for each of a drift check's 2,000 index queries took most of a simulated hour): the same
    items as moto's own, in the same order, pages included."""
    import boto3
    from moto import mock_aws

    def answers(fast: bool) -> list[list[str]]:
        with mock_aws(), faster_queries() if fast else contextlib.nullcontext():
            dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
            dynamodb.create_table(
                TableName="t",
                KeySchema=[
                    {"AttributeName": "p", "KeyType": "HASH"},
                    {"AttributeName": "s", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": name, "AttributeType": "S"} for name in ("p", "s", "sku")
                ],
                GlobalSecondaryIndexes=[
                    {
                        "IndexName": "by_sku",
                        "KeySchema": [{"AttributeName": "sku", "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "ALL"},
                    },
                    {
                        "IndexName": "by_partition_sku",
                        "KeySchema": [
                            {"AttributeName": "p", "KeyType": "HASH"},
                            {"AttributeName": "sku", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    },
                ],
                BillingMode="PAY_PER_REQUEST",
            )
            for index in range(40):
                item = {"p": {"S": f"c{index % 3}"}, "s": {"S": f"{index:03d}"}}
                if index % 4:  # a quarter have no SKU: not in the index
                    item["sku"] = {"S": f"SKU-{index % 5}"}
                dynamodb.put_item(TableName="t", Item=item)
            found = []
            for sku in ("SKU-1", "SKU-4", "SKU-9"):
                pages = dynamodb.get_paginator("query").paginate(
                    TableName="t",
                    IndexName="by_sku",
                    KeyConditionExpression="sku = :sku",
                    ExpressionAttributeValues={":sku": {"S": sku}},
                    PaginationConfig={"PageSize": 3},
                )
                found.append([item["s"]["S"] for page in pages for item in page["Items"]])
            for sku in ("SKU-2", "SKU-7"):  # an index on (partition, SKU), as the stock table's
                items = dynamodb.query(
                    TableName="t",
                    IndexName="by_partition_sku",
                    KeyConditionExpression="p = :p AND sku = :sku",
                    ExpressionAttributeValues={":p": {"S": "c1"}, ":sku": {"S": sku}},
                )["Items"]
                found.append([item["s"]["S"] for item in items])
            for partition in ("c0", "c2", "c7"):
                items = dynamodb.query(
                    TableName="t",
                    KeyConditionExpression="p = :p AND s > :s",
                    ExpressionAttributeValues={":p": {"S": partition}, ":s": {"S": "010"}},
                    ScanIndexForward=False,
                )["Items"]
                found.append([item["s"]["S"] for item in items])
            return found

    fast = answers(fast=True)
    assert fast == answers(fast=False)
    assert fast[0] == ["001", "006", "011", "021", "026", "031"]  # SKU-1, without the SKU-less 016, 036
    assert fast[3] == ["007", "022", "037"]  # in c1 (index % 3 == 1) with SKU-2
    assert fast[2] == [] and fast[4] == [] and fast[7] == []


def test_fast_stream_records_equal_motos_serializer() -> None:
    """GetRecords answered by ``json.dumps`` parses as moto's own answer does (images, keys, times)."""
    import boto3
    from moto import mock_aws

    def records(fast: bool) -> list[dict[str, Any]]:
        with mock_aws(), fast_stream_records() if fast else contextlib.nullcontext():
            dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
            table = dynamodb.create_table(
                TableName="t",
                KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
                StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            )
            dynamodb.put_item(
                TableName="t", Item={"p": {"S": "a"}, "n": {"N": "1"}, "l": {"L": [{"S": "x"}]}}
            )
            dynamodb.update_item(
                TableName="t",
                Key={"p": {"S": "a"}},
                UpdateExpression="SET n = :n, m = :m",
                ExpressionAttributeValues={":n": {"N": "2.5"}, ":m": {"M": {"k": {"BOOL": True}}}},
            )
            dynamodb.delete_item(TableName="t", Key={"p": {"S": "a"}})
            streams = boto3.client(
                "dynamodbstreams",
                region_name="eu-west-1",
                endpoint_url=simulation.STREAM_ENDPOINT.format(region="eu-west-1"),
            )
            arn = table["TableDescription"]["LatestStreamArn"]
            shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
            iterator = streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            answer = streams.get_records(ShardIterator=iterator)
            for record in answer["Records"]:
                record.pop("eventID")  # random per run
            return [
                # The creation time differs between two runs, and so does moto's SizeBytes (the
                # length of the record with its time in it).
                {
                    **record,
                    "dynamodb": {
                        **record["dynamodb"],
                        "ApproximateCreationDateTime": None,
                        "SizeBytes": None,
                    },
                }
                for record in answer["Records"]
            ] + [
                {
                    "times_are_datetimes": all(
                        r["dynamodb"]["ApproximateCreationDateTime"].tzinfo is not None
                        for r in answer["Records"]
                    )
                }
            ]

    fast = records(fast=True)
    assert fast == records(fast=False)
    assert [record.get("eventName") for record in fast[:3]] == ["INSERT", "MODIFY", "REMOVE"]
    assert fast[1]["dynamodb"]["NewImage"]["n"] == {"N": "2.5"} and fast[3] == {"times_are_datetimes": True}

"""The local Function URL turns HTTP into payload-v2 events for the admin handler and back."""

from __future__ import annotations

import base64
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bmsync.catalog import FunctionSpec
from bmsync.clock import ManualClock
from bmsync_sandbox.runtime.events import RuntimeEvent
from bmsync_sandbox.runtime.function_url import FunctionUrlServer
from bmsync_sandbox.runtime.invoker import Invoker

ADMIN = textwrap.dedent(
    """
    import base64
    import json

    from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response

    app = LambdaFunctionUrlResolver()


    @app.get("/hello/<name>")
    def hello(name):
        return {"hello": name, "q": app.current_event.get_query_string_value("q")}


    @app.post("/login")
    def login():
        return Response(
            status_code=204,
            content_type="text/plain",
            body="",
            cookies=[],
            headers={"Set-Cookie": "bmsync_session=abc; HttpOnly; Secure; SameSite=Strict"},
        )


    def handler(event, context):
        path = event["rawPath"]
        if path == "/echo":
            headers = {"content-type": "application/json"}
            return {"statusCode": 200, "headers": headers, "body": json.dumps(event)}
        if path == "/plain-dict":
            return {"just": "a value"}
        if path == "/binary":
            return {
                "statusCode": 200,
                "headers": {"content-type": "image/png"},
                "body": base64.b64encode(b"\\x89PNG-bytes").decode(),
                "isBase64Encoded": True,
                "cookies": ["a=1; Path=/", "b=2; Path=/"],
            }
        if path == "/boom":
            raise RuntimeError("admin crashed")
        return app.resolve(event, context)
    """
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[FunctionUrlServer, list[RuntimeEvent]]]:
    (tmp_path / "admin").mkdir()
    (tmp_path / "admin" / "handler.py").write_text(ADMIN)
    events: list[RuntimeEvent] = []
    invoker = Invoker(
        ManualClock(), functions_dir=tmp_path, specs=(FunctionSpec("admin", "", function_url=True),)
    )
    url_server = FunctionUrlServer(invoker, on_event=events.append)
    url_server.start()
    yield url_server, events
    url_server.stop()


def test_a_request_becomes_a_payload_v2_event(server: tuple[FunctionUrlServer, list[RuntimeEvent]]) -> None:
    url_server, _ = server
    response = requests.post(
        f"{url_server.base_url}/echo?a=1&b=two&a=3",
        data=json.dumps({"x": 1}),
        headers={"Content-Type": "application/json", "X-Custom": "Yes", "User-Agent": "pytest-ua"},
        cookies={"bmsync_session": "s1", "theme": "dark"},
        timeout=5,
    )
    assert response.status_code == 200
    event = response.json()
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert event["rawPath"] == "/echo" and event["rawQueryString"] == "a=1&b=two&a=3"
    assert event["queryStringParameters"] == {"a": "1,3", "b": "two"}
    assert event["headers"]["x-custom"] == "Yes" and event["headers"]["content-type"] == "application/json"
    assert all(name == name.lower() for name in event["headers"])
    assert "cookie" not in event["headers"]
    assert sorted(event["cookies"]) == ["bmsync_session=s1", "theme=dark"]
    assert event["body"] == '{"x": 1}' and event["isBase64Encoded"] is False
    http = event["requestContext"]["http"]
    assert http == {
        "method": "POST",
        "path": "/echo",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "pytest-ua",
    }
    assert (
        event["requestContext"]["routeKey"] == "$default" and event["requestContext"]["stage"] == "$default"
    )
    assert isinstance(event["requestContext"]["timeEpoch"], int)


def test_a_binary_body_is_base64_encoded(server: tuple[FunctionUrlServer, list[RuntimeEvent]]) -> None:
    url_server, _ = server
    payload = bytes(range(256))
    response = requests.put(
        f"{url_server.base_url}/echo",
        data=payload,
        headers={"Content-Type": "application/octet-stream"},
        timeout=5,
    )
    event = response.json()
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload
    assert "queryStringParameters" not in event and "cookies" not in event


def test_powertools_function_url_resolver_routes_the_events(
    server: tuple[FunctionUrlServer, list[RuntimeEvent]],
) -> None:
    url_server, events = server
    response = requests.get(f"{url_server.base_url}/hello/ops?q=status", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"hello": "ops", "q": "status"}
    login = requests.post(f"{url_server.base_url}/login", timeout=5)
    assert login.status_code == 204
    assert login.cookies.get("bmsync_session") == "abc"
    missing = requests.get(f"{url_server.base_url}/nowhere", timeout=5)
    assert missing.status_code == 404
    assert [event.detail for event in events] == [
        "GET /hello/ops -> 200",
        "POST /login -> 204",
        "GET /nowhere -> 404",
    ]
    assert {event.trigger for event in events} == {"url"}


def test_the_response_mapping_follows_function_urls(
    server: tuple[FunctionUrlServer, list[RuntimeEvent]],
) -> None:
    url_server, events = server
    inferred = requests.get(f"{url_server.base_url}/plain-dict", timeout=5)
    assert inferred.status_code == 200 and inferred.json() == {"just": "a value"}

    binary = requests.get(f"{url_server.base_url}/binary", timeout=5)
    assert binary.content == b"\x89PNG-bytes"
    assert binary.headers["content-type"] == "image/png"
    assert binary.cookies.get("a") == "1" and binary.cookies.get("b") == "2"

    crashed = requests.get(f"{url_server.base_url}/boom", timeout=5)
    assert crashed.status_code == 502 and crashed.text == "Internal Server Error"
    assert events[-1].outcome == "error" and "admin crashed" in events[-1].detail


def test_a_missing_admin_handler_answers_503_in_plain_words(tmp_path: Path) -> None:
    invoker = Invoker(
        ManualClock(), functions_dir=tmp_path, specs=(FunctionSpec("admin", "", function_url=True),)
    )
    url_server = FunctionUrlServer(invoker)
    url_server.start()
    try:
        response = requests.get(f"{url_server.base_url}/", timeout=5)
    finally:
        url_server.stop()
    assert response.status_code == 503
    assert "admin function is not built yet" in response.text

"""The admin's Lambda Function URL, locally: HTTP on 127.0.0.1 <-> payload format 2.0 events.

Requests become exactly what a Function URL sends the function (version 2.0, ``$default`` route,
lower-cased headers, cookies apart, the body as text or base64) and the function's answer becomes
the HTTP response, with the same inference Function URLs apply when the answer is not a full one.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bmsync.clock import Clock
from bmsync_sandbox.runtime.events import EventSink, RuntimeEvent, ignore_events
from bmsync_sandbox.runtime.invoker import HandlerMissing, Invocation, Invoker

URL_ID = "localadminurl"
MAX_BODY_BYTES = 6 * 1024 * 1024  # Lambda's synchronous payload limit

_TEXT_TYPES = ("text/", "application/json", "application/x-www-form-urlencoded", "application/xml")
_TEXT_SUFFIXES = ("+json", "+xml", "javascript")


def _is_text(content_type: str) -> bool:
    lowered = content_type.lower()
    return lowered.startswith(_TEXT_TYPES) or any(suffix in lowered for suffix in _TEXT_SUFFIXES)


def build_event(
    *,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    source_ip: str,
    host: str,
    clock: Clock,
) -> dict[str, Any]:
    """A Function URL request event (payload format 2.0)."""
    parts = urlsplit(target)
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    now = clock.now()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path or "/",
        "rawQueryString": parts.query,
        "headers": merged,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": URL_ID,
            "domainName": host,
            "domainPrefix": URL_ID,
            "http": {
                "method": method,
                "path": parts.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if body:
        if _is_text(merged.get("content-type", "")):
            event["body"] = body.decode("utf-8", errors="replace")
        else:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


def http_response(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """The function's answer as an HTTP response (status, headers, body), as a Function URL does it."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # Not a full response: the URL answers 200 with the value as JSON.
        return 200, [("content-type", "application/json")], json.dumps(result).encode()
    headers = [(str(name), str(value)) for name, value in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(value)) for value in values)
    headers.extend(("set-cookie", str(cookie)) for cookie in result.get("cookies") or [])
    body = result.get("body") or ""
    if not isinstance(body, str):
        body = json.dumps(body)
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("content-type", "application/json"))
    return int(result["statusCode"]), headers, payload


class FunctionUrlServer:
    """A threaded HTTP server on 127.0.0.1 that invokes one function per request."""

    def __init__(
        self,
        invoker: Invoker,
        *,
        function: str = "admin",
        port: int = 0,
        on_event: EventSink = ignore_events,
    ) -> None:
        self.invoker = invoker
        self.function = function
        self._on_event = on_event
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._request_handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        self._thread = threading.Thread(target=self._server.serve_forever, name="function-url", daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def handle(self, event: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        http = event["requestContext"]["http"]
        what = f"{http['method']} {http['path']}"
        try:
            invocation: Invocation = self.invoker.invoke(self.function, event)
        except HandlerMissing as missing:
            self._report("error", f"{what}: {missing}")
            return _plain(HTTPStatus.SERVICE_UNAVAILABLE, f"the {self.function} function is not built yet")
        if not invocation.ok:
            self._report("error", f"{what}: {invocation.error_type}: {invocation.error}")
            # What a Function URL answers when the function raises.
            return _plain(HTTPStatus.BAD_GATEWAY, "Internal Server Error")
        try:
            status, headers, body = http_response(invocation.result)
        except (ValueError, TypeError) as error:
            self._report("error", f"{what}: the function's response is malformed: {error}")
            return _plain(HTTPStatus.BAD_GATEWAY, "Internal Server Error")
        self._report("ok" if status < 500 else "error", f"{what} -> {status}")
        return status, headers, body

    def _report(self, outcome: str, detail: str) -> None:
        self._on_event(
            RuntimeEvent(
                at=self.invoker.clock.now(),
                function=self.function,
                trigger="url",
                connection="-",
                outcome=outcome,
                detail=detail,
            )
        )

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        url_server = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length > MAX_BODY_BYTES:
                    self._send(*_plain(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request Entity Too Large"))
                    return
                body = self.rfile.read(length) if length else b""
                event = build_event(
                    method=self.command,
                    target=self.path,
                    headers=list(self.headers.items()),
                    body=body,
                    source_ip=self.client_address[0],
                    host=self.headers.get("host", ""),
                    clock=url_server.invoker.clock,
                )
                self._send(*url_server.handle(event))

            def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

            def log_message(self, format: str, *args: Any) -> None:
                """Requests are reported as runtime events instead of stderr lines."""

        return RequestHandler


def _plain(status: HTTPStatus, text: str) -> tuple[int, list[tuple[str, str]], bytes]:
    return int(status), [("content-type", "text/plain; charset=utf-8")], text.encode()

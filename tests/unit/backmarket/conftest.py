"""A scripted transport for the Back Market client: each test says what the "server" answers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter

from bmsync.backmarket import BackMarketClient
from bmsync.backmarket import client as client_module
from bmsync.backmarket.limiter import reset_shared_limiters
from bmsync.clock import ManualClock

BASE_URL = "https://bm.test"
TOKEN = "unit-test-token-9d2e"


def make_response(
    status: int, body: Any = None, *, headers: dict[str, str] | None = None, text: str | None = None
) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    if text is not None:
        response._content = text.encode()
    elif body is not None:
        response._content = json.dumps(body).encode()
    else:
        response._content = b""
    response.headers.update(headers or {"Content-Type": "application/json"})
    return response


Answer = requests.Response | Exception


class ScriptedAdapter(BaseAdapter):
    """Answers with ``responder(request)``; remembers every request."""

    def __init__(self, responder: Callable[[requests.PreparedRequest], Answer]) -> None:
        super().__init__()
        self.responder = responder
        self.requests: list[requests.PreparedRequest] = []
        self.timeouts: list[Any] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.requests.append(request)
        self.timeouts.append(kwargs.get("timeout"))
        answer = self.responder(request)
        if isinstance(answer, Exception):
            raise answer
        answer.request = request
        answer.url = request.url or ""
        return answer

    def close(self) -> None:
        pass


@pytest.fixture
def unit_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def scripted(unit_clock: ManualClock) -> Iterator[Callable[..., tuple[BackMarketClient, ScriptedAdapter]]]:
    """``scripted(responder, tokens=[...])`` -> a client whose HTTP goes to ``responder``."""
    created: list[requests.Session] = []

    def build(
        responder: Callable[[requests.PreparedRequest], Answer], *, tokens: list[str] | None = None
    ) -> tuple[BackMarketClient, ScriptedAdapter]:
        adapter = ScriptedAdapter(responder)
        token_sequence = list(tokens or [TOKEN])
        asked: list[bool] = []

        def provider(force_refresh: bool) -> str:
            asked.append(force_refresh)
            return token_sequence.pop(0) if len(token_sequence) > 1 else token_sequence[0]

        client = BackMarketClient(
            base_url=BASE_URL,
            token_provider=provider,
            market="fr-fr",
            user_agent="BM-Acme-bmsync;ops@acme.example",
            clock=unit_clock,
        )
        client.token_requests = asked  # type: ignore[attr-defined]
        for token in set(tokens or [TOKEN]):
            session = client_module._session_for(BASE_URL, token)
            session.mount(BASE_URL, adapter)
            created.append(session)
        return client, adapter

    yield build
    client_module._sessions.clear()
    client_module._date_formats.clear()
    reset_shared_limiters()

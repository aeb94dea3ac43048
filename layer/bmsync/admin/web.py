"""Request plumbing shared by every admin route: the request in hand, who sent it, bodies, responses.

The page modules' routers are module-level (Powertools' ``Router``), so a route reaches what its app
was built with (the :class:`AdminServices`) and who is signed in through :func:`admin_request`: the
app's middleware sets it for the request it handles. A ``ContextVar`` rather than the router's
``context``: a router points at the last app that included it, and tests build many apps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.shared.cookies import Cookie, SameSite
from aws_lambda_powertools.utilities.data_classes import LambdaFunctionUrlEvent
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bmsync.admin.html import csrf_field, esc, layout
from bmsync.admin.services import AdminServices
from bmsync.admin.sessions import Session
from bmsync.errors import IntegrationError
from bmsync.secrets import SecretMissing
from bmsync.settings import CONNECTION_ID_PATTERN, ConnectionMode

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


#: No admin body comes near these: anything beyond is refused before it is looked at.
MAX_JSON_BODY = 64 * 1024
MAX_JSON_DEPTH = 8


class BadRequest(Exception):
    """A request the admin refuses with a 4xx that names the field at fault."""

    def __init__(self, field: str, message: str, status: int = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(f"{field}: {message}")
        self.errors = [{"field": field, "message": message}]
        self.status = status


@contextmanager
def wholecell_answers() -> Iterator[None]:
    """A request that reads WholeCell live: its missing secret is a 503 and a WholeCell that does not
    answer a 502, both naming ``wholecell`` (an error the block catches itself goes first)."""
    try:
        yield
    except SecretMissing as missing:
        raise BadRequest("wholecell", str(missing), HTTPStatus.SERVICE_UNAVAILABLE) from None
    except IntegrationError as error:
        raise BadRequest(
            "wholecell", f"WholeCell did not answer: {error.message}; try again", HTTPStatus.BAD_GATEWAY
        ) from None


class TypedConfirmation(BaseModel):
    """The body of an action a person confirms by typing the connection's id (delete, go live)."""

    model_config = ConfigDict(extra="forbid")

    confirm: str = Field(max_length=64)


def require_typed_confirmation(data: dict[str, Any], connection_id: str) -> None:
    """Refuse (400, field ``confirm``) unless ``data["confirm"]`` repeats ``connection_id``."""
    try:
        body = TypedConfirmation.model_validate(data)
    except ValidationError:
        body = None
    if body is None or body.confirm != connection_id:
        raise BadRequest("confirm", f"type the connection id {connection_id!r} to confirm")


class Unprocessable(Exception):
    """422: the body is well-formed but fields are invalid (``errors`` name each field)."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{error['field']}: {error['message']}" for error in errors))
        self.errors = errors


@dataclass(frozen=True)
class Caller:
    """Who sent the request: a signed-in browser (with its session) or an API client (bearer)."""

    session: Session | None
    form: dict[str, str]

    @property
    def csrf(self) -> str:
        # Bearer clients have no session and never post forms: they get an empty token.
        return self.session.csrf if self.session else ""


@dataclass
class AdminRequest:
    """The request in hand: the event, the app's services, and (once authenticated) the caller."""

    event: LambdaFunctionUrlEvent
    services: AdminServices
    authenticated: Caller | None = None

    @property
    def caller(self) -> Caller:
        assert self.authenticated is not None, "the auth middleware runs before every protected route"
        return self.authenticated

    @property
    def path(self) -> str:
        return self.event.path

    @property
    def query(self) -> dict[str, str]:
        return self.event.query_string_parameters or {}

    def cookie(self, name: str) -> str | None:
        for cookie in self.event.cookies or []:
            key, _, value = cookie.partition("=")
            if key.strip() == name:
                return value.strip()
        return None

    def json_body(self) -> dict[str, Any]:
        raw = self.event.decoded_body or ""
        if len(raw) > MAX_JSON_BODY:
            raise BadRequest(
                "body", f"too large: at most {MAX_JSON_BODY} bytes", HTTPStatus.REQUEST_ENTITY_TOO_LARGE
            )
        try:
            body = json.loads(raw, parse_constant=_refuse_constant)
        except (ValueError, RecursionError):
            raise BadRequest("body", "send a JSON object (Content-Type: application/json)") from None
        if not isinstance(body, dict):
            raise BadRequest("body", "send a JSON object")
        deepest = _nesting(body)
        if deepest > MAX_JSON_DEPTH:
            raise BadRequest("body", f"nested {deepest} levels deep: at most {MAX_JSON_DEPTH}")
        return body


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _nesting(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_nesting(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_nesting(item) for item in value), default=0)
    return 0


_current_request: ContextVar[AdminRequest] = ContextVar("admin_request")


@contextmanager
def handling(request: AdminRequest) -> Iterator[AdminRequest]:
    """Make ``request`` the one :func:`admin_request` answers while the app handles it."""
    token = _current_request.set(request)
    try:
        yield request
    finally:
        _current_request.reset(token)


def admin_request() -> AdminRequest:
    return _current_request.get()


def wants_json(path: str) -> bool:
    return path.startswith("/api/")


_UNSAFE_IN_NEXT = re.compile(r"[\\\x00-\x1f\x7f]|%[01][0-9a-f]|%7f|%5c", re.IGNORECASE)


def same_site_path(candidate: str | None) -> str:
    """``candidate`` when it is a plain path of this site, else ``/``: a redirect after sign-in never
    leaves the site (``//host``, ``/\\host``) nor splits the response (encoded CR/LF)."""
    if (
        not candidate
        or len(candidate) > 2000
        or not candidate.startswith("/")
        or candidate.startswith("//")
        or _UNSAFE_IN_NEXT.search(candidate)
    ):
        return "/"
    return candidate


def parse_form(body: str | None) -> dict[str, str]:
    return dict(parse_qsl(body or "", keep_blank_values=True))


def connection_id_from(value: str) -> str:
    if not re.match(CONNECTION_ID_PATTERN, value):
        raise BadRequest(
            "connection_id", "lower-case letters, digits and dashes, up to 40", HTTPStatus.NOT_FOUND
        )
    return value


def json_response(status: int, data: Any, cookies: list[Cookie] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(data, default=str),
        cookies=cookies,
    )


def html_response(status: int, html: str, cookies: list[Cookie] | None = None) -> Response[str]:
    return Response(status_code=status, content_type="text/html; charset=utf-8", body=html, cookies=cookies)


def redirect(location: str, cookies: list[Cookie] | None = None) -> Response[str]:
    return Response(
        status_code=HTTPStatus.SEE_OTHER, headers={"Location": location}, body="", cookies=cookies
    )


def strict_cookie(name: str, value: str, max_age: int) -> Cookie:
    return Cookie(
        name=name,
        value=value,
        path="/",
        secure=True,
        http_only=True,
        same_site=SameSite.STRICT_MODE,
        max_age=max_age,
    )


def error_page(status: int, title: str, message: str, *, csrf: str | None = None) -> Response[str]:
    return html_response(status, layout(title, f'<p class="notice error">{esc(message)}</p>', csrf=csrf))


def error_response(
    path: str, status: int, errors: list[dict[str, str]], *, csrf: str | None = None
) -> Response[str]:
    if wants_json(path):
        return json_response(status, {"errors": errors})
    message = "; ".join(
        f"{error['field']}: {error['message']}" if error["field"] else error["message"] for error in errors
    )
    return error_page(status, HTTPStatus(status).phrase, message, csrf=csrf)


def page(title: str, body: str, *, connection_id: str | None = None, status: int = 200) -> Response[str]:
    """A console page for the signed-in caller (navigation, sign-out form); a connection's page says
    when the connection is in shadow mode."""
    request = admin_request()
    if connection_id:
        settings = request.services.settings().get(connection_id)
        if settings is not None and settings.mode is ConnectionMode.SHADOW:
            body = (
                '<p class="notice info" role="status"><span class="badge shadow">shadow mode</span> '
                "bmsync writes nothing to Back Market or WholeCell for this connection: see "
                f'<a href="/connections/{esc(connection_id)}/connection#shadow">What bmsync would do</a>, '
                "then go live.</p>" + body
            )
    return html_response(status, layout(title, body, csrf=request.caller.csrf, connection_id=connection_id))


def csrf_input() -> str:
    """The hidden CSRF field every form of the signed-in caller carries."""
    return csrf_field(admin_request().caller.csrf)

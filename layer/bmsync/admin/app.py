"""The admin's Function URL app: the guard every request passes, then one router per page module.

Each ``*_pages`` module holds a router (its routes), the view functions that render its HTML, and calls
the business operations of its ``*_service`` module; this module only assembles them.
"""

from __future__ import annotations

from http import HTTPStatus
from importlib import resources

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from bmsync.admin import (
    connection_pages,
    doctor_pages,
    listing_pages,
    order_pages,
    settings_pages,
    signin_pages,
    status_pages,
)
from bmsync.admin.credentials import AdminSecret, load_admin_secret
from bmsync.admin.services import AdminServices
from bmsync.admin.sessions import SESSION_COOKIE, Session, bearer_valid, csrf_valid, read_session
from bmsync.admin.web import (
    SECURITY_HEADERS,
    AdminRequest,
    BadRequest,
    Caller,
    Unprocessable,
    admin_request,
    error_response,
    handling,
    json_response,
    parse_form,
    wants_json,
)
from bmsync.clock import Clock

PUBLIC_PATHS = {"/signin", "/static/admin.css", "/favicon.ico"}
SAFE_METHODS = {"GET", "HEAD"}
#: Their routes are matched in this order.
PAGE_MODULES = (
    signin_pages,
    settings_pages,
    connection_pages,
    status_pages,
    listing_pages,
    order_pages,
    doctor_pages,
)


def _credentials(
    authorization: str, cookie: str | None, clock: Clock
) -> tuple[AdminSecret | None, Session | None, bool]:
    """The admin secret, the session the cookie proves and whether the bearer token is known.

    The secret is cached for minutes; when a credential does not check out against the cached copy it
    is checked once more against a fresh one (the password or tokens may just have changed).
    """
    bearer = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
    for force_fetch in (False, True):
        admin_secret = load_admin_secret(force_fetch=force_fetch)
        if admin_secret is None or not (bearer or cookie):
            return admin_secret, None, False
        session = read_session(admin_secret, cookie, clock) if cookie else None
        bearer_ok = bool(bearer) and bearer_valid(admin_secret, bearer)
        if bearer_ok or (session is not None and not bearer):
            return admin_secret, session, bearer_ok
    return admin_secret, None, False


def authenticate(app: LambdaFunctionUrlResolver, next_middleware: NextMiddleware) -> Response:
    """The guard: every path but the public ones needs a session (and a CSRF token to change
    anything) or a known bearer token."""
    request = admin_request()
    event = request.event
    path, method = event.path, event.http_method.upper()
    if path in PUBLIC_PATHS:
        return next_middleware(app)
    authorization = event.headers.get("authorization") or ""
    cookie = request.cookie(SESSION_COOKIE)
    admin_secret, session, bearer_ok = _credentials(authorization, cookie, request.services.clock())
    if authorization.lower().startswith("bearer "):
        if admin_secret is not None and bearer_ok:
            request.authenticated = Caller(admin_secret, None, {})
            return next_middleware(app)
        return error_response(path, 401, [{"field": "authorization", "message": "unknown bearer token"}])
    if admin_secret is None or session is None:
        if wants_json(path):
            return json_response(401, {"errors": [{"field": "authorization", "message": "sign in first"}]})
        return signin_pages.signin_page(request, 401, next_path=path if method in SAFE_METHODS else "/")
    form = {}
    if method not in SAFE_METHODS:
        content_type = (event.headers.get("content-type") or "").lower()
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = parse_form(event.decoded_body)
        presented = event.headers.get("x-csrf-token") or form.get("csrf_token")
        if not csrf_valid(admin_secret, session.session_id, presented):
            errors = [{"field": "csrf_token", "message": "missing or wrong: reload the page and try again"}]
            return error_response(path, 403, errors)
    request.authenticated = Caller(admin_secret, session, form)
    return next_middleware(app)


def secure_headers(app: LambdaFunctionUrlResolver, next_middleware: NextMiddleware) -> Response:
    response = next_middleware(app)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def build_app(services: AdminServices) -> LambdaFunctionUrlResolver:
    app = LambdaFunctionUrlResolver()

    def in_request_scope(app: LambdaFunctionUrlResolver, next_middleware: NextMiddleware) -> Response:
        with handling(AdminRequest(app.current_event, services)):
            return next_middleware(app)

    app.use(middlewares=[secure_headers, in_request_scope, authenticate])

    @app.exception_handler(BadRequest)
    def bad_request(error: BadRequest) -> Response[str]:
        return error_response(app.current_event.path, error.status, error.errors)

    @app.exception_handler(Unprocessable)
    def unprocessable(error: Unprocessable) -> Response[str]:
        return error_response(app.current_event.path, HTTPStatus.UNPROCESSABLE_ENTITY, error.errors)

    @app.not_found
    def not_found(_: Exception) -> Response[str]:
        errors = [{"field": "path", "message": f"no such page: {app.current_event.path}"}]
        return error_response(app.current_event.path, 404, errors)

    @app.get("/static/admin.css")
    def stylesheet() -> Response[str]:
        css = resources.files("bmsync.admin").joinpath("static/admin.css").read_text()
        return Response(
            status_code=200, content_type="text/css", body=css, headers={"Cache-Control": "max-age=300"}
        )

    @app.get("/favicon.ico")
    def favicon() -> Response[str]:
        return Response(
            status_code=HTTPStatus.NO_CONTENT, body="", headers={"Cache-Control": "max-age=86400"}
        )

    for page_module in PAGE_MODULES:
        app.include_router(page_module.router)
    return app

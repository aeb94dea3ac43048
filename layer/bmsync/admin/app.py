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
from bmsync.admin.credentials import load_admin_secret
from bmsync.admin.services import AdminServices
from bmsync.admin.sessions import SESSION_COOKIE, bearer_valid, csrf_valid, read_session
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
    same_site_path,
    wants_json,
)

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


def authenticate(app: LambdaFunctionUrlResolver, next_middleware: NextMiddleware) -> Response:
    """The guard: every path but the public ones needs a session (and its CSRF token to change
    anything) or a live bearer token. Both are records in ``sync_state``: a sign-out, a password change
    or a revoked token takes effect in every container at once, and a bad credential costs one read
    (never a fresh copy of the admin secret)."""
    request = admin_request()
    event = request.event
    path, method = event.path, event.http_method.upper()
    if path in PUBLIC_PATHS:
        return next_middleware(app)
    clock = request.services.clock()
    store = request.services.auth_store()
    authorization = event.headers.get("authorization") or ""
    admin_secret = load_admin_secret()
    if authorization.lower().startswith("bearer "):
        token = authorization[7:].strip()
        if admin_secret is not None and bearer_valid(store, admin_secret, token, clock):
            request.authenticated = Caller(None, {})
            return next_middleware(app)
        return error_response(path, 401, [{"field": "authorization", "message": "unknown bearer token"}])
    cookie = request.cookie(SESSION_COOKIE)
    session = read_session(store, cookie, clock) if cookie and admin_secret is not None else None
    if admin_secret is None or session is None:
        if wants_json(path):
            return json_response(401, {"errors": [{"field": "authorization", "message": "sign in first"}]})
        return signin_pages.signin_page(
            request, 401, next_path=same_site_path(path) if method in SAFE_METHODS else "/"
        )
    form = {}
    if method not in SAFE_METHODS:
        content_type = (event.headers.get("content-type") or "").lower()
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = parse_form(event.decoded_body)
        presented = event.headers.get("x-csrf-token") or form.get("csrf_token")
        if not csrf_valid(session.csrf, presented):
            errors = [{"field": "csrf_token", "message": "missing or wrong: reload the page and try again"}]
            return error_response(path, 403, errors)
    request.authenticated = Caller(session, form)
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

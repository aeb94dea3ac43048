"""The admin's Function URL app: sign-in, then the JSON API under ``/api/`` and the console pages."""

from __future__ import annotations

import re
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
    status_pages,
)
from bmsync.admin.credentials import AdminSecret, load_admin_secret, verify_password
from bmsync.admin.html import csrf_field, esc, layout, notice
from bmsync.admin.services import AdminServices
from bmsync.admin.sessions import (
    ADMIN_STATE_PARTITION,
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    SIGNIN_FORM_LIFETIME,
    Session,
    SigninThrottle,
    bearer_valid,
    csrf_token,
    csrf_valid,
    issue_session,
    new_signin_nonce,
    read_session,
)
from bmsync.admin.web import (
    SECURITY_HEADERS,
    BadRequest,
    Caller,
    Unprocessable,
    error_response,
    html_response,
    json_response,
    parse_form,
    redirect,
    request_cookie,
    strict_cookie,
    wants_json,
)
from bmsync.clock import Clock
from bmsync.observability import logger

PUBLIC_PATHS = {"/signin", "/static/admin.css", "/favicon.ico"}
NONCE_SHAPE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
SAFE_METHODS = {"GET", "HEAD"}


def _signin_page(
    app: LambdaFunctionUrlResolver, status: int, message: str = "", next_path: str = "/"
) -> Response[str]:
    """The sign-in form, bound to this browser by a nonce cookie (the form's CSRF token derives from it)."""
    admin_secret = load_admin_secret()
    if admin_secret is None:
        body = notice("No admin password is set yet: run `bmsync admin set-password`.", "error")
        return html_response(
            HTTPStatus.SERVICE_UNAVAILABLE if status == 200 else status, layout("Sign in", body)
        )
    # Reuse this browser's nonce: a second tab (or a favicon request) must not void an open form.
    presented = request_cookie(app, SIGNIN_COOKIE) or ""
    nonce = presented if NONCE_SHAPE.match(presented) else new_signin_nonce()
    body = (
        (notice(message, "error") if message else "")
        + '<form method="post" action="/signin">'
        + csrf_field(csrf_token(admin_secret, "signin:" + nonce))
        + f'<input type="hidden" name="next" value="{esc(next_path)}">'
        + '<label for="password">Admin password</label>'
        + '<input type="password" id="password" name="password" autocomplete="current-password" required>'
        + '<button type="submit">Sign in</button></form>'
    )
    cookie = strict_cookie(SIGNIN_COOKIE, nonce, int(SIGNIN_FORM_LIFETIME.total_seconds()))
    return html_response(status, layout("Sign in", body), cookies=[cookie])


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


def build_app(services: AdminServices) -> LambdaFunctionUrlResolver:
    app = LambdaFunctionUrlResolver()

    def authenticate(app: LambdaFunctionUrlResolver, next_middleware: NextMiddleware) -> Response:
        event = app.current_event
        path, method = event.path, event.http_method.upper()
        if path in PUBLIC_PATHS:
            return next_middleware(app)
        authorization = event.headers.get("authorization") or ""
        cookie = request_cookie(app, SESSION_COOKIE)
        admin_secret, session, bearer_ok = _credentials(authorization, cookie, services.clock())
        if authorization.lower().startswith("bearer "):
            if admin_secret is not None and bearer_ok:
                app.append_context(caller=Caller(admin_secret, None, {}))
                return next_middleware(app)
            return error_response(path, 401, [{"field": "authorization", "message": "unknown bearer token"}])
        if admin_secret is None or session is None:
            if wants_json(path):
                return json_response(
                    401, {"errors": [{"field": "authorization", "message": "sign in first"}]}
                )
            return _signin_page(app, 401, next_path=path if method in SAFE_METHODS else "/")
        form = {}
        if method not in SAFE_METHODS:
            content_type = (event.headers.get("content-type") or "").lower()
            if content_type.startswith("application/x-www-form-urlencoded"):
                form = parse_form(event.decoded_body)
            presented = event.headers.get("x-csrf-token") or form.get("csrf_token")
            if not csrf_valid(admin_secret, session.session_id, presented):
                errors = [
                    {"field": "csrf_token", "message": "missing or wrong: reload the page and try again"}
                ]
                return error_response(path, 403, errors)
        app.append_context(caller=Caller(admin_secret, session, form))
        return next_middleware(app)

    def secure_headers(app: LambdaFunctionUrlResolver, next_middleware: NextMiddleware) -> Response:
        response = next_middleware(app)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    app.use(middlewares=[secure_headers, authenticate])

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

    @app.get("/signin")
    def signin_form() -> Response[str]:
        return _signin_page(
            app, 200, next_path=(app.current_event.query_string_parameters or {}).get("next", "/")
        )

    @app.post("/signin")
    def signin() -> Response[str]:
        event = app.current_event
        source_ip = event.request_context.http.source_ip
        clock = services.clock()
        throttle = SigninThrottle(services.state(ADMIN_STATE_PARTITION), clock)
        form = parse_form(event.decoded_body)
        next_path = form.get("next", "/")
        if not next_path.startswith("/") or next_path.startswith("//"):
            next_path = "/"
        wait = throttle.locked_for(source_ip)
        if wait is not None:
            minutes = max(1, int(wait.total_seconds() // 60))
            response = _signin_page(app, 429, f"Too many failed sign-ins: try again in {minutes} minute(s).")
            response.headers["Retry-After"] = str(int(wait.total_seconds()) + 1)
            return response
        admin_secret = load_admin_secret(force_fetch=True)
        nonce = request_cookie(app, SIGNIN_COOKIE) or ""
        if (
            admin_secret is None
            or not nonce
            or not csrf_valid(admin_secret, "signin:" + nonce, form.get("csrf_token"))
        ):
            return _signin_page(app, 403, "The sign-in form expired: sign in again.", next_path)
        if not verify_password(form.get("password", ""), admin_secret.password_hash):
            throttle.record_failure(source_ip)
            logger.warning("admin sign-in failed", extra={"source_ip": source_ip})
            return _signin_page(app, 401, "Wrong password.", next_path)
        throttle.record_success(source_ip)
        session, cookie_value = issue_session(admin_secret, clock)
        return redirect(
            next_path,
            cookies=[
                strict_cookie(SESSION_COOKIE, cookie_value, session.max_age_seconds),
                strict_cookie(SIGNIN_COOKIE, "", 0),
            ],
        )

    @app.post("/signout")
    def signout() -> Response[str]:
        return redirect("/signin", cookies=[strict_cookie(SESSION_COOKIE, "", 0)])

    settings_pages.register(app, services)
    connection_pages.register(app, services)
    status_pages.register(app, services)
    listing_pages.register(app, services)
    order_pages.register(app, services)
    doctor_pages.register(app, services)
    return app

"""Signing in and out: the password form (bound to the browser by a nonce cookie) and the session."""

from __future__ import annotations

import re
from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import LambdaFunctionUrlRouter

from bmsync.admin.credentials import load_admin_secret, verify_password
from bmsync.admin.html import csrf_field, esc, layout, notice
from bmsync.admin.sessions import (
    ADMIN_STATE_PARTITION,
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    SIGNIN_FORM_LIFETIME,
    SigninThrottle,
    csrf_token,
    csrf_valid,
    issue_session,
    new_signin_nonce,
)
from bmsync.admin.web import AdminRequest, admin_request, html_response, parse_form, redirect, strict_cookie
from bmsync.observability import logger

NONCE_SHAPE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

router = LambdaFunctionUrlRouter()


def signin_page(request: AdminRequest, status: int, message: str = "", next_path: str = "/") -> Response[str]:
    """The sign-in form, bound to this browser by a nonce cookie (the form's CSRF token derives from it)."""
    admin_secret = load_admin_secret()
    if admin_secret is None:
        body = notice("No admin password is set yet: run `bmsync admin set-password`.", "error")
        return html_response(
            HTTPStatus.SERVICE_UNAVAILABLE if status == 200 else status, layout("Sign in", body)
        )
    # Reuse this browser's nonce: a second tab (or a favicon request) must not void an open form.
    presented = request.cookie(SIGNIN_COOKIE) or ""
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


@router.get("/signin")
def signin_form() -> Response[str]:
    request = admin_request()
    return signin_page(request, 200, next_path=request.query.get("next", "/"))


@router.post("/signin")
def signin() -> Response[str]:
    request = admin_request()
    services = request.services
    source_ip = request.event.request_context.http.source_ip
    clock = services.clock()
    throttle = SigninThrottle(services.state(ADMIN_STATE_PARTITION), clock)
    form = parse_form(request.event.decoded_body)
    next_path = form.get("next", "/")
    if not next_path.startswith("/") or next_path.startswith("//"):
        next_path = "/"
    wait = throttle.locked_for(source_ip)
    if wait is not None:
        minutes = max(1, int(wait.total_seconds() // 60))
        response = signin_page(request, 429, f"Too many failed sign-ins: try again in {minutes} minute(s).")
        response.headers["Retry-After"] = str(int(wait.total_seconds()) + 1)
        return response
    admin_secret = load_admin_secret(force_fetch=True)
    nonce = request.cookie(SIGNIN_COOKIE) or ""
    if (
        admin_secret is None
        or not nonce
        or not csrf_valid(admin_secret, "signin:" + nonce, form.get("csrf_token"))
    ):
        return signin_page(request, 403, "The sign-in form expired: sign in again.", next_path)
    if not verify_password(form.get("password", ""), admin_secret.password_hash):
        throttle.record_failure(source_ip)
        logger.warning("admin sign-in failed", extra={"source_ip": source_ip})
        return signin_page(request, 401, "Wrong password.", next_path)
    throttle.record_success(source_ip)
    session, cookie_value = issue_session(admin_secret, clock)
    return redirect(
        next_path,
        cookies=[
            strict_cookie(SESSION_COOKIE, cookie_value, session.max_age_seconds),
            strict_cookie(SIGNIN_COOKIE, "", 0),
        ],
    )


@router.post("/signout")
def signout() -> Response[str]:
    return redirect("/signin", cookies=[strict_cookie(SESSION_COOKIE, "", 0)])

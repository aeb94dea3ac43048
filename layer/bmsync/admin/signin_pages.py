"""Signing in and out: the password form (bound to the browser by a nonce cookie) and the session."""

from __future__ import annotations

import re
from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import LambdaFunctionUrlRouter

from bmsync.admin.credentials import AdminSecret, load_admin_secret, verify_password
from bmsync.admin.html import csrf_field, esc, layout, notice
from bmsync.admin.sessions import (
    ADMIN_STATE_PARTITION,
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    SIGNIN_FORM_LIFETIME,
    Attempt,
    SigninThrottle,
    csrf_token,
    csrf_valid,
    end_session,
    issue_session,
    new_signin_nonce,
)
from bmsync.admin.web import (
    AdminRequest,
    admin_request,
    html_response,
    parse_form,
    redirect,
    same_site_path,
    strict_cookie,
)
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
    return signin_page(request, 200, next_path=same_site_path(request.query.get("next")))


def _form_secret(nonce: str, presented: str | None) -> AdminSecret | None:
    """The admin secret the sign-in form's token checks out against (a fresh copy when the cached one
    disagrees: the key may just have changed), or None."""
    if not NONCE_SHAPE.match(nonce):
        return None
    for refresh in (False, True):
        admin_secret = load_admin_secret(refresh=refresh)
        if admin_secret is not None and csrf_valid(csrf_token(admin_secret, "signin:" + nonce), presented):
            return admin_secret
    return None


def _password_matches(admin_secret: AdminSecret, password: str) -> bool:
    if verify_password(password, admin_secret.password_hash):
        return True
    # The password may have just changed: one more check against a fresh copy, when one is allowed.
    fresh = load_admin_secret(refresh=True)
    return (
        fresh is not None
        and fresh.password_hash != admin_secret.password_hash
        and verify_password(password, fresh.password_hash)
    )


@router.post("/signin")
def signin() -> Response[str]:
    request = admin_request()
    services = request.services
    source_ip = request.event.request_context.http.source_ip
    clock = services.clock()
    store = services.auth_store()
    form = parse_form(request.event.decoded_body)
    next_path = same_site_path(form.get("next"))
    admin_secret = _form_secret(request.cookie(SIGNIN_COOKIE) or "", form.get("csrf_token"))
    if admin_secret is None:
        return signin_page(request, 403, "The sign-in form expired: sign in again.", next_path)
    # Counted before the (slow, on purpose) password check: a flood runs it at most the limit's times.
    throttle = SigninThrottle(store, services.state(ADMIN_STATE_PARTITION), clock)
    attempt = throttle.attempt(source_ip)
    if not isinstance(attempt, Attempt):
        minutes = max(1, int(attempt.total_seconds() // 60))
        response = signin_page(request, 429, f"Too many failed sign-ins: try again in {minutes} minute(s).")
        response.headers["Retry-After"] = str(int(attempt.total_seconds()) + 1)
        return response
    if not _password_matches(admin_secret, form.get("password", "")):
        throttle.failed(attempt)
        logger.warning("admin sign-in failed", extra={"source_ip": source_ip})
        return signin_page(request, 401, "Wrong password.", next_path)
    throttle.succeeded(attempt)
    session, cookie_value = issue_session(store, clock)
    return redirect(
        next_path,
        cookies=[
            strict_cookie(SESSION_COOKIE, cookie_value, session.max_age_seconds),
            strict_cookie(SIGNIN_COOKIE, "", 0),
        ],
    )


@router.post("/signout")
def signout() -> Response[str]:
    request = admin_request()
    session = request.caller.session
    if session is not None:
        end_session(request.services.auth_store(), session)
    return redirect("/signin", cookies=[strict_cookie(SESSION_COOKIE, "", 0)])

"""Sign-in sessions: signed expiring cookies, CSRF tokens, bearer tokens and sign-in throttling."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets as token_source
from dataclasses import dataclass
from datetime import datetime, timedelta

from bmsync.admin.credentials import AdminSecret, hash_api_token, session_key_bytes
from bmsync.clock import Clock, parse_iso, utc_iso
from bmsync.store.sync_state import SyncStateRepository

SESSION_COOKIE = "bmsync_session"
SIGNIN_COOKIE = "bmsync_signin"  # binds the sign-in form's CSRF token to this browser
SESSION_LIFETIME = timedelta(hours=8)
SIGNIN_FORM_LIFETIME = timedelta(minutes=30)

MAX_FAILED_SIGNINS = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
#: sync_state rows of the admin itself (not of a connection).
ADMIN_STATE_PARTITION = "_admin"


def _sign(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Session:
    session_id: str
    expires_at: datetime

    @property
    def max_age_seconds(self) -> int:
        return int(SESSION_LIFETIME.total_seconds())


def issue_session(admin_secret: AdminSecret, clock: Clock) -> tuple[Session, str]:
    """A new session and its cookie value: ``<payload b64>.<hmac>``."""
    session = Session(token_source.token_urlsafe(18), clock.now() + SESSION_LIFETIME)
    payload = base64.urlsafe_b64encode(
        json.dumps({"sid": session.session_id, "exp": utc_iso(session.expires_at)}).encode()
    ).decode()
    return session, f"{payload}.{_sign(session_key_bytes(admin_secret), 'session:' + payload)}"


def read_session(admin_secret: AdminSecret, cookie_value: str, clock: Clock) -> Session | None:
    """The session a cookie proves, or None when it is forged, tampered with or expired."""
    payload, _, signature = cookie_value.partition(".")
    expected = _sign(session_key_bytes(admin_secret), "session:" + payload)
    if not signature or not hmac.compare_digest(signature, expected):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload.encode()))
        session = Session(str(data["sid"]), parse_iso(str(data["exp"])))
    except (ValueError, KeyError, TypeError):
        return None
    return session if session.expires_at > clock.now() else None


def csrf_token(admin_secret: AdminSecret, binding: str) -> str:
    """The CSRF token of a session (or of a sign-in form's nonce): derived, so nothing is stored."""
    return _sign(session_key_bytes(admin_secret), "csrf:" + binding)


def csrf_valid(admin_secret: AdminSecret, binding: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(admin_secret, binding), str(presented))


def new_signin_nonce() -> str:
    return token_source.token_urlsafe(18)


def bearer_valid(admin_secret: AdminSecret, token: str) -> bool:
    presented = hash_api_token(token)
    return any(hmac.compare_digest(presented, stored) for stored in admin_secret.api_token_hashes)


class SigninThrottle:
    """Failed sign-ins per source IP, in ``sync_state``: too many in a window locks the IP out a while."""

    def __init__(self, state: SyncStateRepository, clock: Clock) -> None:
        self._state = state
        self._clock = clock

    @staticmethod
    def _name(source_ip: str) -> str:
        return f"signin-failures#{source_ip}"

    def locked_for(self, source_ip: str) -> timedelta | None:
        """How long this IP must still wait, or None when it may try."""
        document = self._state.get_document(self._name(source_ip)) or {}
        locked_until = document.get("locked_until")
        if not locked_until:
            return None
        remaining = parse_iso(locked_until) - self._clock.now()
        return remaining if remaining > timedelta(0) else None

    def record_failure(self, source_ip: str) -> None:
        now = self._clock.now()
        document = self._state.get_document(self._name(source_ip)) or {}
        window_start = document.get("window_start")
        failures = int(document.get("failures", 0))
        if not window_start or now - parse_iso(window_start) > FAILURE_WINDOW:
            window_start, failures = utc_iso(now), 0
        failures += 1
        updated = {"window_start": window_start, "failures": failures}
        if failures >= MAX_FAILED_SIGNINS:
            updated = {"window_start": utc_iso(now), "failures": 0, "locked_until": utc_iso(now + LOCKOUT)}
            minutes = int(LOCKOUT.total_seconds() // 60)
            self._state.raise_alert(
                f"signin-lockout#{source_ip}",
                f"{MAX_FAILED_SIGNINS} failed admin sign-ins from {source_ip}: that address is locked out "
                f"for {minutes} minutes",
                severity="warning",
                action="If this was not you, change the admin password (bmsync admin set-password).",
                subject="admin console",
            )
        self._state.put_document(self._name(source_ip), updated)

    def record_success(self, source_ip: str) -> None:
        self._state.put_document(self._name(source_ip), {"failures": 0})

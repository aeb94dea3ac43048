"""Sign-in sessions (server-side records), CSRF tokens, bearer tokens and the sign-in throttle."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets as token_source
from dataclasses import dataclass
from datetime import datetime, timedelta

from bmsync.admin.credentials import AdminSecret, api_token_id, hash_api_token, session_key_bytes
from bmsync.clock import Clock, parse_iso, utc_iso
from bmsync.store.admin_auth import ADMIN_STATE_PARTITION as ADMIN_STATE_PARTITION  # alerts live there
from bmsync.store.admin_auth import AdminAuthStore
from bmsync.store.sync_state import SyncStateRepository

SESSION_COOKIE = "bmsync_session"
SIGNIN_COOKIE = "bmsync_signin"  # binds the sign-in form's CSRF token to this browser
SESSION_LIFETIME = timedelta(hours=8)
SIGNIN_FORM_LIFETIME = timedelta(minutes=30)
#: A token's last use is written at most this often (not on every request).
TOKEN_USE_RESOLUTION = timedelta(minutes=5)

#: Sign-in attempts per address (IPv6: per /64) in a window; the password is checked only within it.
MAX_FAILED_SIGNINS = 5
#: Sign-in attempts from all addresses together in a window: a spread-out flood is capped too.
MAX_SIGNINS_ALL_ADDRESSES = 50
FAILURE_WINDOW = timedelta(minutes=15)
#: An address that used up its attempts waits for the window's end: at most this long.
LOCKOUT = FAILURE_WINDOW
#: How long the (single) lockout alert stays unless raised again.
LOCKOUT_ALERT_LIFETIME = timedelta(days=7)
LOCKOUT_ALERT_ID = "signin-lockout"


@dataclass(frozen=True)
class Session:
    session_id: str
    csrf: str
    expires_at: datetime

    @property
    def max_age_seconds(self) -> int:
        return int(SESSION_LIFETIME.total_seconds())


def _session_key(cookie_value: str) -> str:
    # Records are keyed by the cookie's hash: whoever reads the table cannot replay a session.
    return hashlib.sha256(cookie_value.encode()).hexdigest()


def issue_session(store: AdminAuthStore, clock: Clock) -> tuple[Session, str]:
    """A new session, recorded, and its cookie value (256 random bits)."""
    cookie_value = token_source.token_urlsafe(32)
    session = Session(
        _session_key(cookie_value), token_source.token_urlsafe(32), clock.now() + SESSION_LIFETIME
    )
    store.put_session(session.session_id, session.csrf, session.expires_at)
    return session, cookie_value


def read_session(store: AdminAuthStore, cookie_value: str, clock: Clock) -> Session | None:
    """The session a cookie proves, or None when it was never issued, has ended or has expired."""
    if not cookie_value or len(cookie_value) > 100:
        return None
    recorded = store.session(_session_key(cookie_value))
    if recorded is None:
        return None
    csrf, expires_at = recorded
    session = Session(_session_key(cookie_value), csrf, expires_at)
    return session if session.expires_at > clock.now() else None


def end_session(store: AdminAuthStore, session: Session) -> None:
    store.delete_session(session.session_id)


def csrf_token(admin_secret: AdminSecret, binding: str) -> str:
    """The sign-in form's CSRF token, derived from its nonce: nothing is stored for anonymous visitors."""
    return hmac.new(session_key_bytes(admin_secret), ("csrf:" + binding).encode(), hashlib.sha256).hexdigest()


def csrf_valid(expected: str, presented: str | None) -> bool:
    return bool(presented) and bool(expected) and hmac.compare_digest(expected, str(presented))


def new_signin_nonce() -> str:
    return token_source.token_urlsafe(18)


def bearer_valid(store: AdminAuthStore, admin_secret: AdminSecret, token: str, clock: Clock) -> bool:
    """Whether ``token`` is a live API token; notes its use."""
    if not token or len(token) > 200:
        return False
    presented = hash_api_token(token)
    record = store.api_token(api_token_id(presented))
    if record is None:
        # Not yet migrated into a record (any `bmsync admin ...-api-token` command migrates them).
        return any(hmac.compare_digest(presented, stored) for stored in admin_secret.api_token_hashes)
    now = clock.now()
    if not hmac.compare_digest(presented, record.token_hash):
        return False
    if record.expires_at and parse_iso(record.expires_at) <= now:
        return False
    if not record.last_used_at or now - parse_iso(record.last_used_at) >= TOKEN_USE_RESOLUTION:
        store.touch_api_token(record.token_id, now)
    return True


def address_group(source_ip: str) -> str:
    """What the throttle counts by: the IPv4 address, or the IPv6 /64 (one subscriber's block)."""
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return source_ip[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


@dataclass(frozen=True)
class Attempt:
    """A sign-in attempt the throttle let through (counted before the password is checked)."""

    group: str
    counted_at: datetime
    count: int


class SigninThrottle:
    """Sign-in attempts per address group and in all, counted atomically in ``sync_state`` *before* the
    password is checked: concurrent attempts cannot all get past the limit."""

    def __init__(self, store: AdminAuthStore, alerts: SyncStateRepository, clock: Clock) -> None:
        self._store = store
        self._alerts = alerts
        self._clock = clock

    def _wait(self) -> timedelta:
        seconds = int(FAILURE_WINDOW.total_seconds())
        now = self._clock.now()
        return timedelta(seconds=seconds - int(now.timestamp()) % seconds)

    def attempt(self, source_ip: str) -> Attempt | timedelta:
        """The counted attempt, or how long to wait when the address (or everyone) is out of attempts."""
        group = address_group(source_ip)
        now = self._clock.now()
        count = self._store.take_attempt(f"signin#{group}", MAX_FAILED_SIGNINS, FAILURE_WINDOW)
        if count is None:
            return self._wait()
        if self._store.take_attempt("signin#*", MAX_SIGNINS_ALL_ADDRESSES, FAILURE_WINDOW) is None:
            self._store.refund_attempt(f"signin#{group}", FAILURE_WINDOW, now)
            self._raise(f"more than {MAX_SIGNINS_ALL_ADDRESSES} admin sign-ins from all addresses together")
            return self._wait()
        return Attempt(group, now, count)

    def failed(self, attempt: Attempt) -> None:
        if attempt.count >= MAX_FAILED_SIGNINS:
            self._raise(f"{MAX_FAILED_SIGNINS} failed admin sign-ins from {attempt.group}")

    def succeeded(self, attempt: Attempt) -> None:
        # A right password gives its attempt back: signing in often never locks the admin out.
        self._store.refund_attempt(f"signin#{attempt.group}", FAILURE_WINDOW, attempt.counted_at)
        self._store.refund_attempt("signin#*", FAILURE_WINDOW, attempt.counted_at)

    def _raise(self, what: str) -> None:
        minutes = int(LOCKOUT.total_seconds() // 60)
        # One alert however many addresses fail (it counts them); it expires unless raised again.
        self._alerts.raise_alert(
            LOCKOUT_ALERT_ID,
            f"{what}: sign-ins from there are refused for up to {minutes} minutes (last at "
            f"{utc_iso(self._clock.now())})",
            severity="warning",
            action="If this was not you, change the admin password (bmsync admin set-password).",
            subject="admin console",
            expires_in=LOCKOUT_ALERT_LIFETIME,
        )

"""The admin credentials: the admin secret (password hash, sign-in form key) and API bearer tokens.

It lives in Secrets Manager under :data:`bmsync.settings.ADMIN_SECRET_NAME` as JSON. Only hashes are
stored: a leaked secret value does not reveal the password. API tokens are records in ``sync_state``
(:mod:`bmsync.store.admin_auth`), hashed too, so a revocation reaches every container at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets as token_source
import time
from datetime import timedelta

from pydantic import BaseModel, Field

from bmsync import secrets
from bmsync.clock import Clock, SystemClock, utc_iso
from bmsync.settings import ADMIN_SECRET_NAME
from bmsync.store.admin_auth import AdminAuthStore, ApiTokenRecord

PBKDF2_ITERATIONS = 600_000  # OWASP's 2023 figure for PBKDF2-HMAC-SHA256
MIN_PASSWORD_LENGTH = 12
MIGRATED_LABEL = "created before tokens had labels"


class WeakPassword(ValueError):
    pass


class AdminSecret(BaseModel):
    #: ``pbkdf2_sha256$<iterations>$<salt b64>$<hash b64>``
    password_hash: str
    #: Derives the sign-in form's CSRF token (sessions themselves are records in ``sync_state``).
    session_key: str
    #: Where API token hashes were kept before each token had its record (see
    #: :func:`migrate_legacy_api_tokens`); empty once migrated.
    api_token_hashes: list[str] = Field(default_factory=list)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, iterations: int = PBKDF2_ITERATIONS) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    salt = token_source.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, iterations, salt, expected = encoded.split("$")
        rounds = int(iterations)
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), _unb64(salt), rounds)
    return hmac.compare_digest(digest, _unb64(expected))


def hash_api_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_api_token() -> str:
    return "bmsync_" + token_source.token_urlsafe(32)


def generate_password() -> str:
    return token_source.token_urlsafe(18)


def new_admin_secret(password: str, *, iterations: int = PBKDF2_ITERATIONS) -> AdminSecret:
    return AdminSecret(
        password_hash=hash_password(password, iterations=iterations),
        session_key=_b64(token_source.token_bytes(32)),
    )


#: However many bad credentials arrive, a container fetches the secret again at most this often.
MIN_FORCED_REFRESH = timedelta(seconds=30)


class RefreshLimit:
    """When this process last fetched the admin secret on demand (``time.monotonic``)."""

    def __init__(self) -> None:
        self.last: float | None = None

    def allows_one_now(self) -> bool:
        now = time.monotonic()
        if self.last is not None and now - self.last < MIN_FORCED_REFRESH.total_seconds():
            return False
        self.last = now
        return True


refresh_limit = RefreshLimit()


def _parse(raw: str) -> AdminSecret:
    return AdminSecret.model_validate(json.loads(raw))


def load_admin_secret(*, refresh: bool = False) -> AdminSecret | None:
    """The admin secret (cached for minutes), or None before ``bmsync admin set-password`` ran.

    ``refresh`` asks for a fresh copy (a credential did not check out: the password may just have
    changed); it is honoured at most once per :data:`MIN_FORCED_REFRESH`, so a flood of bad
    credentials cannot turn into a flood of Secrets Manager calls.
    """
    force_fetch = refresh and refresh_limit.allows_one_now()
    try:
        return _parse(secrets.read_secret(ADMIN_SECRET_NAME, force_fetch=force_fetch))
    except secrets.SecretMissing:
        return None


def _current_admin_secret() -> AdminSecret | None:
    """The stored secret as it is now: what a change (the CLI) must start from."""
    try:
        return _parse(secrets.read_secret(ADMIN_SECRET_NAME, force_fetch=True))
    except secrets.SecretMissing:
        return None


def save_admin_secret(admin_secret: AdminSecret) -> None:
    secrets.write_secret(
        ADMIN_SECRET_NAME,
        admin_secret.model_dump_json(),
        description="bmsync admin console: password hash and sign-in form key",
    )


def migrate_legacy_api_tokens(store: AdminAuthStore) -> int:
    """Move token hashes kept in the admin secret (before tokens had records) into records: they keep
    working, and from now on can be listed and revoked. Returns how many moved."""
    existing = _current_admin_secret()
    if existing is None or not existing.api_token_hashes:
        return 0
    for token_hash in existing.api_token_hashes:
        store.put_api_token(
            ApiTokenRecord(token_id=api_token_id(token_hash), label=MIGRATED_LABEL, token_hash=token_hash)
        )
    save_admin_secret(existing.model_copy(update={"api_token_hashes": []}))
    return len(existing.api_token_hashes)


def set_admin_password(
    password: str,
    *,
    store: AdminAuthStore | None = None,
    revoke_api_tokens: bool = False,
    iterations: int = PBKDF2_ITERATIONS,
) -> AdminSecret:
    """Set (or replace) the admin password and end every session at once; API tokens are kept unless
    ``revoke_api_tokens``."""
    store = store if store is not None else AdminAuthStore(SystemClock())
    fresh = new_admin_secret(password, iterations=iterations)
    migrate_legacy_api_tokens(store)
    save_admin_secret(fresh)
    store.delete_all_sessions()
    if revoke_api_tokens:
        for record in store.api_tokens():
            store.delete_api_token(record.token_id)
    return fresh


def create_api_token(
    store: AdminAuthStore, clock: Clock, *, label: str, lifetime: timedelta
) -> tuple[ApiTokenRecord, str]:
    """A new bearer token for API clients and its record; the token is returned once (only its hash is
    stored)."""
    if _current_admin_secret() is None:
        raise secrets.SecretMissing("set the admin password first: bmsync admin set-password")
    migrate_legacy_api_tokens(store)
    token = new_api_token()
    token_hash = hash_api_token(token)
    now = clock.now()
    record = ApiTokenRecord(
        token_id=api_token_id(token_hash),
        label=label,
        token_hash=token_hash,
        created_at=utc_iso(now),
        expires_at=utc_iso(now + lifetime),
    )
    store.put_api_token(record)
    return record, token


def api_token_id(token_hash: str) -> str:
    """A token's public id: the start of its hash (the token itself has 256 random bits)."""
    return token_hash[:16]


def session_key_bytes(admin_secret: AdminSecret) -> bytes:
    return _unb64(admin_secret.session_key)

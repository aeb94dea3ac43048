"""The admin secret: password hash, session-signing key and hashed API bearer tokens.

It lives in Secrets Manager under :data:`bmsync.settings.ADMIN_SECRET_NAME` as JSON. Only hashes are
stored: a leaked secret value does not reveal the password or a bearer token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets as token_source

from pydantic import BaseModel, Field

from bmsync import secrets
from bmsync.settings import ADMIN_SECRET_NAME

PBKDF2_ITERATIONS = 600_000  # OWASP's 2023 figure for PBKDF2-HMAC-SHA256
MIN_PASSWORD_LENGTH = 12


class WeakPassword(ValueError):
    pass


class AdminSecret(BaseModel):
    #: ``pbkdf2_sha256$<iterations>$<salt b64>$<hash b64>``
    password_hash: str
    #: Signs session cookies (and derives CSRF tokens); replacing it signs everyone out.
    session_key: str
    #: SHA-256 of each API bearer token (tokens are long random strings: no slow hash needed).
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


def load_admin_secret(*, force_fetch: bool = False) -> AdminSecret | None:
    """The stored admin secret, or None before ``bmsync admin set-password`` ran."""
    try:
        raw = secrets.read_secret(ADMIN_SECRET_NAME, force_fetch=force_fetch)
    except secrets.SecretMissing:
        return None
    return AdminSecret.model_validate(json.loads(raw))


def save_admin_secret(admin_secret: AdminSecret) -> None:
    secrets.write_secret(
        ADMIN_SECRET_NAME,
        admin_secret.model_dump_json(),
        description="bmsync admin console: password hash, session key, API token hashes",
    )


def set_admin_password(password: str, *, iterations: int = PBKDF2_ITERATIONS) -> AdminSecret:
    """Set (or replace) the admin password; keeps existing API tokens, signs every session out."""
    existing = load_admin_secret(force_fetch=True)
    fresh = new_admin_secret(password, iterations=iterations)
    if existing is not None:
        fresh.api_token_hashes = list(existing.api_token_hashes)
    save_admin_secret(fresh)
    return fresh


def add_api_token() -> str:
    """Create a bearer token for API clients; returns it once (only its hash is stored)."""
    existing = load_admin_secret(force_fetch=True)
    if existing is None:
        raise secrets.SecretMissing("set the admin password first: bmsync admin set-password")
    token = new_api_token()
    existing.api_token_hashes.append(hash_api_token(token))
    save_admin_secret(existing)
    return token


def session_key_bytes(admin_secret: AdminSecret) -> bytes:
    return _unb64(admin_secret.session_key)

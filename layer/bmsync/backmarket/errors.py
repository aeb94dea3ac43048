"""Errors Back Market answers with, typed so a caller can act on each, in words an admin understands.

Every message is built by bmsync or taken from Back Market's own error text after redaction: no token
and no buyer data ever reaches one.
"""

from __future__ import annotations

from bmsync.errors import IntegrationError

RENEW_ACCESS_ACTION = (
    "Get a new token (Back Market > Support > Technical Support > Recover my token) and save it in the admin."
)


class BackMarketError(IntegrationError):
    service = "backmarket"


class Unauthorized(BackMarketError):
    """401: the token is missing, invalid, reset by a password change, or for another platform."""

    needs_attention = True

    def __init__(
        self, message: str = "", *, status: int | None = 401, action: str = RENEW_ACCESS_ACTION
    ) -> None:
        super().__init__(
            message
            or "Back Market rejected the token: it was reset or is for another platform or environment.",
            status=status,
            action=action,
        )


class Forbidden(BackMarketError):
    """403 with Back Market's JSON body: the account is not a merchant or the channel is disabled."""

    needs_attention = True

    def __init__(self, message: str, *, status: int | None = 403, action: str = "") -> None:
        super().__init__(
            message,
            status=status,
            action=action
            or "Check in the Back Market back office that the account is an active seller account and "
            "that API access is enabled for it; contact Back Market seller support if it is.",
        )


class Blocked(BackMarketError):
    """Back Market's firewall (Cloudflare) refused the request: an HTML page or a bot challenge."""

    needs_attention = True

    def __init__(
        self, message: str, *, status: int | None = 403, cf_ray: str | None = None, action: str = ""
    ) -> None:
        reference = f" (quote cf-ray {cf_ray})" if cf_ray else ""
        super().__init__(
            message,
            status=status,
            action=action
            or "Check that the User-Agent setting (company, integration, contact e-mail) is filled in; "
            f"if it is, ask Back Market seller support to allow this integration{reference}.",
        )
        self.cf_ray = cf_ray


class NotFound(BackMarketError):
    def __init__(self, message: str, *, status: int | None = 404, action: str = "") -> None:
        super().__init__(
            message,
            status=status,
            action=action
            or "Check the id or SKU: it is unknown to Back Market or belongs to another seller.",
        )


class InvalidTransition(BackMarketError):
    """400 on an order update: the line is not in a state that allows the change (Back Market's words)."""

    def __init__(self, message: str, *, status: int | None = 400, action: str = "") -> None:
        super().__init__(
            message,
            status=status,
            action=action
            or "Open the order in the Back Market back office to see its lines' states; an order must be "
            "accepted (validated) before it can be shipped.",
        )


class InvalidRequest(BackMarketError):
    """Another 4xx: Back Market refused the request's content (a bad field, a bad CSV)."""


class RateLimited(BackMarketError):
    """Back Market's budgets (requests per 10 s, SKU updates per hour) are used up; try again later."""

    retryable = True

    def __init__(
        self, message: str, *, status: int | None = 429, retry_after: float | None = None, action: str = ""
    ) -> None:
        super().__init__(
            message,
            status=status,
            action=action or "Nothing to do: bmsync retries on its next run once the budget frees up.",
        )
        self.retry_after = retry_after


class ServerError(BackMarketError):
    """5xx, a timeout, a dropped connection or a response that is not JSON: Back Market had a problem."""

    retryable = True

    def __init__(self, message: str, *, status: int | None = None, action: str = "") -> None:
        super().__init__(
            message,
            status=status,
            action=action
            or "Nothing to do if it passes: bmsync retries. If it persists, check Back Market's status page.",
        )

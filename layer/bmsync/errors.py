"""The base of every error bmsync reports about the outside world, in words a person can act on."""

from __future__ import annotations


class IntegrationError(Exception):
    """An error talking to Back Market or WholeCell.

    ``message`` is plain words for the admin console (never a token or personal data); ``action`` is
    what a person can do about it; ``retryable`` says whether trying again later can help.
    """

    service: str = "integration"
    retryable: bool = False
    #: Raise a critical alert in the admin (e.g. a revoked token stops every flow).
    needs_attention: bool = False

    def __init__(self, message: str, *, status: int | None = None, action: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.action = action

    def __str__(self) -> str:
        return self.message

"""WholeCell errors, in words a person can act on (the message never carries the App Secret)."""

from __future__ import annotations

from bmsync.errors import IntegrationError


class WholeCellError(IntegrationError):
    service = "wholecell"


class Unauthorized(WholeCellError):
    """The App ID/Secret were refused (also after re-reading them once). Never retried."""

    needs_attention = True

    def __init__(self, message: str = "", *, status: int | None = 401, action: str = "") -> None:
        super().__init__(
            message or "WholeCell rejected the App ID/Secret",
            status=status,
            action=action or "create or check the API App in WholeCell settings and save it in the admin",
        )

    def __str__(self) -> str:
        return f"{self.message}: {self.action}"


class NotFound(WholeCellError):
    pass


class EndpointMissing(NotFound):
    """A list path WholeCell answers 404 to: this account's API has no such endpoint (it is not
    advertised, see ``contract.ENDPOINTS``). The flows fall back where they can."""

    def __init__(self, path: str) -> None:
        super().__init__(f"WholeCell has no {path} endpoint (it answered 404)", status=404)
        self.path = path


class ValidationFailed(WholeCellError):
    """A 422: ``fields`` maps each refused field to WholeCell's messages."""

    def __init__(self, message: str, *, fields: dict[str, list[str]], status: int | None = 422) -> None:
        super().__init__(message, status=status, action="correct the named fields and try again")
        self.fields = fields


class RateLimited(WholeCellError):
    retryable = True


class ServerError(WholeCellError):
    """5xx, a body that is not JSON, a timeout or a dropped connection, after the client's retries."""

    retryable = True


class OutcomeUnknown(ServerError):
    """A create (not idempotent) failed in a way that may have happened on WholeCell's side anyway.

    The client does not resend it: the caller looks the resource up (e.g. the order engineer's
    ``find_sales_order_by_external_id``) before deciding to create it again.
    """


class UnexpectedResponse(WholeCellError):
    """WholeCell answered in a shape bmsync does not know (the inferred contract may need correcting)."""

    needs_attention = True

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(
            message,
            status=status,
            action="run 'bmsync probe' and report it to the bmsync maintainers: the inferred "
            "WholeCell contract "
            "(bmsync/wholecell/contract.py) may need correcting",
        )

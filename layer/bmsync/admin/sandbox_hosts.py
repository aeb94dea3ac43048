"""Which hosts a connection talks to, and the local emulators the admin offers on the local system.

A new connection talks to its platform's production Back Market host and WholeCell's API. The local
runtime (``bmsync_sandbox.runtime.system``) installs its emulators' addresses in :data:`installed`
before it serves the admin; the admin then says when a connection uses them ("local sandbox") and
offers to switch a connection to them. In Lambda nothing installs them: :data:`installed` stays None
and the admin offers nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal

from pydantic import ValidationError

from bmsync.admin.services import AdminServices
from bmsync.admin.web import BadRequest, Unprocessable
from bmsync.settings import PLATFORMS, Settings, WholeCellConnection, error_fields

HostKind = Literal["production", "local sandbox", "other"]


@dataclass(frozen=True)
class SandboxHosts:
    #: The Back Market emulator's base URL (``http://127.0.0.1:PORT``, the ``/ws/`` API under it).
    backmarket: str
    #: The WholeCell emulator's API URL (``http://127.0.0.1:PORT/api/v1``).
    wholecell: str


#: The local runtime's emulators (set by the harness; None in Lambda).
installed: SandboxHosts | None = None

_WHOLECELL_PRODUCTION = WholeCellConnection.model_fields["base_url"].default


def hosts_summary(settings: Settings) -> dict[str, Any]:
    """Each side's host and what it is, plus the local emulators when this admin runs beside them."""
    local = installed
    return {
        "backmarket_host_kind": _kind(
            settings.backmarket.base_url,
            PLATFORMS[settings.backmarket.platform].production_host,
            local.backmarket if local else None,
        ),
        "wholecell_host_kind": _kind(
            settings.wholecell.base_url, _WHOLECELL_PRODUCTION, local.wholecell if local else None
        ),
        "sandbox": {"backmarket": local.backmarket, "wholecell": local.wholecell} if local else None,
    }


def _kind(url: str, production: str, sandbox: str | None) -> HostKind:
    if sandbox is not None and url.rstrip("/") == sandbox.rstrip("/"):
        return "local sandbox"
    return "production" if url.rstrip("/") == production.rstrip("/") else "other"


def use_sandbox_hosts(services: AdminServices, settings: Settings) -> Settings:
    """Point the connection at the local emulators and save it (creating it when new); a 404 where
    there are none (in AWS). Raises ``StaleSettings`` when someone saved in between."""
    local = installed
    if local is None:
        raise BadRequest(
            "connection", "there are no local emulators here: this admin runs in AWS", HTTPStatus.NOT_FOUND
        )
    changed = settings.model_dump()
    changed["backmarket"]["host"] = local.backmarket
    changed["wholecell"]["base_url"] = local.wholecell
    try:
        moved = Settings.model_validate(changed)
    except ValidationError as error:
        raise Unprocessable(error_fields(error)) from None
    return services.settings().save(moved)

"""Connection operations: save the Back Market token and WholeCell App ID/Secret (write-only), test
them, delete the connection with everything bmsync holds for it."""

from __future__ import annotations

import hashlib
import re
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator

from bmsync import connection_secrets
from bmsync.admin.connection_check import ConnectionReport
from bmsync.admin.duplicates import refuse_shared_token
from bmsync.admin.sandbox_hosts import hosts_summary
from bmsync.admin.services import AdminServices
from bmsync.admin.settings_service import secrets_state
from bmsync.admin.web import BadRequest, Caller, Unprocessable, require_typed_confirmation
from bmsync.observability import logger
from bmsync.settings import Settings, error_fields

if TYPE_CHECKING:
    from bmsync.probe import ProbeReport

NO_WHITESPACE = r"^\S+$"


def _no_whitespace(value: SecretStr) -> SecretStr:
    if re.search(r"\s", value.get_secret_value()):
        raise ValueError("may not contain spaces or line breaks: paste the value alone")
    return value


class BackMarketTokenBody(BaseModel):
    token: SecretStr = Field(min_length=8, max_length=512)

    _token_clean = field_validator("token")(_no_whitespace)


class WholeCellCredentialsBody(BaseModel):
    app_id: str = Field(min_length=1, max_length=256, pattern=NO_WHITESPACE)
    app_secret: SecretStr = Field(min_length=8, max_length=512)

    _secret_clean = field_validator("app_secret")(_no_whitespace)


def _parse(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        # error_fields never echoes the input, so a rejected secret is not sent back.
        raise Unprocessable(error_fields(error)) from None


def connection_summary(settings: Settings) -> dict[str, Any]:
    state = secrets_state(settings)
    hosts = hosts_summary(settings)
    return {
        "backmarket": {
            "platform": settings.backmarket.platform.value,
            "base_url": settings.backmarket.base_url,
            "host_kind": hosts["backmarket_host_kind"],
            "market": settings.backmarket.market,
            "token_set": state["backmarket_token_set"],
        },
        "wholecell": {
            "base_url": settings.wholecell.base_url,
            "host_kind": hosts["wholecell_host_kind"],
            "credentials_set": state["wholecell_credentials_set"],
        },
        "sandbox": hosts["sandbox"],
    }


def save_backmarket_token(services: AdminServices, settings: Settings, data: dict[str, Any]) -> None:
    body: BackMarketTokenBody = _parse(BackMarketTokenBody, data)
    refuse_shared_token(settings, body.token.get_secret_value())
    connection_secrets.write_backmarket_token(settings.connection_id, body.token.get_secret_value())
    # The new stamp makes every container's next run (and the next test) read the token again.
    services.settings().stamp_secrets(settings.connection_id)
    logger.info("Back Market token saved", extra={"connection_id": settings.connection_id})


def save_wholecell(services: AdminServices, settings: Settings, data: dict[str, Any]) -> None:
    body: WholeCellCredentialsBody = _parse(WholeCellCredentialsBody, data)
    connection_secrets.write_wholecell_credentials(
        settings.connection_id, body.app_id, body.app_secret.get_secret_value()
    )
    services.settings().stamp_secrets(settings.connection_id)
    logger.info("WholeCell credentials saved", extra={"connection_id": settings.connection_id})


def run_test(services: AdminServices, settings: Settings) -> ConnectionReport:
    """Test with the tokens saved last: ``settings`` are read for this request, with their stamp."""
    return services.test_connection(settings, services.clock())


class DeletedConnection(BaseModel):
    connection_id: str
    #: How many items each table held (the settings item counts under ``settings``).
    items: dict[str, int]
    #: The names of the secrets deleted (never their values).
    secrets: list[str]


def who(caller: Caller) -> str:
    """The caller as the audit log names it: a session by a digest of its id, never a credential."""
    if caller.session is None:
        return "api token"
    return "session " + hashlib.sha256(caller.session.session_id.encode()).hexdigest()[:12]


def delete_connection(
    services: AdminServices, connection_id: str, data: dict[str, Any], *, by: str
) -> DeletedConnection:
    """Delete the connection: its settings, its secrets and its items in every table.

    ``data["confirm"]`` must repeat the connection id. The settings go first, so no new run starts
    for the connection; a connection only partly deleted (an error mid-way) can be deleted again.
    """
    require_typed_confirmation(data, connection_id)
    settings_repo, connection_data = services.settings(), services.connection_data()
    known = (
        settings_repo.get(connection_id) is not None
        or any(connection_secrets.secrets_set(connection_id).values())
        or connection_data.holds_any(connection_id)
    )
    if not known:
        raise BadRequest("connection_id", f"no connection {connection_id!r}", HTTPStatus.NOT_FOUND)
    logger.info("deleting connection", extra={"connection_id": connection_id, "by": by})
    settings_deleted = settings_repo.delete(connection_id)
    secret_names = connection_secrets.delete_connection_secrets(connection_id)
    items = {"settings": int(settings_deleted), **connection_data.delete(connection_id)}
    deleted = DeletedConnection(connection_id=connection_id, items=items, secrets=secret_names)
    logger.info(
        "connection deleted",
        extra={"connection_id": connection_id, "by": by, "items": items},
    )
    return deleted


def run_contract_check(services: AdminServices, settings: Settings) -> ProbeReport:
    from bmsync.probe import record_confirmations  # imported when asked for, as the probe is

    clock = services.clock()
    report = services.check_contract(settings, clock)
    record_confirmations(report, services.state(settings.connection_id), at=clock.now())
    return report

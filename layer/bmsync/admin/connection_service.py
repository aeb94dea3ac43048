"""Connection operations: save the Back Market token and WholeCell App ID/Secret (write-only), test them."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator

from bmsync import connection_secrets
from bmsync.admin.connection_check import ConnectionReport
from bmsync.admin.services import AdminServices
from bmsync.admin.settings_service import secrets_state
from bmsync.admin.web import Unprocessable
from bmsync.observability import logger
from bmsync.settings import Settings, error_fields

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
    return {
        "backmarket": {
            "platform": settings.backmarket.platform.value,
            "base_url": settings.backmarket.base_url,
            "market": settings.backmarket.market,
            "token_set": state["backmarket_token_set"],
        },
        "wholecell": {
            "base_url": settings.wholecell.base_url,
            "credentials_set": state["wholecell_credentials_set"],
        },
    }


def save_backmarket_token(services: AdminServices, settings: Settings, data: dict[str, Any]) -> None:
    body: BackMarketTokenBody = _parse(BackMarketTokenBody, data)
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

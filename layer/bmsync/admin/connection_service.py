"""Connection operations: save the Back Market token and WholeCell App ID/Secret (write-only), test them."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator

from bmsync import secrets
from bmsync.admin.connection_check import ConnectionReport
from bmsync.admin.services import AdminServices
from bmsync.admin.settings_service import secrets_state
from bmsync.admin.web import Unprocessable
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


def save_backmarket_token(settings: Settings, data: dict[str, Any]) -> None:
    body: BackMarketTokenBody = _parse(BackMarketTokenBody, data)
    secrets.write_secret(settings.secret_names().backmarket_token, body.token.get_secret_value())
    logger.info("Back Market token saved", extra={"connection_id": settings.connection_id})


def save_wholecell(settings: Settings, data: dict[str, Any]) -> None:
    body: WholeCellCredentialsBody = _parse(WholeCellCredentialsBody, data)
    secrets.write_wholecell_credentials(
        settings.secret_names().wholecell_credentials, body.app_id, body.app_secret.get_secret_value()
    )
    logger.info("WholeCell credentials saved", extra={"connection_id": settings.connection_id})


def run_test(services: AdminServices, settings: Settings) -> ConnectionReport:
    secrets.reset_cache()  # a token saved a moment ago must be the one tested
    return services.test_connection(settings, services.clock())


def run_contract_check(services: AdminServices, settings: Settings) -> ProbeReport:
    secrets.reset_cache()
    return services.check_contract(settings, services.clock())

"""admin: the Function URL API and web console (routes and rules in bmsync.admin)."""

from __future__ import annotations

from typing import Any

from bmsync.admin.app import build_app
from bmsync.admin.services import AdminServices
from bmsync.observability import logger

app = build_app(AdminServices())


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)

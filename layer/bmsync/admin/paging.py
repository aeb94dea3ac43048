"""Server-side paging and query-string parsing shared by the Listings and Orders lists."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from bmsync.admin.web import BadRequest

Row = TypeVar("Row")
Query = TypeVar("Query", bound=BaseModel)


def parse_query(model: type[Query], query: Mapping[str, str]) -> Query:
    """The query string as ``model``; a bad value is a 400 naming its parameter."""
    try:
        return model.model_validate(dict(query))
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "query"
        raise BadRequest(name, first["msg"]) from None


def paged(rows: Sequence[Row], page: int, per_page: int) -> tuple[list[Row], int]:
    """The rows of ``page`` and the page count; a page past the last is a 400 naming ``page``."""
    pages = max(1, math.ceil(len(rows) / per_page))
    if page > pages:
        raise BadRequest("page", f"there {'is' if pages == 1 else 'are'} only {pages} page(s)")
    start = (page - 1) * per_page
    return list(rows[start : start + per_page]), pages

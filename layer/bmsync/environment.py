"""The environment variables bmsync's functions read, as one validated model.

CDK sets them on every function (``infra/functions.py``); the local runtime and the tests set the
same ones. A function validates its environment at cold start, so a missing table name fails the
first invocation with the variable's name, not a DynamoDB error minutes later.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from functools import cache

from pydantic import BaseModel, ConfigDict, Field

#: ``BMSYNC_TABLE_<LOGICAL NAME>`` holds the physical name of each table a function uses.
TABLE_VARIABLE_PREFIX = "BMSYNC_TABLE_"


class MissingEnvironment(RuntimeError):
    """A variable the function needs is not set: a deployment (or local setup) mistake."""

    def __init__(self, variable: str, what: str) -> None:
        super().__init__(f"the environment variable {variable} ({what}) is not set")
        self.variable = variable


#: The URL of the function's rerun queue (``bmsync.rerun``).
RERUN_QUEUE_VARIABLE = "BMSYNC_RERUN_QUEUE_URL"


def table_variable(logical_name: str) -> str:
    return f"{TABLE_VARIABLE_PREFIX}{logical_name.upper()}"


class Environment(BaseModel):
    """What the functions read from their environment (names as Lambda and Powertools spell them)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    function: str | None = Field(default=None, alias="BMSYNC_FUNCTION")  # the catalogue name
    lambda_function_name: str | None = Field(default=None, alias="AWS_LAMBDA_FUNCTION_NAME")
    region: str | None = Field(default=None, alias="AWS_REGION")
    default_region: str | None = Field(default=None, alias="AWS_DEFAULT_REGION")
    service: str = Field(default="bmsync", alias="POWERTOOLS_SERVICE_NAME")
    metrics_namespace: str = Field(default="bmsync", alias="POWERTOOLS_METRICS_NAMESPACE")
    trace_disabled: bool = Field(default=False, alias="POWERTOOLS_TRACE_DISABLED")
    listing_import_function: str | None = Field(default=None, alias="BMSYNC_LISTING_IMPORT_FUNCTION")
    #: The function's rerun queue (a function with ``rerun_after_seconds`` in the catalogue).
    rerun_queue_url: str | None = Field(default=None, alias=RERUN_QUEUE_VARIABLE)
    #: Logical table name (lower case) -> physical name.
    tables: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def read(cls, variables: Mapping[str, str] | None = None) -> Environment:
        variables = os.environ if variables is None else variables
        tables = {
            name.removeprefix(TABLE_VARIABLE_PREFIX).lower(): value
            for name, value in variables.items()
            if name.startswith(TABLE_VARIABLE_PREFIX) and value
        }
        return cls.model_validate({**variables, "tables": tables})

    def table_name(self, logical_name: str) -> str:
        name = self.tables.get(logical_name)
        if not name:
            raise MissingEnvironment(table_variable(logical_name), f"the name of the {logical_name} table")
        return name

    def require_rerun_queue_url(self) -> str:
        if not self.rerun_queue_url:
            raise MissingEnvironment(RERUN_QUEUE_VARIABLE, "the URL of the function's rerun queue")
        return self.rerun_queue_url

    def require_tables(self, logical_names: Iterable[str]) -> Environment:
        for logical_name in logical_names:
            self.table_name(logical_name)
        return self


def table_name(logical_name: str) -> str:
    """The physical name of a table, from the environment (never guessed)."""
    return Environment.read().table_name(logical_name)


@cache
def function_environment(function: str, tables: tuple[str, ...]) -> Environment:
    """The environment of ``function``, validated once per process (its cold start)."""
    return Environment.read().require_tables(tables)

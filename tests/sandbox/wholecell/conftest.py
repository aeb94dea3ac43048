"""The WholeCell emulator and a client for it: the fixtures the product's client tests use."""

from tests.integration.wholecell.conftest import (  # noqa: F401 (the shared fixtures)
    make_wholecell_client,
    wholecell,
    wholecell_sandbox,
)

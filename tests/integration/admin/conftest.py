"""The whole local system (``bmsync up`` without its loops) with the real admin on its Function URL."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from bmsync.clock import ManualClock, SystemClock
from bmsync_sandbox.runtime.collaborators import use_clock
from bmsync_sandbox.runtime.system import ConsoleLog, LocalSystem, Ports


@pytest.fixture(scope="module")
def local_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    """Moto, both emulators with demo data, every function, the admin URL: driven by a ManualClock."""
    local = LocalSystem(
        state_dir=Path(tmp_path_factory.mktemp("bmsync-state")),
        ports=Ports(0, 0, 0, 0),
        demo=True,
        clock=ManualClock(),
        console=ConsoleLog(io.StringIO()),
    )
    try:
        local.start()
        yield local
    finally:
        local.stop()
        use_clock(SystemClock())

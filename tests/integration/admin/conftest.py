"""The whole local system (``bmsync up`` without its loops) with the real admin on its Function URL."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bmsync.clock import ManualClock, SystemClock
from bmsync_sandbox.runtime.collaborators import use_clock
from bmsync_sandbox.runtime.system import ConsoleLog, LocalSystem, Ports

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
TIMEOUT = 10


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


def sign_in(local: LocalSystem) -> tuple[requests.Session, str]:
    """A session signed in with the password printed at start, and its CSRF token."""
    base = local.addresses["admin"]
    session = requests.Session()
    form = session.get(f"{base}/signin", timeout=TIMEOUT)
    token = CSRF.search(form.text)
    assert token
    # The cookies are Secure: requests only sends them over https, so carry them by hand as a
    # browser on 127.0.0.1 does (Chromium treats loopback as a secure context).
    nonce = form.cookies.get("bmsync_signin")
    reply = session.post(
        f"{base}/signin",
        data={"password": local.admin_password, "csrf_token": token.group(1), "next": "/"},
        headers={"cookie": f"bmsync_signin={nonce}"},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert reply.status_code == 303, reply.text
    cookie = reply.cookies.get("bmsync_session")
    assert cookie
    session.headers["cookie"] = f"bmsync_session={cookie}"
    home = session.get(f"{base}/", timeout=TIMEOUT)
    csrf = CSRF.search(home.text)
    assert csrf
    return session, csrf.group(1)

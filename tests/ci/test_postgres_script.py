"""`.ci/postgres.sh stop` stops only the server it is told to (or the one this run started), never another's."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "postgres.sh"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def pg_root() -> Iterator[Path]:
    """A TMPDIR of its own (readable by the postgres user), so the test never meets another's server."""
    if os.geteuid() != 0 or not list(Path("/usr/lib/postgresql").glob("*/bin")):
        pytest.fail("the script needs root and the Debian PostgreSQL package (as CI has)")
    root = Path(tempfile.mkdtemp(prefix="crm-pg-script-"))
    root.chmod(0o755)
    yield root
    for data in root.glob("crm-pg-*/data"):
        if (data / "postmaster.pid").exists():
            subprocess.run(["runuser", "-u", "postgres", "--", *sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))[-1:],
                            "-D", str(data), "-m", "immediate", "stop"], check=False, capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


def _run(root: Path, *args: str, state: Path | None = None) -> str:
    env = {**os.environ, "TMPDIR": str(root)}
    env.pop("CRM_PG_DIR", None)
    env.pop("CRM_PG_STATE", None)
    if state is not None:
        env["CRM_PG_STATE"] = str(state)
    out = subprocess.run(["bash", str(SCRIPT), *args], env=env, check=True, capture_output=True, text=True)
    return out.stdout


def test_stop_stops_only_the_server_named_or_recorded(pg_root: Path) -> None:
    other, mine = _free_port(), _free_port()
    assert _run(pg_root, str(other)).strip().endswith(f":{other}/crm_test")
    state = pg_root / "state"
    _run(pg_root, str(mine), state=state)
    assert state.read_text().strip() == str(mine)
    assert _accepts(other) and _accepts(mine)

    _run(pg_root, "stop", state=state)  # no port: the one this run started
    assert not _accepts(mine)
    assert _accepts(other), "stop without a port stopped a server this run did not start"
    assert state.read_text().strip() == ""

    _run(pg_root, "stop", state=state)  # nothing recorded any more: nothing stopped
    _run(pg_root, "stop")
    assert _accepts(other)

    reused = pg_root / "reused"
    _run(pg_root, str(other), state=reused)  # running already: reused, not recorded
    _run(pg_root, "stop", state=reused)
    assert _accepts(other)

    _run(pg_root, "stop", str(other))  # a port names the one to stop
    assert not _accepts(other)

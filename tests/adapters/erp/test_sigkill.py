"""``crm sync run`` killed with SIGKILL in the middle of a run, then run again: nothing lost, nothing doubled."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from crmcore.models import Address, Contact, Customer, ExternalRef, SyncState

from .conftest import connect

PARTIES = 150


def crm(database_url: str, instance: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "CRM_DATABASE_URL": database_url, "CRM_PLUGINS_AUTOLOAD": "0",
           "CRM_PLUGINS": "plugins.sales,adapters.erp", "CRM_INSTANCE_PATH": str(instance),
           "CRM_SECRET_KEY": "test-secret"}
    return subprocess.Popen([str(Path(sys.executable).parent / "crm"), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_killed_mid_run_then_rerun_loses_and_doubles_nothing(ctx, database, tryton, seed, tmp_path):
    seed.parties([{"name": f"客户 {i:04d}", "contact_mechanisms": [["create", [
        {"type": "email", "value": f"buyer{i}@shop.example", "name": f"采购 {i}"}]]],
        "addresses": [["create", [{"street": f"{i} 号", "city": "深圳"}]]]} for i in range(PARTIES)])
    connect(ctx, tryton, page_size=10, streams=["customers"])
    ctx.session.close()
    probe = create_engine(database.url)

    def stored() -> int:
        with probe.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM customers")).scalar()

    proc = crm(database.url, tmp_path, "sync", "run", "--stream", "customers")
    deadline = time.monotonic() + 120
    while stored() < 20 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.communicate()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = stored()
    assert 0 < killed_at < PARTIES
    with probe.connect() as conn:
        bookmark = conn.execute(select(SyncState.bookmark).where(SyncState.stream == "customers")).scalar()
    assert "resume" in bookmark  # the run was cut mid-stream; its position was committed with the pages

    again = crm(database.url, tmp_path, "sync", "run", "--stream", "customers")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert "customers" in out and "total" in out
    probe.dispose()

    session = ctx.runtime.db.new_session()
    try:
        names = session.scalars(select(Customer.name)).all()
        assert len(names) == len(set(names)) == PARTIES
        assert session.scalar(select(func.count()).select_from(Contact)) == PARTIES
        assert session.scalar(select(func.count()).select_from(Address)) == PARTIES
        refs = session.scalars(select(ExternalRef.external_id).where(ExternalRef.entity == "customer")).all()
        assert len(refs) == len(set(refs)) == PARTIES
        state = session.scalar(select(SyncState).where(SyncState.stream == "customers"))
        assert "resume" not in state.bookmark and state.bookmark["value"]
    finally:
        session.close()

"""The adapter contract against a real Tryton server (one server for the whole suite)."""
from __future__ import annotations

import time

import pytest

from adapters.erp.tryton import TrytonAdapter

from .conftest import TrytonSeed
from adapters.erp.testing import AdapterContract
from .tryton.server import TrytonServer, free_port


@pytest.fixture(scope="module")
def contract_server(tryton_template, tmp_path_factory):
    server = TrytonServer.from_template(tryton_template, tmp_path_factory.mktemp("tryton-contract")).start()
    yield server
    server.stop()


class TrytonEnv:
    def __init__(self, server: TrytonServer) -> None:
        self.server = server
        self.seed = TrytonSeed(server)
        self.adapter = TrytonAdapter({"url": f"http://127.0.0.1:{server.port}", "database": server.database,
                                      "login": server.login, "page_size": 2}, server.password)

    def add_customer(self, name: str, email: str) -> str:
        return str(self.seed.party(name, email=email))

    def touch(self, external_id: str, name: str) -> None:
        self.seed.call("model.party.party.write", [int(external_id)], {"name": name})

    def deactivate(self, external_id: str) -> None:
        self.seed.call("model.party.party.write", [int(external_id)], {"active": False})

    def advance(self) -> None:
        time.sleep(0.01)  # Tryton stamps rows with the transaction's time, in microseconds

    def unreachable(self) -> TrytonAdapter:
        return TrytonAdapter({"url": f"http://127.0.0.1:{free_port()}", "database": "crm", "login": "admin",
                              "retry_attempts": 1}, "x")


class TestTrytonContract(AdapterContract):
    counts_existing = True

    @pytest.fixture
    def env(self, contract_server):
        env = TrytonEnv(contract_server)
        yield env
        env.adapter.close()

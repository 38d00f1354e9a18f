"""A real Tryton server for the tests: its own venv, a template database built once, copies per test.

The venv (``.venv-tryton``) is installed from ``requirements.lock`` beside this file; the
template database (modules activated, company, chart of accounts, fiscal years) is cached
under ``.venv-tryton/templates/<hash>`` so later runs reuse it. Each server gets a fresh copy
of the SQLite file and its own port and config file (Tryton ignores a port from the
environment). Measured on 2 cores: venv ~10 s from the pip cache, template ~25 s, start ~2 s.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
VENV = Path(os.environ.get("CRM_TRYTON_VENV", ROOT / ".venv-tryton"))
LOCK = HERE / "requirements.lock"
DB_NAME = "crm"
ADMIN_PASSWORD = "admin-test"
MODULES = ("party company product currency country account account_invoice account_payment "
           "account_credit_limit product_price_list sale sale_opportunity").split()


def _bin(name: str) -> str:
    return str(VENV / "bin" / name)


def _digest() -> str:
    h = hashlib.sha256(LOCK.read_bytes())
    h.update((HERE / "setup_company.py").read_bytes())
    h.update(" ".join(MODULES).encode())
    return h.hexdigest()[:16]


def ensure_venv() -> None:
    """Create the Tryton venv and install the pinned packages when the lock changed."""
    stamp = VENV / ".lock-sha"
    want = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == want:
        return
    if not (VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([_bin("python"), "-m", "pip", "install", "-q", "-r", str(LOCK)], check=True)
    stamp.write_text(want)


def write_config(directory: Path, port: int) -> Path:
    conf = directory / "trytond.conf"
    conf.write_text(f"[database]\nuri = sqlite://\npath = {directory}\n\n[web]\nlisten = 127.0.0.1:{port}\n"
                    f"\n[session]\ntimeout = 36000\n")
    return conf


def ensure_template() -> Path:
    """The SQLite file of a database with the modules activated and a company set up."""
    ensure_venv()
    directory = VENV / "templates" / _digest()
    db = directory / f"{DB_NAME}.sqlite"
    if db.exists():
        return db
    work = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    conf = write_config(work, free_port())
    (work / f"{DB_NAME}.sqlite").touch()
    passfile = work / "password"
    passfile.write_text(ADMIN_PASSWORD + "\n")
    env = {**os.environ, "TRYTONPASSFILE": str(passfile)}
    subprocess.run([_bin("trytond-admin"), "-c", str(conf), "-d", DB_NAME, "--email", "admin@example.com",
                    "-u", *MODULES, "--activate-dependencies"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    subprocess.run([_bin("python"), str(HERE / "setup_company.py"), DB_NAME, str(conf)], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    for suffix in ("-wal", "-shm"):
        (work / f"{DB_NAME}.sqlite{suffix}").unlink(missing_ok=True)
    (work / "password").unlink()
    if directory.exists():
        shutil.rmtree(directory)
    work.rename(directory)
    return db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class TrytonServer:
    """A running trytond on 127.0.0.1 with its own copy of the template database."""

    directory: Path
    port: int
    process: subprocess.Popen | None = None
    login: str = "admin"
    password: str = ADMIN_PASSWORD
    database: str = DB_NAME

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.database}/rpc/"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @classmethod
    def from_template(cls, template: Path, directory: Path) -> "TrytonServer":
        directory.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, directory / f"{DB_NAME}.sqlite")
        return cls(directory=directory, port=free_port())

    def start(self, timeout: float = 30.0) -> "TrytonServer":
        conf = write_config(self.directory, self.port)
        log = open(self.directory / "server.log", "ab")
        self.process = subprocess.Popen([_bin("trytond"), "-c", str(conf), "-d", self.database],
                                        stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"trytond exited: {(self.directory / 'server.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(self.base_url, timeout=2)
                return self
            except urllib.error.HTTPError:  # any HTTP answer means it is serving
                return self
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        raise RuntimeError("trytond did not answer in time")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None

    def call(self, method: str, params: list, auth: str | None = None):
        """A raw JSON-RPC call (for test set-up; the adapter under test uses its own client)."""
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = auth
        req = urllib.request.Request(self.url, data=json.dumps({"id": 1, "method": method, "params": params}).encode(),
                                     headers=headers)
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = json.loads(resp.read())
        if "error" in body and body["error"]:
            raise RuntimeError(f"{method}: {body['error']}")
        return body["result"]

    def session(self) -> tuple[str, dict]:
        """Log in as admin: (Authorization header, user context)."""
        uid, key = self.call("common.db.login", [self.login, {"password": self.password}, "en"])[:2]
        auth = "Session " + base64.b64encode(f"{self.login}:{uid}:{key}".encode()).decode()
        return auth, self.call("model.res.user.get_preferences", [True, {}], auth)

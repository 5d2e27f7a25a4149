"""Shared fixtures. Tests run with the network off: any connection to a non-loopback address
fails loudly, so a hidden download cannot pass unnoticed."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SEEDS = ROOT / "seeds"
SEED_FILE = SEEDS / "000_f7985a03bbf30fbd.txt"
EVAL = SHARED / "eval"

_real_connect = socket.socket.connect


def _guarded_connect(self, address):
    host = address[0] if isinstance(address, tuple) else None
    if host is not None:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
            if host not in ("localhost",):
                raise OSError(f"test tried to reach {host!r}: the network is off in tests")
        if ip is not None and not ip.is_loopback:
            raise OSError(f"test tried to reach {host}: the network is off in tests")
    return _real_connect(self, address)


@pytest.fixture(autouse=True, scope="session")
def network_off():
    socket.socket.connect = _guarded_connect
    yield
    socket.socket.connect = _real_connect


BOT_ENV_PREFIXES = ("BOT_", "OPENAI_", "SLACK_")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No setting leaks in from the developer's shell or a .env in the working directory."""
    for key in list(os.environ):
        if key.startswith(BOT_ENV_PREFIXES):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # `bot ask` starts a warm background process (bot/ui/warm.py) unless BOT_WARM is off: a test
    # run must leave none behind, so it is off unless a test turns it on (tests/ui/test_warm.py).
    monkeypatch.setenv("BOT_WARM", "off")
    # The per-user store (bot/util/location.py) of a test, and of the CLI it runs, is in tmp_path:
    # a test never writes into the real home.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    yield
    # Each test opens stores in its own tmp_path; without this their files stay open and a
    # long run passes 1,024 descriptors, where select() (pexpect) fails.
    from bot.index.sync import close_clients

    close_clients()


@pytest.fixture
def settings(tmp_path):
    from bot.config import Settings

    return Settings.load(env={}, env_file=None).with_(store_dir=tmp_path / "store")


@pytest.fixture
def bot(settings):
    from bot import Bot

    return Bot(settings)


@pytest.fixture
def seeded(bot):
    report = bot.ingest([SEEDS])
    assert report.added and not report.failed
    return bot


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None,
            input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """The real CLI as a user runs it (`python -m bot` == the `bot` console script)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(BOT_ENV_PREFIXES)}
    full_env["PYTHONPATH"] = str(ROOT)
    full_env["NO_COLOR"] = "1"
    full_env["BOT_WARM"] = "off"  # no warm process left behind (see clean_env)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, input=input, timeout=timeout)


@pytest.fixture
def openai_server():
    """A scriptable OpenAI-compatible server on 127.0.0.1 (see tests/openai_server.py)."""
    from tests.openai_server import OpenAIServer

    with OpenAIServer() as server:
        yield server


@pytest.fixture
def llm_settings(settings, openai_server):
    """Settings whose model is the scripted server: no retries, a short timeout."""
    return settings.with_(openai_base_url=openai_server.base_url, llm_retries=0, llm_timeout=10.0)


@pytest.fixture
def llm_bot(llm_settings):
    """A Bot on the scripted model server, with the sample article ingested."""
    from bot import Bot

    bot = Bot(llm_settings)
    assert bot.ingest([SEEDS]).added
    return bot


# -- Chroma server backend (issue 8) ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chroma_executable() -> Path | None:
    """The `chroma` CLI of the installed package, next to the running interpreter."""
    import shutil

    beside = Path(sys.executable).parent / "chroma"
    if beside.exists():
        return beside
    found = shutil.which("chroma")
    return Path(found) if found else None


class ChromaServer:
    """A real `chroma run --path DIR --host 127.0.0.1 --port N` from the installed package."""

    def __init__(self, path: Path):
        exe = chroma_executable()
        if exe is None:
            pytest.skip("the chroma CLI (from the chromadb package) is not installed")
        self.path = path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(path / "server.log", "wb")
        self.proc = subprocess.Popen([str(exe), "run", "--path", str(path / "data"), "--host",
                                      "127.0.0.1", "--port", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.wait_up()

    def wait_up(self, timeout: float = 90) -> None:
        import time
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chroma run exited: {(self.path / 'server.log').read_text()[-500:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"chroma run did not answer on {self.url} within {timeout} s")

    def stop(self) -> None:
        """Kill it outright (the server ignores SIGTERM)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.log.close()


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    server = ChromaServer(tmp_path_factory.mktemp("chroma-server"))
    yield server
    server.stop()


class Backend:
    """Where a test's store lives. `env` holds the BOT_* variables for the CLI and for
    subprocesses; `settings()` the same as a Settings object."""

    def __init__(self, kind: str, env: dict[str, str]):
        self.kind = kind
        self.env = env

    def settings(self, **changes):
        from bot.config import Settings

        return Settings.load(env=self.env, env_file=None).with_(**changes)


@pytest.fixture(params=["embedded", "server"])
def store_backend(request, tmp_path) -> Backend:
    """The embedded store, or a real Chroma server (one shared server, a fresh collection per
    test). Use `store_backend.settings()` or `store_backend.env`."""
    import uuid

    env = {"BOT_STORE_DIR": str(tmp_path / "store")}
    if request.param == "server":
        server = request.getfixturevalue("chroma_server")
        env.update(BOT_CHROMA_URL=server.url, BOT_COLLECTION=f"t{uuid.uuid4().hex[:12]}")
    return Backend(request.param, env)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Session-wide leak check: a test whose captured output or log records hold a known test
    secret (tests/known_secrets.py) fails, whatever it asserted itself."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.passed:
        return
    from tests.known_secrets import all_values

    captured = "\n".join(content for _, content in report.sections)
    leaked = [name for name in all_values() if name in captured]
    if leaked:
        report.outcome = "failed"
        report.longrepr = (f"a test secret ({leaked[0][:8]}...) appears in this test's captured "
                           "output or logs")

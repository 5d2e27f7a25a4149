"""`bot serve`: a warm process `bot ask` answers through (bot/ui/warm.py), driven through the real
CLI. Whether an ask went through it is seen from the outside: a served `bot ask` never imports
Chroma (`python -X importtime` lists every module a process imports)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import BOT_ENV_PREFIXES, ROOT, SEEDS, run_cli

QUESTION = "What range was claimed?"


def start_serve(store: Path, idle: float, env: dict | None = None) -> subprocess.Popen:
    full = {k: v for k, v in os.environ.items() if not k.startswith(BOT_ENV_PREFIXES)}
    full.update(PYTHONPATH=str(ROOT), BOT_STORE_DIR=str(store), **(env or {}))
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--idle", str(idle)], env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while not (store / "serve.sock").exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "bot serve did not start listening"
        time.sleep(0.2)
    return proc


def imports_chroma(*args: str, env: dict) -> bool:
    r = run_cli("ask", *args, env={**env, "PYTHONPROFILEIMPORTTIME": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    return any(line.endswith("| chromadb") for line in r.stderr.splitlines())


def test_ask_goes_through_a_warm_serve_and_falls_back_without_it(tmp_path):
    store = tmp_path / "store"
    env = {"BOT_STORE_DIR": str(store)}
    assert run_cli("ingest", str(SEEDS), env=env).returncode == 0
    alone = json.loads(run_cli("ask", QUESTION, "--json", env=env).stdout)

    server = start_serve(store, idle=120)
    try:
        served = json.loads(run_cli("ask", QUESTION, "--json", env=env).stdout)
        assert {k: served[k] for k in ("short_answer", "citations", "statements", "refused")} == \
               {k: alone[k] for k in ("short_answer", "citations", "statements", "refused")}
        assert not imports_chroma(QUESTION, env=env)  # served: no Chroma, no model in this process
        r = run_cli("ask", QUESTION, "--since", "2030-01-01", env=env)  # filters travel with it
        assert r.returncode == 0 and "do not answer" in r.stdout

        # An article ingested by another process meanwhile is found by the warm one.
        news = tmp_path / "news"
        news.mkdir()
        (news / "port.md").write_text("# Port reopens\n\nThe harbour of Eastport reopened to "
                                      "container ships on Monday after dredging works.\n")
        assert run_cli("ingest", str(news), env=env).returncode == 0
        d = json.loads(run_cli("ask", "When did the harbour of Eastport reopen?", "--json", env=env).stdout)
        assert d["citations"] and "Eastport" in d["citations"][0]["quote"]

        # Other settings: the warm process declines and the ask is answered in-process.
        assert imports_chroma(QUESTION, env={**env, "BOT_TOP_K": "3"})
        # One warm process per store: a second one says so in one line.
        r = run_cli("serve", env=env)
        assert r.returncode == 1 and r.stderr.strip().splitlines() == [
            f"error: a warm bot already serves this store ({store / 'serve.sock'})"]
        assert "> When did the harbour" in run_cli("log", env=env).stdout  # served asks are logged
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert server.returncode == 0 and not (store / "serve.sock").exists()  # SIGTERM: cleaned up
    (store / "serve.sock").write_text("")  # what a killed one could leave: no socket behind it
    assert imports_chroma(QUESTION, env=env)  # nobody serving: in-process again


def test_serve_exits_when_idle_and_removes_its_socket(tmp_path):
    store = tmp_path / "store"
    assert run_cli("ingest", str(SEEDS), env={"BOT_STORE_DIR": str(store)}).returncode == 0
    server = start_serve(store, idle=1)
    _, err = server.communicate(timeout=120)
    assert server.returncode == 0 and "stopped" in err
    assert not (store / "serve.sock").exists()

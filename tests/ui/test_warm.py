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
from tests import corpus

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


def lock_held(store: Path) -> bool:
    """Whether a warm process holds the store's lock (serving, or loading to), seen from
    outside as another process would: a non-blocking flock on serve.lock."""
    import fcntl

    if not (store / "serve.lock").exists():
        return False
    with open(store / "serve.lock") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        return False


def wait_for(condition, what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_ask_starts_a_warm_bot_that_answers_the_next_ask_and_stops(tmp_path):
    store = tmp_path / "store"
    off = {"BOT_STORE_DIR": str(store)}  # run_cli's default: BOT_WARM=off
    on = {**off, "BOT_WARM": "on", "BOT_WARM_IDLE": "120"}
    assert run_cli("ingest", str(SEEDS), env=off).returncode == 0
    alone = json.loads(run_cli("ask", QUESTION, "--json", env=off).stdout)
    assert not (store / "serve.lock").exists()  # off: nothing started, nothing written
    try:
        assert imports_chroma(QUESTION, env=on)  # the first ask answers in-process, then starts one
        wait_for(lambda: (store / "serve.sock").exists(), "no warm bot started")
        assert lock_held(store)
        served = json.loads(run_cli("ask", QUESTION, "--json", env=on).stdout)
        assert {k: served[k] for k in ("short_answer", "citations", "statements")} == \
               {k: alone[k] for k in ("short_answer", "citations", "statements")}
        assert not imports_chroma(QUESTION, env=on)  # went through the warm bot
        assert not imports_chroma(QUESTION, env=off)  # off only stops starting one
        # One per store: asks that find it (or a starting one) start no other.
        assert run_cli("serve", env=on).returncode == 1
    finally:
        stopped = run_cli("serve", "--stop", env=off)
    assert stopped.returncode == 0 and stopped.stdout.strip() == f"stopped the warm bot of {store}"
    wait_for(lambda: not lock_held(store), "the warm bot did not exit on --stop", timeout=60)
    assert not (store / "serve.sock").exists()
    r = run_cli("serve", "--stop", env=off)
    assert r.returncode == 0 and r.stdout.strip() == "no warm bot serves this store"


def test_a_started_warm_bot_exits_when_idle(tmp_path):
    store = tmp_path / "store"
    env = {"BOT_STORE_DIR": str(store), "BOT_WARM": "on", "BOT_WARM_IDLE": "1"}
    assert run_cli("ingest", str(SEEDS), env=env).returncode == 0
    try:
        assert run_cli("ask", QUESTION, env=env).returncode == 0
        wait_for(lambda: lock_held(store), "no warm bot started")
        wait_for(lambda: not lock_held(store), "the warm bot did not exit when idle")
        assert not (store / "serve.sock").exists()
    finally:
        run_cli("serve", "--stop", env=env)


def test_concurrent_serves_leave_exactly_one(tmp_path):
    store = tmp_path / "store"
    assert run_cli("ingest", str(SEEDS), env={"BOT_STORE_DIR": str(store)}).returncode == 0
    full = {k: v for k, v in os.environ.items() if not k.startswith(BOT_ENV_PREFIXES)}
    full.update(PYTHONPATH=str(ROOT), BOT_STORE_DIR=str(store))
    procs = [subprocess.Popen([sys.executable, "-m", "bot", "serve", "--idle", "120"], env=full,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    try:
        wait_for(lambda: sum(p.poll() is not None for p in procs) == 2, "not exactly one stayed")
        losers = [p for p in procs if p.poll() is not None]
        for p in losers:
            assert p.returncode == 1 and "already serves this store" in p.communicate()[1]
        wait_for(lambda: (store / "serve.sock").exists(), "the one left does not listen")
        assert not imports_chroma(QUESTION, env={"BOT_STORE_DIR": str(store)})
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=60)


def test_no_warm_bot_for_a_model_or_with_warm_off(settings, tmp_path):
    """`bot ask` with a model streams the model's answer itself: nothing to keep warm."""
    from bot.ui import warm

    Path(settings.store_dir).mkdir(parents=True)
    marker = tmp_path / "started"
    argv = [sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"]  # stands for `bot serve`
    assert not warm.start(settings.with_(warm=True, openai_base_url="http://127.0.0.1:9/v1"), argv)
    assert not warm.start(settings.with_(warm=False), argv)
    assert warm.start(settings.with_(warm=True), argv)  # the control: it does start one
    wait_for(marker.exists, "start() ran nothing", timeout=60)


def test_a_warm_bot_prepares_the_stores_sentences_between_questions(tmp_path):
    """While it waits, `bot serve` embeds the store's sentences (Bot.prepare_in_background),
    answers as before, and after a question that follows another process's ingest embeds the
    new article's sentences too; its status says how far it got."""
    from bot.config import Settings
    from bot.ui import warm

    store = tmp_path / "store"
    env = {"BOT_STORE_DIR": str(store)}
    # More chunks than the warm-up question retrieves: some sentences are left to prepare.
    stories = corpus.write(tmp_path / "stories", corpus.docs(20))
    assert run_cli("ingest", str(SEEDS), str(stories), env=env).returncode == 0
    alone = json.loads(run_cli("ask", QUESTION, "--json", env=env).stdout)
    settings = Settings.load(env={}, env_file=None).with_(store_dir=store)

    def prepared() -> dict:
        return (warm.status(settings) or {}).get("prepared", {})

    server = start_serve(store, idle=120)
    try:
        wait_for(lambda: prepared().get("passes", 0) >= 1, "the store's sentences were not prepared")
        assert prepared()["articles"] == 21 and prepared()["sentences"] > 10
        served = json.loads(run_cli("ask", QUESTION, "--json", env=env).stdout)
        assert {k: served[k] for k in ("short_answer", "citations", "statements", "refused")} == \
               {k: alone[k] for k in ("short_answer", "citations", "statements", "refused")}
        news = tmp_path / "news"
        news.mkdir()
        (news / "port.md").write_text("# Port reopens\n\nThe harbour of Eastport reopened to "
                                      "container ships on Monday after dredging works.\n")
        assert run_cli("ingest", str(news), env=env).returncode == 0
        assert run_cli("ask", "When did the harbour of Eastport reopen?", env=env).returncode == 0
        wait_for(lambda: prepared().get("passes", 0) >= 2, "the new article was not prepared")
        assert prepared()["articles"] == 22
        assert warm.status(settings)["answered"] == 2
        said = run_cli("serve", "--status", env=env)
        assert said.returncode == 0 and said.stdout.strip() == (
            "a warm bot serves this store: 2 question(s) answered; "
            f"{prepared()['sentences']:,} sentence(s) of 22 article(s) prepared")
    finally:
        warm.stop(settings)
        server.wait(timeout=60)
    assert server.returncode == 0 and warm.status(settings) is None
    said = run_cli("serve", "--status", env=env)
    assert said.returncode == 0 and said.stdout.strip() == "no warm bot serves this store"

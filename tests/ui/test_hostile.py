"""Hostile and broken input (issue 14), through the real CLI: escape codes in articles and file
names never reach the terminal raw, secrets echoed back by stand-in servers never show, bad
settings are one line, odd files (FIFO, /dev/zero, loops, UTF-16) neither hang nor crash."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pexpect
import pytest

from bot.util.controls import clean, has_unsafe
from tests import fakeslack as fs
from tests.conftest import ROOT, SEEDS, free_port, run_cli
from tests.known_secrets import MARK, SECRETS
from tests.openai_server import Reply

ESC_TITLE = "Harbor news\x1b[2J\x1b]52;c;ZXZpbCBjbGlwYm9hcmQ=\x07 today"
ESC_BODY = ("The council approved the ferry plan on Monday\x1b[31m, officials said\x9b31m. "
            "The plan will cost five million\u202e dollars, the mayor said.\n\n"
            "Ferries will run every hour from June, the harbor office said.\x1b[0m\n")
EVIL_NAME = "bad\x1b[2Jname\nerror: fake line.xyz"


def assert_no_raw_controls(*outputs: str) -> None:
    for text in outputs:
        assert not has_unsafe(text), repr(text[:2000])


def plain_env(tmp_path: Path, **extra: str) -> dict:
    return {"BOT_STORE_DIR": str(tmp_path / "store"), "HF_HUB_OFFLINE": "1", **extra}


@pytest.fixture
def evil_store(tmp_path):
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "evil.txt").write_text(ESC_TITLE + "\n\n" + ESC_BODY, encoding="utf-8")
    (folder / EVIL_NAME).write_text("x")
    return folder


# -- terminal escape injection -----------------------------------------------------------


def test_escape_codes_from_articles_and_file_names_never_reach_the_terminal(evil_store, tmp_path):
    env = plain_env(tmp_path)
    outputs = []

    def cli(*args: str, code: int = 0, **kw) -> str:
        r = run_cli(*args, env=env, cwd=tmp_path, **kw)
        assert r.returncode == code, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr
        outputs.append(r.stdout + r.stderr)
        return r.stdout + r.stderr

    ingested = cli("ingest", str(evil_store), str(evil_store / EVIL_NAME), "bad\x1bname.txt", code=1)
    assert "1 added" in ingested and "␛[2J" in ingested  # shown, not obeyed
    # The file name with a newline in it stays on its own error line.
    assert not any(line.startswith("error: fake line") for line in ingested.splitlines())
    [article] = json.loads(cli("sources", "--json"))
    assert article["title"] == ESC_TITLE  # stored and JSON keep every character
    shown = json.loads(cli("show", article["article_id"], "--json"))
    assert ESC_BODY.strip() in shown["text"]
    cli("sources")
    assert "␛]52;c;" in cli("show", article["article_id"])
    cli("ask", "What did the council approve?")
    answer = json.loads(cli("ask", "What did the council approve?", "--json"))
    assert any("\x1b" in c["quote"] or "\x9b" in c["quote"] for c in answer["citations"])
    cli("summarize", article["article_id"])
    cli("brief")
    r = run_cli("chat", env=env, cwd=tmp_path, input="What did the council approve?\n/sources\n"
                "/open 1\n/history\n/ingest bad\x1bname.txt\n")
    outputs.append(r.stdout + r.stderr)
    assert "Sources" in r.stdout and "Traceback" not in r.stderr
    assert_no_raw_controls(*outputs)


def test_escape_codes_stay_out_of_a_real_terminal(evil_store, tmp_path):
    """On a terminal rich writes its own colour codes; the article's never get through."""
    env = {**os.environ, **plain_env(tmp_path), "PYTHONPATH": str(ROOT), "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    assert run_cli("ingest", str(evil_store / "evil.txt"), env=plain_env(tmp_path)).returncode == 0
    child = pexpect.spawn(sys.executable, ["-m", "bot", "ask", "What did the council approve?"],
                          env=env, encoding="utf-8", dimensions=(40, 160), timeout=90,
                          use_poll=True)
    child.logfile_read = transcript = io.StringIO()
    child.expect(pexpect.EOF)
    child.close()
    seen = transcript.getvalue()
    assert child.exitstatus == 0 and "Sources" in seen
    for raw in ("\x1b[2J", "\x1b]52", "\x9b", "\u202e", "\x1b[31m, officials"):
        assert raw not in seen


def test_clean_keeps_length_newlines_and_tabs():
    text = "a\x1b[2Jb\tc\nd\x07\x9b\u202e\r\x7f"
    shown = clean(text)
    assert len(shown) == len(text) and not has_unsafe(shown)
    assert shown == "a␛[2Jb\tc\nd␇\ufffd\ufffd␍␡"


# -- secrets echoed back by stand-in servers ---------------------------------------------


def test_redact_hides_credential_shapes_and_leaves_prose_alone():
    from bot.util.redact import redact, redact_partial, remember

    remember(["conf-SECRET-value-77"])
    cases = {
        "Authorization was Bearer tok-abc123x": "Authorization was Bearer (hidden)",
        "{'X-Chroma-Token': 'abcd-12'}": "{'X-Chroma-Token': '(hidden)'}",
        "X-Chroma-Token is zz-99-yy": "X-Chroma-Token is (hidden)",
        "at http://user:P@ss@WORD@host:8000/x": "at http://user:(hidden)@host:8000/x",
        "https://tok123@github.com/a": "https://(hidden)@github.com/a",
        "key=conf-SECRET-value-77.": "key=(hidden).",
        "xoxb-111-222-abcdef and sk-abcdefghijklmnop": "(hidden) and (hidden)",
        "bearer bonds, basic income; the authorization was granted": None,
        "mail x@y.com or see http://h/a@b": None,
    }
    for text, want in cases.items():
        assert redact(text) == (text if want is None else want), text
    assert redact_partial("the key is conf-SEC") == "the key is "  # held back until whole


class EchoChroma:
    """A stand-in Chroma server: the heartbeat answers, every other call fails with a body
    that echoes the request's credentials (as some proxies and servers do)."""

    def __init__(self, status: int = 500, about: str = "internal error"):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                if self.path.endswith("/heartbeat"):
                    body, code = b'{"nanosecond heartbeat": 1}', 200
                else:
                    said = "; ".join(f"{h} was {self.headers[h]}" for h in
                                     ("Authorization", "X-Chroma-Token") if self.headers[h])
                    body = json.dumps({"error": "InternalError",
                                       "message": f"{outer.about}: {said}"}).encode()
                    code = outer.status
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args) -> None:
                pass

        self.status, self.about = status, about
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def assert_clean(text: str, *secrets: str) -> None:
    for secret in (*SECRETS.values(), *secrets):
        assert secret not in text, f"{secret[:10]}... leaked: {text}"
    assert MARK not in text


@pytest.mark.parametrize("header", ["Authorization", "X-Chroma-Token"])
@pytest.mark.parametrize("status,about", [(500, "internal error"),
                                          (404, "tenant default_tenant not found")])
def test_a_chroma_server_echoing_the_token_never_shows_it(tmp_path, header, status, about):
    token = SECRETS["BOT_CHROMA_TOKEN"]
    echo = EchoChroma(status, about)
    try:
        env = plain_env(tmp_path, BOT_CHROMA_URL=echo.url, BOT_CHROMA_TOKEN=token,
                        BOT_CHROMA_AUTH_HEADER=header)
        for args in (("sources",), ("ingest", str(SEEDS)), ("stats", "--json")):
            r = run_cli(*args, env=env, cwd=tmp_path)
            assert r.returncode == 1 and "Traceback" not in r.stderr, (args, r.stderr)
            assert r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1
            assert_clean(r.stdout + r.stderr)
    finally:
        echo.close()


def test_a_url_password_never_shows_even_with_an_at_sign(tmp_path):
    password = "pa@ss-w0rd-cafe"
    url = f"http://admin:{password}@127.0.0.1:{free_port()}"
    r = run_cli("sources", env=plain_env(tmp_path, BOT_CHROMA_URL=url), cwd=tmp_path)
    assert r.returncode == 1 and "cannot reach the Chroma server" in r.stderr
    assert "admin:(hidden)@127.0.0.1" in r.stderr
    assert_clean(r.stdout + r.stderr, password, "ss-w0rd")
    shown = run_cli("config", env=plain_env(tmp_path, BOT_CHROMA_URL=url), cwd=tmp_path).stdout
    assert_clean(shown, password, "ss-w0rd")


def test_bot_slack_never_prints_a_token_the_slack_api_echoes(tmp_path):
    fake = fs.FakeSlack()
    fake.fail("auth.test", f"invalid_auth (token {fs.BOT_TOKEN} is revoked)")
    try:
        r = run_cli("slack", env=plain_env(tmp_path, SLACK_API_URL=fake.api_url,
                                           SLACK_BOT_TOKEN=fs.BOT_TOKEN,
                                           SLACK_APP_TOKEN=fs.APP_TOKEN), cwd=tmp_path)
    finally:
        fake.close()
    assert r.returncode == 1 and "Slack rejected SLACK_BOT_TOKEN" in r.stderr
    assert fs.BOT_TOKEN not in r.stdout + r.stderr and "Traceback" not in r.stderr


def _echoing_model(body: dict) -> Reply:
    """A model that repeats its key: in the answer it streams and in rewritten questions."""
    key = SECRETS["OPENAI_API_KEY"]
    if not body.get("tools") and "Rewrite the follow-up" in json.dumps(body):
        return Reply.text(f"What did it say about the range claimed (auth {key})?")
    from tests.answer.test_llm import RANGE_QUOTE, answer_args, pid_with

    return Reply.tool_call("answer", answer_args(
        (f"KCNA said so, and my key is {key}, Bearer tok-12345678.",
         [(pid_with(body, RANGE_QUOTE), RANGE_QUOTE)])), chunk_size=3)


def test_a_model_echoing_its_key_never_shows_it_in_drafts_searched_or_history(
        tmp_path, openai_server):
    openai_server.chat_handler = _echoing_model
    env = plain_env(tmp_path, OPENAI_BASE_URL=openai_server.base_url,
                    OPENAI_API_KEY=SECRETS["OPENAI_API_KEY"], BOT_LLM_RETRIES="0")
    assert run_cli("ingest", str(SEEDS), env=env, cwd=tmp_path).returncode == 0
    # `bot ask` on a terminal streams the draft before the verified answer replaces it.
    child = pexpect.spawn(sys.executable, ["-m", "bot", "ask", "What range was claimed?"],
                          env={**os.environ, **env, "PYTHONPATH": str(ROOT), "TERM": "xterm"},
                          encoding="utf-8", dimensions=(40, 160), timeout=90, use_poll=True)
    child.logfile_read = transcript = io.StringIO()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and "KCNA said so" in transcript.getvalue()
    assert_clean(transcript.getvalue(), "tok-12345678")
    # A chat follow-up prints the model's rewritten question, and stores it.
    r = run_cli("chat", env=env, cwd=tmp_path,
                input="What range was claimed?\nAnd what did it say?\n/history\n")
    assert "(searched: What did it say about the range claimed (auth (hidden))?)" in r.stdout, r.stdout
    assert_clean(r.stdout + r.stderr, "tok-12345678")
    with sqlite3.connect(tmp_path / "store" / "chat.sqlite3") as db:
        stored = json.dumps(db.execute("SELECT * FROM turns").fetchall())
    assert "searched" not in stored and "auth (hidden)" in stored
    assert_clean(stored, "tok-12345678")


# -- settings ----------------------------------------------------------------------------


@pytest.mark.parametrize("name,value", [
    ("BOT_CHUNK_SIZE", "0"), ("BOT_EMBED_BATCH", "0"), ("BOT_MAX_FILE_MB", "-1"),
    ("BOT_TOP_K", "0"), ("BOT_TOP_K", "-3"), ("BOT_CHUNK_OVERLAP", "800"),
    ("BOT_LLM_TIMEOUT", "0"), ("BOT_FETCH_TIMEOUT", "nan"), ("BOT_CHROMA_TIMEOUT", "-5"),
    ("BOT_SLACK_WORKERS", "0"), ("BOT_LLM_RETRIES", "-1"), ("BOT_ALLOW_PRIVATE_URLS", "maybe"),
])
def test_a_bad_setting_is_one_line_naming_it(tmp_path, name, value):
    (tmp_path / "a.txt").write_text("Ferries run hourly, the harbor office said.\n")
    r = run_cli("ingest", "a.txt", env=plain_env(tmp_path, **{name: value}), cwd=tmp_path,
                timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"error: {name}=") and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("k", ["0", "-1", "100000"])
def test_top_k_flag_is_checked_like_the_setting(tmp_path, k):
    r = run_cli("ask", "What range?", "--top-k", k, env=plain_env(tmp_path), cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.startswith(f"error: --top-k {k} is out of range")


def test_python_api_checks_settings_and_k(settings):
    from bot import Bot
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match="BOT_EMBED_BATCH=0"):
        settings.with_(embed_batch=0)
    with pytest.raises(ConfigError, match=r"k \(top-k\)=0"):
        Bot(settings).retrieve("What range?", k=0)


# -- hangs and crashes -------------------------------------------------------------------


def test_empty_path_is_an_error_not_the_current_folder(tmp_path):
    (tmp_path / "a.txt").write_text("Ferries run hourly, the harbor office said.\n")
    r = run_cli("ingest", "", env=plain_env(tmp_path), cwd=tmp_path)
    assert r.returncode == 1 and "an empty path" in r.stderr and "0 added" in r.stdout


def test_odd_files_are_skipped_in_one_line_and_the_batch_goes_on(tmp_path):
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "a.txt").write_text("Ferries run hourly, the harbor office said on Monday.\n")
    os.mkfifo(folder / "pipe.txt")
    (folder / "zero.txt").symlink_to("/dev/zero")
    (folder / "loop.txt").symlink_to(folder / "loop.txt")
    (folder / "utf16.txt").write_text("Trams run at night, the city said on Friday.\n",
                                      encoding="utf-16")
    r = run_cli("ingest", str(folder), str(folder / "loop.txt"), "--json",
                env=plain_env(tmp_path, BOT_MAX_FILE_MB="1"), cwd=tmp_path, timeout=120)
    assert "Traceback" not in r.stderr and r.returncode == 1
    report = json.loads(r.stdout)
    assert sorted(Path(s).name for s in report["added"]) == ["a.txt", "utf16.txt"]
    reasons = {Path(f["source"]).name: f["reason"] for f in report["failed"]}
    assert reasons["pipe.txt"].startswith("skipped: a named pipe (FIFO)")
    assert reasons["zero.txt"].startswith("skipped: a character device")
    assert "symlink loop" in reasons["loop.txt"]
    assert len(r.stderr.strip().splitlines()) == len(report["failed"])


def test_read_is_capped_whatever_stat_says(tmp_path):
    from bot.sources.common import LoadError
    from bot.sources.articles import read_capped

    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 5000)
    with pytest.raises(LoadError, match="over the 0.001 MB limit"):
        read_capped(big, 1000)
    assert read_capped(big, 5000) == b"x" * 5000


def test_utf16_files_are_decoded_and_broken_ones_named(tmp_path):
    from bot.sources.common import LoadError
    from bot.sources.articles import decode

    assert decode("Trams run.".encode("utf-16"), "a") == "Trams run."
    assert decode("Trams run.".encode("utf-32"), "a") == "Trams run."
    with pytest.raises(LoadError, match="not valid UTF-16"):
        decode(b"\xff\xfe\x00\xd8", "a")


def test_a_question_with_invalid_utf8_bytes_is_asked(tmp_path):
    question = os.fsdecode(b"What range was claimed \xff\xfe?")
    assert run_cli("ingest", str(SEEDS), env=plain_env(tmp_path), cwd=tmp_path).returncode == 0
    r = run_cli("ask", question, env=plain_env(tmp_path), cwd=tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr and "Sources" in r.stdout
    # Piped chat: a line that is not UTF-8 is asked too.
    env = {**os.environ, **plain_env(tmp_path), "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-m", "bot", "chat"], input=b"What range was claimed \xff?\n",
                          capture_output=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0 and b"Traceback" not in done.stderr and b"Sources" in done.stdout


def test_watch_exits_non_zero_when_nothing_could_be_fetched(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/feed.xml"
    r = run_cli("watch", "--feed", url, "--every", "1s", "--max-polls", "2",
                env=plain_env(tmp_path, BOT_ALLOW_PRIVATE_URLS="1"), cwd=tmp_path)
    assert r.returncode == 1 and "nothing could be fetched in 2 poll(s)" in r.stderr


# -- store bookkeeping after a crash -----------------------------------------------------

# A real ingest that SIGKILLs itself once the chunks of its `n`-th article write are stored,
# before the article is flipped to ready: the moment a crash leaves the most behind.
KILL_MID_WRITE = """
import os, signal, sys
from bot import Bot
from bot.config import Settings
from bot.index.store import Store

real, seen = Store._call, []

def call(self, fn, *args, **kwargs):
    out = real(self, fn, *args, **kwargs)
    metas = kwargs.get("metadatas") or [{}]
    if getattr(fn, "__name__", "") == "upsert" and "chunk_no" in metas[0]:
        seen.append(1)
        if len(seen) == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)
    return out

Store._call = call
Bot(Settings.load()).ingest(sys.argv[1:2])
"""

STORIES = {
    "ferry.txt": "Harbor ferries\n\nThe harbor office said on Monday that ferries will run every "
                 "hour from June. Tickets will cost two dollars, officials said.\n",
    "tram.txt": "Night trams\n\nThe city said on Friday that trams will run all night on "
                "weekends. The first night service starts in May, the transport office said.\n",
}


def _kill_mid_write(folder: Path, env: dict, nth: int) -> int:
    full = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", KILL_MID_WRITE, str(folder), str(nth)],
                          env=full, capture_output=True, timeout=300)
    return done.returncode


def test_stats_counts_an_interrupted_write_apart_and_repairs_it(tmp_path):
    folder = tmp_path / "news"
    folder.mkdir()
    for name, text in STORIES.items():
        (folder / name).write_text(text)
    env = plain_env(tmp_path)
    assert _kill_mid_write(folder, env, 2) == -9
    stats = json.loads(run_cli("stats", "--json", env=env, cwd=tmp_path).stdout)
    assert (stats["articles"], stats["pending_articles"], stats["stale_articles"]) == (1, 1, 1)
    assert stats["pending_chunks"] >= 1
    text = run_cli("stats", env=env, cwd=tmp_path).stdout
    assert "pending writes   1 article(s)" in text and "bot stats --repair" in text
    r = run_cli("stats", "--repair", "--json", env=env, cwd=tmp_path)
    assert "removed 1 interrupted write(s)" in r.stderr
    after = json.loads(r.stdout)
    assert (after["articles"], after["pending_articles"]) == (1, 0)
    assert after["chunks"] == stats["chunks"]  # the count never included the pending chunks


def test_a_killed_update_keeps_serving_the_old_version(tmp_path):
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "ferry.txt").write_text(STORIES["ferry.txt"])
    env = plain_env(tmp_path)
    assert run_cli("ingest", str(folder), env=env, cwd=tmp_path).returncode == 0
    [old] = json.loads(run_cli("sources", "--json", env=env, cwd=tmp_path).stdout)
    (folder / "ferry.txt").write_text(STORIES["ferry.txt"].replace("two dollars", "three euros"))
    assert _kill_mid_write(folder, env, 1) == -9
    shown = json.loads(run_cli("show", old["article_id"], "--json", env=env, cwd=tmp_path).stdout)
    assert "two dollars" in shown["text"]  # the old version, whole, until the new one is ready
    answer = json.loads(run_cli("ask", "What will tickets cost?", "--json", env=env,
                                cwd=tmp_path).stdout)
    assert any("two dollars" in c["quote"] for c in answer["citations"])
    assert run_cli("ingest", str(folder), env=env, cwd=tmp_path).returncode == 0
    shown = json.loads(run_cli("show", old["article_id"], "--json", env=env, cwd=tmp_path).stdout)
    assert "three euros" in shown["text"]

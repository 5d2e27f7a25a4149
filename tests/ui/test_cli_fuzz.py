"""The CLI surface under generated input (issue 14): questions, flags, environment values and
file kinds, run through the real entry point (`bot.ui.cli.main`, in this process so that hundreds
of runs fit in a test). Every run must end in exit code 0, 1 or 2 with no traceback, and
nothing it prints may hold a raw control character (bot/ui/terminal.py `has_unsafe`): the
detector every command's output goes through here.

`FUZZ_EXAMPLES` scales the example counts (bench figures in BENCHMARKS.md, Reliability)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from bot.util.controls import has_unsafe
from tests.conftest import SEEDS
from tests.ui.test_hostile import ESC_BODY, ESC_TITLE


def _examples(default: int) -> int:
    return int(os.environ.get("FUZZ_EXAMPLES") or default)


CLI = hsettings(max_examples=_examples(40), deadline=None, suppress_health_check=list(HealthCheck))


def cli(*args: str, env: dict[str, str] | None = None, stdin: str = "") -> tuple[int, str, str]:
    """`bot ARGS` in this process: (exit code, stdout, stderr). An exception other than the
    exit is re-raised: that is a crash (a traceback for the user)."""
    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_argv, saved_stdin = dict(os.environ), sys.argv, sys.stdin
    os.environ.update(env or {})
    sys.argv, sys.stdin = ["bot", *args], io.StringIO(stdin)
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            from bot.ui.cli import main

            main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv, sys.stdin = saved_argv, saved_stdin
    return code, out.getvalue(), err.getvalue()


def assert_sane(code: int, out: str, err: str, allowed: tuple[int, ...] = (0, 1, 2)) -> None:
    assert code in allowed, (code, out, err)
    assert "Traceback" not in err, err
    assert not has_unsafe(out) and not has_unsafe(err), repr((out[-500:], err[-500:]))
    for line in err.splitlines():  # expected failures are one clear line each
        assert line.startswith(("error: ", "note: ", "skipped: ", "repaired: ", "Usage: ", "Try ", "╭", "│",
                                "╰", " ")) or not line.strip(), err


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store with the seed articles and one full of escape codes."""
    root = tmp_path_factory.mktemp("cli-fuzz")
    (root / "evil.txt").write_text(ESC_TITLE + "\n\n" + ESC_BODY, encoding="utf-8")
    env = {"BOT_STORE_DIR": str(root / "store")}
    code, out, err = cli("ingest", str(SEEDS), str(root / "evil.txt"), env=env)
    assert code == 0, err
    return root, env


PIECES = ["\x1b[2J", "\x1b]52;c;eA==\x07", "\x9b", "\u202e", "\r", "\x00", "\udcff", "\n", "[bold]",
          "Bearer abc-123456", "http://u:p@h/", "What range was claimed?", " "]
hostile_text = st.lists(st.one_of(st.text(max_size=10), st.sampled_from(PIECES)),
                        max_size=8).map("".join)


@CLI
@given(question=hostile_text, json_out=st.booleans(),
       k=st.one_of(st.none(), st.integers(-5, 2000)))
def test_any_question_and_top_k(store, question, json_out, k):
    _, env = store
    args = ["ask", question] + (["--json"] if json_out else []) + \
        ([] if k is None else ["--top-k", str(k)])
    code, out, err = cli(*args, env=env)
    assert_sane(code, out, err)
    if json_out and code == 0:
        json.loads(out)
    if k is not None and not 1 <= k <= 1000 and question.strip():
        assert code == 1 and err.startswith("error: --top-k ")


NUMERIC = ["BOT_CHUNK_SIZE", "BOT_CHUNK_OVERLAP", "BOT_TOP_K", "BOT_MAX_FILE_MB", "BOT_EMBED_BATCH",
           "BOT_LLM_TIMEOUT", "BOT_LLM_RETRIES", "BOT_FETCH_TIMEOUT", "BOT_CHROMA_TIMEOUT",
           "BOT_SLACK_RATE_LIMIT", "BOT_SLACK_WORKERS", "BOT_ALLOW_PRIVATE_URLS"]
env_value = st.one_of(st.integers(-10**6, 10**6).map(str), st.floats(allow_nan=True).map(str),
                      st.sampled_from(["", " ", "1e309", "-0", "0x10", "many", "\x1b[2J", "inf"]))


@CLI
@given(name=st.sampled_from(NUMERIC), value=env_value)
def test_any_setting_value(store, name, value):
    root, env = store
    code, out, err = cli("config", env={**env, name: value})
    assert_sane(code, out, err, allowed=(0, 1))
    if code == 1:  # refused at load, naming the setting, in one line
        assert err.startswith(f"error: {name}=") and len(err.strip().splitlines()) == 1


FILE_KINDS = ["text", "utf16", "binary", "empty", "fifo", "zero", "dangling", "loop", "folder"]


def _make(path: Path, kind: str, data: bytes) -> None:
    if kind == "text":
        path.write_bytes(data)
    elif kind == "utf16":
        path.write_bytes(data.decode("utf-8", "replace").encode("utf-16"))
    elif kind == "binary":
        path.write_bytes(b"\x00" + data)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "zero":
        path.symlink_to("/dev/zero")
    elif kind == "dangling":
        path.symlink_to(path.parent / "nowhere")
    elif kind == "loop":
        path.symlink_to(path)
    else:
        path.mkdir()


@CLI
@given(files=st.lists(st.tuples(st.sampled_from(FILE_KINDS), st.sampled_from([".txt", ".md", ".html", ".pdf", ""]),
                                st.binary(max_size=300), st.text(max_size=12)), min_size=1, max_size=5))
def test_any_file_kinds(tmp_path_factory, files):
    root = tmp_path_factory.mktemp("files")
    folder = root / "in"
    folder.mkdir()
    for n, (kind, suffix, data, name) in enumerate(files):
        safe_name = "".join(ch for ch in name if ch not in "/\x00") or "f"
        try:
            _make(folder / f"{n}{safe_name}{suffix}", kind, data)
        except (OSError, ValueError):  # a name the file system refuses
            _make(folder / f"{n}{suffix}", kind, data)
    env = {"BOT_STORE_DIR": str(root / "store"), "BOT_MAX_FILE_MB": "0.01"}
    code, out, err = cli("ingest", str(folder), *[str(p) for p in sorted(folder.iterdir())],
                         env=env)
    assert_sane(code, out, err, allowed=(0, 1))


# -- every command's output through the detector ----------------------------------------


def _runs(root: Path, article_id: str) -> dict[str, list[list[str]]]:
    return {
        "ingest": [[str(root / "evil.txt")], [str(root / "evil.txt"), "--json"]],
        "watch": [["--feed", "http://127.0.0.1:9/x\x1b[2J.xml", "--every", "1s", "--max-polls", "1"]],
        "ask": [["What did the council approve?"], ["What did the council approve?", "--json"]],
        "show": [[article_id], [article_id, "--json"], ["no\x1b[2Jsuch"]],
        "sources": [[], ["--json"]],
        "forget": [["no\x1b]52;c;eA==\x07such"]],
        "stats": [[], ["--json"]],
        "reindex": [[]],
        "config": [[], ["--json"]],
        "slack": [[]],
        "mcp": [],  # --help only: it would serve on stdin
        "serve": [],  # --help only: it would wait for questions until idle
        "log": [[], ["--json"]],  # after "ask": holds the article's text in its answers
        "feedback": [[], ["--json"]],
        "chat": [["--list"]],
        "summarize": [[article_id], [article_id, "--json"]],
        "brief": [[], ["--format", "html"], ["--format", "json"]],
    }


def test_every_command_prints_no_raw_control_character(store):
    from bot.ui.cli import app

    root, env = store
    code, out, _ = cli("sources", "--json", env=env)
    article_id = next(a["article_id"] for a in json.loads(out) if a["title"] == ESC_TITLE)
    runs = _runs(root, article_id)
    commands = {c.name or c.callback.__name__ for c in app.registered_commands}
    assert commands <= set(runs), f"add {commands - set(runs)} to _runs"
    for name in sorted(commands):
        for args in [*runs[name], ["--help"]]:
            code, out, err = cli(name, *args, env=env,
                                 stdin="What did the council approve?\n/sources\n/open 1\n")
            assert_sane(code, out, err)
    code, out, err = cli("chat", env=env, stdin="What did the council approve?\n/sources\n/open 1\n")
    assert_sane(code, out, err)
    assert "␛" in out  # the article's escape codes are shown, not obeyed

"""The command line a daily user expects (issue 15, part A), driven through the real CLI."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pexpect
import pytest

from conftest import BOT_ENV_PREFIXES, ROOT, SEEDS, run_cli
from bot.util.datefilter import DateError, parse_day, parse_range

TODAY = dt.date.today()
YESTERDAY = (TODAY - dt.timedelta(days=1)).isoformat()
BRIDGE = """---
title: Harbour bridge to close for repairs
date: {date}
---
The harbour bridge will close for six months of repairs starting in March, the city council said.
Engineers found corrosion in the main cables during an inspection last year.
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict[str, str]:
    """The sample article (undated) and a news article published yesterday."""
    root = tmp_path_factory.mktemp("daily")
    shutil.copytree(SEEDS, root / "seeds")
    (root / "seeds" / "bridge.md").write_text(BRIDGE.format(date=YESTERDAY))
    env = {"BOT_STORE_DIR": str(root / "store")}
    r = run_cli("ingest", str(root / "seeds"), env=env)
    assert r.returncode == 0, r.stderr
    return env


def _one_error_line(r, *parts: str) -> None:
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for part in parts:
        assert part in lines[0]


# -- 1. one date parser ----------------------------------------------------------------------


def test_day_forms():
    today = dt.date(2024, 3, 31)
    assert parse_day("2022-01-27", "since", today) == "2022-01-27"
    assert parse_day(" Today ", "since", today) == "2024-03-31"
    assert parse_day("yesterday", "since", today) == "2024-03-30"
    assert parse_day("7d", "since", today) == parse_day("7 days ago", "since", today) == "2024-03-24"
    assert parse_day("2w", "since", today) == parse_day("2 weeks ago", "since", today) == "2024-03-17"
    assert parse_day("last week", "since", today) == "2024-03-24"
    assert parse_day("last month", "since", today) == "2024-02-29"  # no 31 February
    assert parse_day(None, "since") is None and parse_day("  ", "since") is None
    for bad in ("2022-13-45", "5", "01/02/2022", "next week", "banana", "99999999d"):
        with pytest.raises(DateError, match=r"^--since '.*' is not a date; use YYYY-MM-DD"):
            parse_day(bad, "--since", today)
    with pytest.raises(DateError, match=r"^until='soon' is not a date"):
        parse_day("soon", "until", today)
    with pytest.raises(DateError, match="swap them"):
        parse_range("today", "yesterday")


def test_ask_and_brief_refuse_bad_dates_in_one_line(store):
    _one_error_line(run_cli("ask", "What range was claimed?", "--since", "2022-13-45", env=store),
                    "--since '2022-13-45' is not a date")
    _one_error_line(run_cli("ask", "x", "--until", "someday", env=store), "--until 'someday' is not a date")
    _one_error_line(run_cli("brief", "--since", "2022-13-45", env=store),
                    "--since '2022-13-45' is not a date")
    _one_error_line(run_cli("ask", "x", "--since", "today", "--until", "2w", env=store), "swap them")


def test_until_yesterday_keeps_yesterday_and_since_today_drops_it(store):
    q = "What did engineers find in the main cables?"
    kept = json.loads(run_cli("ask", q, "--until", "yesterday", "--since", "7d", "--json", env=store).stdout)
    assert not kept["refused"] and {c["title"] for c in kept["citations"]} == {
        "Harbour bridge to close for repairs"}
    gone = json.loads(run_cli("ask", q, "--since", "today", "--json", env=store).stdout)
    assert gone["refused"] and gone["citations"] == []
    brief = run_cli("brief", "--since", "last week", "--format", "json", env=store)
    assert brief.returncode == 0, brief.stderr
    assert [a["title"] for a in json.loads(brief.stdout)["articles"]] == [
        "Harbour bridge to close for repairs"]
    none = run_cli("brief", "--since", "today", env=store)
    _one_error_line(none, f"no articles match --since '{TODAY.isoformat()}'")


# -- 3. the Python API takes the CLI's filters ------------------------------------------------


def test_api_keyword_filters(seeded):
    answer = seeded.ask("What range was claimed?", source="seeds", until="today", top_k=2)
    assert answer.refused  # the sample is undated: a date filter leaves it out
    answer = seeded.ask("What range was claimed?", source="seeds", top_k=6)
    assert answer.short_answer_candidate == "1,800 kilometers" and "1,800 kilometers" in answer.answer
    assert all("seeds" in c.source for c in answer.citations)
    assert seeded.ask("What range was claimed?", source="elsewhere").refused
    with pytest.raises(DateError, match=r"^since='2022-13-45' is not a date"):
        seeded.ask("What range was claimed?", since="2022-13-45")
    events = list(seeded.ask_stream("What range was claimed?", source="seeds", top_k=6))
    assert events[-1].answer.short_answer_candidate == "1,800 kilometers"
    assert seeded.ask_stream("x", until="yesterday").__next__().answer.refused
    b = seeded.brief(topic="missile tests", max_points=4)
    assert b.articles and b.citations
    from bot.brief.briefing import BriefingError

    with pytest.raises(BriefingError, match=r"^no articles match since='2022-01-01' topic="):
        seeded.brief(since="2022-01-01", topic="missile tests")


# -- 5, 9. titles and what ingest says --------------------------------------------------------


def test_ingest_folder_reports_skipped_kinds_empty_markdown_and_titles(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    long_line = ("The regional council approved a new budget on Monday that doubles spending on "
                 "flood defences along the river, after two winters of record water levels.")
    (folder / "budget.txt").write_text(long_line + "\n\nThe vote was 31 to 4.\n")
    (folder / "ferry.txt").write_text("Night ferry returns\n\nThe night ferry to the islands runs again.\n")
    for name in ("a.png", "b.png", "table.csv", "NOTES"):
        (folder / name).write_bytes(b"x")
    (folder / "heading.md").write_text("# Only a heading\n\n## And another\n")
    env = {"BOT_STORE_DIR": str(tmp_path / "store")}
    r = run_cli("ingest", str(folder), env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert sorted(r.stderr.strip().splitlines()) == sorted([
        "skipped: 1 .csv file (not a supported type: .htm, .html, .markdown, .md, .pdf, .text, .txt)",
        "skipped: 2 .png files (not a supported type: .htm, .html, .markdown, .md, .pdf, .text, .txt)",
        "skipped: 1 file with no extension (not a supported type: .htm, .html, .markdown, .md, .pdf, "
        ".text, .txt)",
        f"error: {folder / 'heading.md'}: is empty (only a heading, no text to ingest)"])
    assert r.stdout.strip() == "2 added, 0 updated, 0 unchanged, 1 failed (2 chunks)"
    assert json.loads(run_cli("ingest", str(folder), "--json", env=env).stdout)["skipped"] == {
        ".csv": 1, ".png": 2, "": 1}

    titles = {a["source"]: a["title"] for a in json.loads(run_cli("sources", "--json", env=env).stdout)}
    short = titles[str(folder / "budget.txt")]
    assert short.endswith("…") and len(short) <= 81 and long_line.startswith(short[:-1])
    assert long_line[len(short) - 1] == " "  # cut at a word boundary
    assert titles[str(folder / "ferry.txt")] == "Night ferry returns"
    one = tmp_path / "one.txt"
    one.write_text("A short note.\n")
    r = run_cli("ingest", str(one), env=env)
    assert r.stdout.strip().endswith("(1 chunk)")


# -- 6. summarize does not repeat its sentences ------------------------------------------------


def test_summarize_shows_each_sentence_once(store):
    arts = json.loads(run_cli("sources", "--json", env=store).stdout)
    sample = next(a for a in arts if a["source"].endswith(".txt"))
    summary = json.loads(run_cli("summarize", sample["article_id"], "--json", env=store).stdout)
    r = run_cli("summarize", sample["article_id"], env=store)
    assert r.returncode == 0 and "Sources" in r.stdout
    for s in summary["statements"]:
        assert r.stdout.count(s["text"]) == 1, s["text"]
    for c in summary["statements"][0]["citations"]:
        assert f"chars {c['start']}–{c['end']}" in r.stdout


# -- 10. the question from stdin, Markdown answers ---------------------------------------------


def test_ask_reads_stdin_and_writes_markdown(store):
    r = run_cli("ask", "--format", "md", input="What range was claimed?\n", env=store)
    assert r.returncode == 0, r.stderr
    # The lead is the cited sentence (its short answer is not confident enough to be shown alone).
    assert r.stdout.startswith("**What range was claimed?**\n\nNorth Korea test-fired")
    assert "1,800 kilometers" in r.stdout.split("\n\n")[1]
    assert re.search(r"weapons\.\[\^1\]", r.stdout)
    note = re.search(r"^\[\^1\]: \*North Korea test-fired .*\*, .*000_f7985a03bbf30fbd\.txt · chars 0–271$",
                     r.stdout, re.M)
    assert note, r.stdout
    empty = run_cli("ask", input="  \n", env=store)
    _one_error_line(empty, "the question is empty")
    _one_error_line(run_cli("ask", "x", "--format", "pdf", env=store), "--format 'pdf': use text, md or json")
    _one_error_line(run_cli("ask", "x", "--top-k", "0", env=store), "--top-k 0")


def _terminal(*args: str, env: dict[str, str], cwd: Path | None = None) -> pexpect.spawn:
    full = {k: v for k, v in os.environ.items() if not k.startswith(BOT_ENV_PREFIXES)}
    full.update(PYTHONPATH=str(ROOT), NO_COLOR="1", BOT_WARM="off")  # no warm process left behind
    full.update(env)
    return pexpect.spawn(args[0], list(args[1:]), env=full, cwd=str(cwd) if cwd else None,
                         encoding="utf-8", timeout=120, dimensions=(40, 200))


def test_ask_in_a_terminal_without_a_question_says_how(store):
    child = _terminal(sys.executable, "-m", "bot", "ask", env=store)
    child.expect(r"error: no question; give one .* or pipe it in")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1


# -- 11. a cited span in its paragraph ---------------------------------------------------------


def test_show_span_highlights_the_cited_span(store):
    d = json.loads(run_cli("ask", "How long did the missiles fly?", "--json", env=store).stdout)
    c = d["citations"][0]
    r = run_cli("show", c["article_id"], "--span", f"{c['start']}:{c['end']}", env=store)
    assert r.returncode == 0, r.stderr
    assert f"»{c['quote']}«" in r.stdout  # plain output brackets the highlighted span
    assert f"chars {c['start']}–{c['end']} of" in r.stdout and "chars after)" in r.stdout
    _one_error_line(run_cli("show", c["article_id"], "--span", "9:3", env=store), "--span '9:3'")
    _one_error_line(run_cli("show", c["article_id"], "--span", "start", env=store), "START:END")


# -- 12. version, help, completion -------------------------------------------------------------


def test_version_and_help():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"bot {version}"
    top = run_cli("--help", env={"COLUMNS": "80"}).stdout
    from bot.ui.cli import app

    for info in app.registered_commands:
        assert re.search(rf"^  {info.name}\s", top, re.M), info.name
    assert "..." not in top.split("Commands:")[1]
    assert "--install-completion" in top and "--version" in top and "Examples:" in top
    ask = run_cli("ask", "--help").stdout
    assert "text|md|json" in ask and "yesterday, 7d" in ask and "Examples:" in ask
    assert "md|html|json" in run_cli("brief", "--help").stdout
    for info in app.registered_commands:
        assert "Examples:" in run_cli(info.name, "--help").stdout, info.name


def test_completion_installs_offline_and_completes_in_bash(tmp_path):
    home, bin_dir = tmp_path / "home", tmp_path / "bin"
    home.mkdir()
    bin_dir.mkdir()
    (bin_dir / "bot").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m bot "$@"\n')
    (bin_dir / "bot").chmod(0o755)
    env = {"HOME": str(home), "SHELL": "/bin/bash", "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    # Typed in bash, as a user would: typer finds the shell among the command's parents, so the
    # test does not depend on how pytest itself was started.
    full = {k: v for k, v in os.environ.items() if k not in ("HOME", "SHELL", "PATH")}
    r = subprocess.run(["bash", "-c", 'bot --install-completion; exit $?'], capture_output=True,
                       text=True, env={**full, **env, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (home / ".bash_completions" / "bot.sh").is_file() and "bot.sh" in (home / ".bashrc").read_text()
    shell = _terminal("bash", "--norc", "--noprofile", "-i", env={**env, "PS1": "$ "}, cwd=tmp_path)
    shell.expect_exact("$ ")
    shell.sendline("source ~/.bashrc")
    shell.expect_exact("$ ")
    shell.send("bot summ\t")
    shell.expect_exact("bot summarize")
    shell.sendcontrol("c")
    shell.sendline("exit")
    shell.expect(pexpect.EOF)


# -- 14. typed config ---------------------------------------------------------------------------


def test_config_json_is_typed():
    shown = json.loads(run_cli("config", "--json", env={"BOT_ALLOW_PRIVATE_URLS": "yes"}).stdout)
    assert shown["BOT_TOP_K"] == 10 and shown["BOT_CHUNK_SIZE"] == 800
    assert shown["BOT_LLM_TIMEOUT"] == 60.0 and shown["BOT_ALLOW_PRIVATE_URLS"] is True
    # No .bot/ above the test's folder: the per-user store (XDG_DATA_HOME is in tmp_path).
    assert shown["BOT_STORE_DIR"] == os.path.join(os.environ["XDG_DATA_HOME"], "bot")
    assert shown["OPENAI_API_KEY"] == "(not set)"

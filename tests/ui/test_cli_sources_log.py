"""The command line a daily user expects (issue 15, part B; part A is in test_cli_daily.py): ingest progress by chunks, `bot
sources` with filters, id prefixes, `bot forget` of several, where the store is, `bot log`. The
real CLI each time (subprocess, or pexpect in a pseudo-terminal)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import sys
from pathlib import Path

import pexpect
import pytest

from conftest import BOT_ENV_PREFIXES, ROOT, SEED_FILE, SEEDS, run_cli

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def write_articles(folder: Path) -> dict[str, Path]:
    """Three small dated articles from two sources (folders), each with its own words."""
    folder.mkdir(parents=True, exist_ok=True)
    specs = {
        "old": ("wire/old.md", "2021-03-04", "Harbour reopens after storm",
                "The northern harbour reopened on Thursday after a week of storm damage repairs."),
        "mid": ("wire/mid.md", "2022-06-10", "Rail strike ends",
                "Rail workers returned to work after a three-day strike over pay and hours."),
        "new": ("blog/new.md", "2023-01-20", "Library extends hours",
                "The city library will stay open until ten in the evening from next month."),
    }
    paths = {}
    for key, (rel, date, title, body) in specs.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"---\ntitle: {title}\ndate: {date}\n---\n\n# {title}\n\n{body}\n")
        paths[key] = path
    return paths


def sources_json(env: dict, *args: str) -> list[dict]:
    r = run_cli("sources", "--json", *args, env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


# -- bot sources, show / forget by prefix (item 7) ------------------------------------------

def test_sources_table_filters_prefixes_and_forget(tmp_path):
    env = {"BOT_STORE_DIR": str(tmp_path / "store")}
    paths = write_articles(tmp_path / "news")
    r = run_cli("ingest", str(tmp_path / "news"), env=env)
    assert r.returncode == 0, r.stderr

    listed = sources_json(env)
    assert [a["published"] for a in listed] == ["2023-01-20", "2022-06-10", "2021-03-04"]  # newest first
    assert all(a["chunks"] == 1 for a in listed)
    ids = {a["title"]: a["article_id"] for a in listed}

    r = run_cli("sources", env=env)  # the table: a header, one row per article, a count
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["title", "source", "date", "chunks", "id"]
    assert "3 articles" in lines[-1]
    rows = [line for line in lines if re.search(r"\d{4}-\d{2}-\d{2}", line)]
    assert [ids["Library extends hours"] in rows[0], ids["Harbour reopens after storm"] in rows[-1]] == [True, True]

    assert [a["title"] for a in sources_json(env, "--source", "wire")] == [
        "Rail strike ends", "Harbour reopens after storm"]
    assert [a["title"] for a in sources_json(env, "--since", "2022-01-01")] == [
        "Library extends hours", "Rail strike ends"]
    assert sources_json(env, "--since", "2022-01-01", "--source", "blog")[0]["title"] == "Library extends hours"
    r = run_cli("sources", "--since", "last tuesday", env=env)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1
    assert lines[0].startswith("error: --since 'last tuesday' is not a date; use YYYY-MM-DD")
    assert [a["title"] for a in sources_json(env, "--until", "2022-06-10")] == [
        "Rail strike ends", "Harbour reopens after storm"]
    r = run_cli("sources", "--source", "nowhere", env=env)
    assert r.returncode == 0 and "No articles match" in r.stdout

    # A unique prefix is enough for show; an ambiguous one lists the candidates on one line.
    lib = ids["Library extends hours"]
    shown = json.loads(run_cli("show", lib[:6], "--json", env=env).stdout)
    assert shown["article_id"] == lib and "ten in the evening" in shown["text"]
    r = run_cli("summarize", lib[:6], "--json", env=env)
    assert r.returncode == 0 and "ten in the evening" in r.stdout
    all_ids = sorted(ids.values())
    r = run_cli("show", "", env=env)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    shared = os.path.commonprefix(all_ids[:2])
    if shared:  # ids are hashes: two may share a first character, which makes a real ambiguity
        r = run_cli("show", shared, env=env)
        assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
        assert all_ids[0] in r.stderr and all_ids[1] in r.stderr

    # forget: several ids (prefixes) at once; a bad one is reported and the rest still go.
    rail, harbour = ids["Rail strike ends"], ids["Harbour reopens after storm"]
    r = run_cli("forget", rail[:7], "nosuchid", env=env)
    assert r.returncode == 1
    assert r.stdout.strip() == f"forgot {rail}"
    assert r.stderr.strip().splitlines() == ["error: nosuchid: no such article; list them with: bot sources"]
    r = run_cli("forget", "--source", "wire", env=env)
    assert r.returncode == 0 and r.stdout.strip() == f"forgot {harbour}"
    assert [a["article_id"] for a in sources_json(env)] == [lib]
    r = run_cli("forget", env=env)
    assert r.returncode == 1 and "bot forget ID" in r.stderr
    assert paths["old"].exists()  # forgetting never touches the files


def test_ambiguous_prefix_lists_candidates(tmp_path):
    """Enough articles that two ids share a first character (16 hex digits: 17 articles
    guarantee it), so the ambiguous-prefix path always runs."""
    env = {"BOT_STORE_DIR": str(tmp_path / "store")}
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(17):
        (folder / f"a{n}.txt").write_text(f"Item {n}. Number {n} was reported on its own day.\n")
    assert run_cli("ingest", str(folder), env=env).returncode == 0
    ids = [a["article_id"] for a in sources_json(env)]
    first = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) >= 2)
    r = run_cli("forget", first, env=env)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and "articles start with it" in lines[0]
    assert all(i in lines[0] for i in ids if i.startswith(first))
    assert len(sources_json(env)) == 17  # nothing forgotten on an ambiguous prefix


# -- where the store is (item 8) -------------------------------------------------------------

def test_store_found_like_git_else_per_user(tmp_path):
    project = tmp_path / "project"
    (project / ".bot").mkdir(parents=True)
    deep = project / "notes" / "2023"
    deep.mkdir(parents=True)
    r = run_cli("ingest", str(SEEDS), cwd=deep)
    assert r.returncode == 0, r.stderr
    assert (project / ".bot" / "chroma").is_dir()  # the nearest .bot/ above, not a new one here
    assert not (deep / ".bot").exists()
    r = run_cli("config", cwd=deep)
    assert f"store in use: {project / '.bot'} (the nearest .bot/ folder, in {project}" in r.stdout

    # Elsewhere, with no .bot/ above: the per-user store ($XDG_DATA_HOME/bot), whatever the folder.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    user_store = Path(os.environ["XDG_DATA_HOME"]) / "bot"
    r = run_cli("config", cwd=elsewhere)
    assert f"store in use: {user_store} (no .bot/ folder" in r.stdout
    assert "No articles yet" in run_cli("sources", cwd=elsewhere).stdout
    assert run_cli("ingest", str(SEED_FILE), cwd=elsewhere).returncode == 0
    other = tmp_path / "other"
    other.mkdir()
    assert len(json.loads(run_cli("sources", "--json", cwd=other).stdout)) == 1  # same store

    # BOT_STORE_DIR and --store-dir override both, and config says so.
    r = run_cli("config", cwd=deep, env={"BOT_STORE_DIR": str(tmp_path / "mine")})
    assert f"store in use: {tmp_path / 'mine'} (set by the BOT_STORE_DIR environment variable)" in r.stdout
    r = run_cli("--store-dir", str(tmp_path / "flag"), "config", cwd=deep)
    assert f"store in use: {tmp_path / 'flag'} (set by --store-dir)" in r.stdout


# -- bot log (item 13) -----------------------------------------------------------------------

def test_log_lists_cli_and_chat_questions_without_secrets(tmp_path):
    secret = "sk-test-log-secret-4242"
    # A key that reaches no server: the answer falls back to the extractive one, and the key
    # is in the question too, as a user might paste it.
    env = {"BOT_STORE_DIR": str(tmp_path / "store")}
    assert run_cli("ingest", str(SEEDS), env=env).returncode == 0
    r = run_cli("ask", "What range was claimed?", env=env)
    assert r.returncode == 0
    r = run_cli("chat", input="How long did the cruise missiles fly?\n", env=env)
    assert r.returncode == 0, r.stderr
    r = run_cli("ask", f"Who reported the test-firings? {secret}",
                env={**env, "OPENAI_API_KEY": secret, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
                     "BOT_LLM_RETRIES": "0", "BOT_LLM_TIMEOUT": "5"})
    assert r.returncode == 0, r.stderr

    entries = json.loads(run_cli("log", "--json", "-n", "0", env=env).stdout)
    assert [(e["kind"], e["question"].split("?")[0]) for e in entries] == [
        ("ask", "Who reported the test-firings"), ("chat", "How long did the cruise missiles fly"),
        ("ask", "What range was claimed")]
    assert entries[2]["short_answer_candidate"] == "1,800 kilometers" and entries[2]["citations"]
    assert len(json.loads(run_cli("log", "--json", env=env).stdout)) == 3  # default: the last 3
    assert len(json.loads(run_cli("log", "--json", "-n", "1", env=env).stdout)) == 1

    text = run_cli("log", "-n", "0", env=env).stdout
    assert "> What range was claimed?" in text and "1,800 kilometers" in text and "[1]" in text
    assert "bot ask" in text and "chat " in text
    raw = (tmp_path / "store" / "chat.sqlite3").read_bytes()
    assert secret.encode() not in raw and secret not in text

    # A `bot ask` is not a chat session: chat --continue and --list leave it out.
    listed = run_cli("chat", "--list", env=env).stdout
    assert "ask-" not in listed and len(listed.strip().splitlines()) == 1

    # BOT_LOG=off keeps nothing; an empty store says how to start.
    run_cli("ask", "What range was claimed?", env={**env, "BOT_LOG": "off"})
    assert len(json.loads(run_cli("log", "--json", "-n", "0", env=env).stdout)) == 3
    r = run_cli("log", env={"BOT_STORE_DIR": str(tmp_path / "empty")})
    assert r.returncode == 0 and "Nothing asked yet" in r.stdout


def test_log_reads_a_chat_database_from_before_it(tmp_path):
    """A chat.sqlite3 written before `bot log` existed (no session kind) still lists."""
    store = tmp_path / "store"
    store.mkdir()
    db = sqlite3.connect(store / "chat.sqlite3")
    db.executescript("""
        CREATE TABLE sessions (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
            collection TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
        CREATE TABLE turns (id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL, question TEXT
            NOT NULL, standalone_question TEXT, answer_json TEXT NOT NULL, created_at TEXT NOT NULL);
        INSERT INTO sessions VALUES (1, 'old', 'default', '2026-01-01T00:00:00+00:00',
            '2026-01-01T00:00:00+00:00');""")
    answer = {"question": "Old question?", "answer": "Old answer.", "short_answer": None,
              "refused": False, "mode": "extractive", "citations": [], "statements": []}
    db.execute("INSERT INTO turns VALUES (1, 1, 'Old question?', NULL, ?, "
               "'2026-01-01T00:00:01+00:00')", (json.dumps(answer),))
    db.commit()
    db.close()
    entries = json.loads(run_cli("log", "--json", env={"BOT_STORE_DIR": str(store)}).stdout)
    assert [(e["kind"], e["session"], e["question"]) for e in entries] == [("chat", "old", "Old question?")]
    assert "old" in run_cli("chat", "--list", env={"BOT_STORE_DIR": str(store)}).stdout


# -- ingest progress (item 4) ----------------------------------------------------------------

def test_ingest_progress_counts_chunks_within_one_file(tmp_path):
    """One large file: the bar must move while that one file is embedded (it counts chunks),
    show a rate, and end; piped, nothing but the summary."""
    big = tmp_path / "big.txt"
    big.write_text("\n\n".join(
        f"Paragraph {n}: the council met on day {n} and agreed item {n * 7} of the plan. "
        f"Members noted that section {n} needs a second reading before the vote on {n + 1}."
        for n in range(240)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(BOT_ENV_PREFIXES)}
    env.update(PYTHONPATH=str(ROOT), TERM="xterm", BOT_STORE_DIR=str(tmp_path / "store"),
               BOT_CHUNK_SIZE="200", BOT_CHUNK_OVERLAP="0")
    child = pexpect.spawn(sys.executable, ["-m", "bot", "ingest", str(big)], env=env,
                          dimensions=(24, 160), encoding="utf-8", timeout=300, use_poll=True)
    child.expect(pexpect.EOF)
    child.close()
    text = ANSI.sub(" ", child.before)
    assert child.exitstatus == 0, text[-500:]
    seen = [(int(d), int(t)) for d, t in re.findall(r"(\d+)/(\d+)\s+chunks", text)]
    total = int(re.search(r"\((\d+) chunks\)", text).group(1))
    assert total >= 200 and all(t == total for _, t in seen)
    moving = {d for d, _ in seen if 0 < d < total}
    assert len(moving) >= 2, seen  # it moved inside the one file
    assert re.search(r"\d+\.\d\s+chunks/s", text)

    r = run_cli("ingest", str(big), env={"BOT_STORE_DIR": str(tmp_path / "piped"),
                                         "BOT_CHUNK_SIZE": "200", "BOT_CHUNK_OVERLAP": "0"})
    assert r.returncode == 0 and r.stderr == "" and "\x1b" not in r.stdout
    assert r.stdout.strip() == f"1 added, 0 updated, 0 unchanged, 0 failed ({total} chunks)"

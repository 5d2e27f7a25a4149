"""`bot chat`, driven as a user drives it: the real CLI in a pseudo-terminal (pexpect), and
through a pipe. The store is seeded once with the sample article; each test works on a copy."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pexpect
import pytest

from conftest import BOT_ENV_PREFIXES, ROOT, SEEDS, run_cli

PROMPT = "bot>"  # prompt_toolkit draws the trailing space with a cursor move
TIMEOUT = 120  # generous: the machine is shared, and each process loads the embedding model


@pytest.fixture(scope="module")
def seeded_dir(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("chat")
    shutil.copytree(SEEDS, work / "seeds")
    r = run_cli("--store-dir", "store", "ingest", "seeds", cwd=work)
    assert r.returncode == 0, r.stderr
    return work


@pytest.fixture
def work(seeded_dir, tmp_path) -> Path:
    """A private copy of the seeded store, so sessions saved by one test stay out of another."""
    copy = tmp_path / "work"
    shutil.copytree(seeded_dir, copy)
    return copy


def chat(work: Path, *args: str, input: str, env: dict | None = None):
    return run_cli("--store-dir", "store", "chat", *args, cwd=work, input=input, env=env)


def spawn(work: Path, *args: str, env: dict | None = None) -> pexpect.spawn:
    full = {k: v for k, v in os.environ.items() if not k.startswith(BOT_ENV_PREFIXES)}
    full.update(PYTHONPATH=str(ROOT), PROMPT_TOOLKIT_NO_CPR="1", NO_COLOR="1", TERM="xterm")
    full.update(env or {})
    child = pexpect.spawn(sys.executable, ["-m", "bot", "--store-dir", "store", "chat", *args],
                          cwd=str(work), env=full, dimensions=(40, 120), encoding="utf-8",
                          timeout=TIMEOUT, use_poll=True)
    child.expect_exact(PROMPT)
    return child


def words(text: str) -> str:
    """A pattern for `text` that allows the terminal's line wraps and style codes between words."""
    return r"(?:\s|\x1b\[[0-9;?]*[A-Za-z])+".join(re.escape(w) for w in text.split())


# -- in a terminal ------------------------------------------------------------------------

def test_terminal_session_ask_follow_up_sources_open_history_quit(work):
    child = spawn(work)
    child.sendline("What range was claimed?")
    child.expect_exact("1,800 kilometers")
    child.expect_exact("…")  # the footnote's quote is shortened in the terminal ...
    child.expect_exact(PROMPT)

    child.sendline("/sources")
    child.expect_exact("Sources")
    child.expect(words('hard-to-intercept weapons."'))  # ... and /sources shows it whole
    child.expect_exact(PROMPT)

    child.sendline("How long did they fly?")
    child.expect(words("(searched: How long did they fly? —"))
    child.expect("missiles")
    child.expect(words("more than two and a half hours"))
    child.expect_exact(PROMPT)

    # The sentence holding the duration asked for leads: [1].
    child.sendline("/open 1")
    child.expect_exact("chars 695–832 of 3112")
    child.expect(words("The two cruise missiles flew for more than two and a half hours"))
    child.expect(r"\(\d+ chars after\)")  # a window around the span, not the whole article
    child.expect_exact(PROMPT)

    child.sendline("/history")
    child.expect(words("1. What range was claimed?"))
    child.expect(words("2. How long did they fly?"))
    child.expect_exact(PROMPT)

    child.sendline("/quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_a_pasted_key_stays_out_of_the_input_history_file(work):
    key = "sk-" + "Q7x" * 8
    child = spawn(work)
    child.sendline(f"Why is {key} rejected?")
    child.expect_exact(PROMPT)
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    child.close()
    saved = (work / "store" / "chat_input_history").read_text()
    assert "Why is (hidden) rejected?" in saved and "/quit" in saved
    assert key not in saved
    assert key.encode() not in (work / "store" / "chat.sqlite3").read_bytes()  # the saved turn


def test_ctrl_c_cancels_the_answer_and_keeps_the_session(work):
    # The debug delay holds each answer for 8 s inside the worker, long enough to press Ctrl-C
    # while it is in progress whatever the machine's load (see bot/ui/chat.py DEBUG_DELAY_ENV).
    child = spawn(work, env={"BOT_DEBUG_ANSWER_DELAY": "8"})
    child.sendline("What range was claimed?")
    child.expect_exact("searching")
    child.sendintr()
    child.expect_exact("cancelled")
    child.expect_exact(PROMPT)

    child.sendline("/history")  # the cancelled question left no turn behind
    child.expect_exact("No questions yet in this session.")
    child.expect_exact(PROMPT)

    child.sendintr()  # Ctrl-C at the prompt only clears the line
    child.sendline("/help")
    child.expect(words("/open N"))
    child.expect_exact(PROMPT)

    child.sendline("How long did the cruise missiles fly?")  # the session still answers
    child.expect(words("more than two and a half hours"))
    child.expect_exact(PROMPT)

    child.sendeof()  # Ctrl-D leaves
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


# -- through a pipe -----------------------------------------------------------------------

def test_piped_questions_print_plain_text_and_exit_at_end_of_input(work):
    # Colour is asked for every way a terminal program can be; a pipe still gets plain text.
    r = chat(work, input="What range was claimed?\n\nHow long did they fly?\n/sources\n",
             env={"NO_COLOR": "", "FORCE_COLOR": "1", "TERM": "xterm-256color"})
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout
    assert "> What range was claimed?\nNorth Korea test-fired two cruise missiles that hit a target 1,800 kilometers" in r.stdout
    assert "(searched: How long did they fly? — " in r.stdout
    assert "> How long did they fly?\n" in r.stdout and "more than two and a half hours" in r.stdout
    assert r.stdout.count("Sources\n[1] ") == 3


def test_piped_failure_sets_the_exit_code(work):
    r = chat(work, input="/open 1\n/ingest missing.txt\nWhat range was claimed?\n")
    assert r.returncode == 1
    assert "error: no answer yet; ask a question first" in r.stdout
    assert "error: missing.txt" in r.stdout
    assert "1,800 kilometers" in r.stdout  # the rest still ran


def test_ingest_command_adds_articles(work):
    (work / "more").mkdir()
    (work / "more" / "note.md").write_text("# Harbour news\n\nThe ferry to the island now leaves "
                                           "at seven in the morning, the harbour office said.\n")
    r = chat(work, input="/ingest more\nWhen does the ferry leave?\n")
    assert r.returncode == 0, r.stdout
    assert "1 added, 0 updated, 0 unchanged, 0 failed" in r.stdout
    assert "more/note.md" in r.stdout


def test_brief_command_prints_a_cited_briefing(work):
    r = chat(work, input="/brief missiles\n")
    assert r.returncode == 0, r.stderr
    assert "[1]" in r.stdout and "\x1b[" not in r.stdout
    assert "North Korea test-fired two cruise missiles" in r.stdout


# -- sessions -----------------------------------------------------------------------------

def test_continue_resumes_the_last_session_with_its_context(work):
    assert chat(work, input="What range was claimed?\n").returncode == 0
    r = chat(work, "--continue", input="How long did they fly?\n/history\n")
    assert r.returncode == 0, r.stderr
    assert "(searched: How long did they fly? — " in r.stdout
    assert "missiles" in r.stdout.split("(searched:")[1].splitlines()[0]
    assert "more than two and a half hours" in r.stdout
    assert "1. What range was claimed?" in r.stdout

    listed = run_cli("--store-dir", "store", "chat", "--list", cwd=work)
    assert listed.returncode == 0
    lines = listed.stdout.strip().splitlines()
    assert len(lines) == 1 and "2 turns" in lines[0] and "What range was claimed?" in lines[0]


def test_named_sessions_keep_their_own_conversations(work):
    assert chat(work, "--session", "missiles", input="What range was claimed?\n").returncode == 0
    assert chat(work, "--session", "other", input="Who reported the test-firings?\n").returncode == 0
    r = chat(work, "--session", "missiles", input="/history\n")
    assert "1. What range was claimed?" in r.stdout and "test-firings" not in r.stdout
    listed = run_cli("--store-dir", "store", "chat", "--list", cwd=work).stdout
    assert listed.index("missiles") < listed.index("other")  # most recently used first


def test_reset_starts_a_new_session(work):
    r = chat(work, input="What range was claimed?\n/reset\n/history\nHow long did they fly?\n")
    assert "New conversation: session " in r.stdout
    assert "No questions yet in this session." in r.stdout
    assert "(searched:" not in r.stdout  # the follow-up has no conversation to lean on now
    listed = run_cli("--store-dir", "store", "chat", "--list", cwd=work).stdout.splitlines()
    assert len(listed) == 2 and all(" 1 turn " in line for line in listed)


def test_a_session_without_questions_is_not_saved(work):
    assert chat(work, input="/help\n").returncode == 0
    r = run_cli("--store-dir", "store", "chat", "--list", cwd=work)
    assert r.stdout.strip() == "No chat sessions yet. Start one with: bot chat"


def test_continue_and_session_together_is_an_error(work):
    r = chat(work, "--continue", "--session", "x", input="")
    assert r.returncode == 1
    assert r.stderr.strip() == "error: use --continue or --session NAME, not both"


def test_list_with_no_sessions(work):
    r = run_cli("--store-dir", "store", "chat", "--list", cwd=work)
    assert r.stdout.strip() == "No chat sessions yet. Start one with: bot chat"


# -- a transcript, in the style of simonw's llm: scripted input, the whole output asserted --

TRANSCRIPT = """\
> What range was claimed?
North Korea test-fired two cruise missiles that hit a target 1,800 kilometers away on Tuesday, the official Korean Central News Agency reported Friday, raising concern over the nuclear-armed nation's technological advances in the development of hard-to-intercept weapons. [1]

Sources
[1] North Korea test-fired two cruise missiles that hit a target 1,800 kilometers…
    seeds/000_f7985a03bbf30fbd.txt · chars 0–271

> How long did they fly?
(searched: How long did they fly? — North Korea missiles)
The two cruise missiles flew for more than two and a half hours before hitting a target island in the Sea of Japan, the news agency said. [1]
Thursday's firing was the sixth time North Korea has launched projectiles this year. [2]

Sources
[1] North Korea test-fired two cruise missiles that hit a target 1,800 kilometers…
    seeds/000_f7985a03bbf30fbd.txt · chars 695–832
[2] North Korea test-fired two cruise missiles that hit a target 1,800 kilometers…
    seeds/000_f7985a03bbf30fbd.txt · chars 2474–2558

> /history
1. What range was claimed?
   → North Korea test-fired two cruise missiles that hit a target 1,800 kilometers away on Tuesday, the …
2. How long did they fly?
   (searched: How long did they fly? — North Korea missiles)
   → The two cruise missiles flew for more than two and a half hours before hitting a target island in …

> /open 2
North Korea test-fired two cruise missiles that hit a target 1,800 kilometers…
{article_id} · seeds/000_f7985a03bbf30fbd.txt · chars 2474–2558 of 3112

… (1827 chars before)
If North Korea attempted to load a nuclear warhead on a cruise missile, Japan would face a serious security challenge. Tokyo is keeping a close eye on how Pyongyang utilizes its updated missile technology.

The latest missile tests come as North Korea's economy has suffered from a sharp drop in trade with China due to the coronavirus pandemic, which prompted Pyongyang to seal its borders in early 2020.

By developing weapons and destabilizing security in the region, North Korea may be trying to nudge the administration of U.S. President Joe Biden to resume bilateral negotiations over denuclearization and sanctions relief, observers said.

»Thursday's firing was the sixth time North Korea has launched projectiles this year.« The South Korean military said the two projectiles fired by Pyongyang were presumed to be short-range ballistic missiles.

Also Friday, the Rodong Sinmun, the mouthpiece of North Korea's ruling Workers' Party of Korea, ran photos of the four missiles launched this week.

KCNA, meanwhile, reported Kim inspected a munitions factory producing a major weapon system, without saying when the inspection took place.

Related coverage:

North Korea fires 2 suspected short-range ballistic missiles: S. Korea

North Korea appears to have fired cruise missiles

> /quit
"""


def test_transcript(work):
    script = ("What range was claimed?\nHow long did they fly?\n/history\n/open 2\n/quit\n"
              "This line is never read\n")
    r = chat(work, input=script)
    assert r.returncode == 0, r.stderr
    sources = json.loads(run_cli("--store-dir", "store", "sources", "--json", cwd=work).stdout)
    assert r.stdout == TRANSCRIPT.format(article_id=sources[0]["article_id"])

"""Concurrency: many questions at once through one `Bot` (threads) and through several
processes against one store, while another process ingests. Every answer must be well-formed
(tests/answers.py), nothing may raise, and the store must pass the crash checker's strict
inspection afterwards. Throughput is measured in bench/concurrency.py, not asserted here."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import bot.core
from bot import Bot
from bot.answer.llm import GATED_NOTICE
from tests import corpus
from tests import crashcheck as cc
from tests.answers import problems
from tests.askmany import ask_all
from tests.models import quoting_model


@pytest.fixture
def stories(tmp_path):
    docs = corpus.docs(16)
    corpus.write(tmp_path / "stories", docs)
    return docs


@pytest.fixture
def stocked(settings, stories, tmp_path):
    bot = Bot(settings)
    assert len(bot.ingest([tmp_path / "stories"]).added) == len(stories)
    return settings


def start_ingest(folder, store_dir) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bot", "ingest", str(folder)],
                            env=cc.ingest_env(store_dir), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def new_stories(folder, first: int, n: int):
    return corpus.write(folder, [corpus.story(first + k) for k in range(n)])


def test_a_chunk_another_process_deleted_is_skipped_not_a_crash(stocked, stories):
    """Embedded Chroma keeps a per-process copy of the vector index: after `bot forget` in
    another process, this process's queries still return the deleted chunk's id, with no
    record. That used to raise TypeError on every nearby question until a restart."""
    bot = Bot(stocked)
    question = corpus.story_questions(stories)[0]
    first = bot.ask(question)
    gone = first.citations[0].article_id
    r = subprocess.run([sys.executable, "-m", "bot", "forget", gone],
                       env=cc.ingest_env(stocked.store_dir), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    again = bot.ask(question)
    assert problems(again, bot.article) == []
    assert gone not in {c.article_id for c in again.citations}


def test_a_call_on_a_client_another_thread_reopened_goes_to_the_new_client(stocked, stories):
    """When another process writes, the first thread to notice reopens the embedded client and
    closes the old one; a thread of the same process already holding the old client's
    collection must not fail (bench/concurrency.py saw 6 of 50 threads fail with Chroma's
    "'RustBindingsAPI' object has no attribute 'bindings'")."""
    from bot.index.embeddings import LOCAL_MODEL
    from bot.index.store import Store
    from bot.index.sync import reopen_client

    store = Store(stocked, LOCAL_MODEL)
    stale_get = store._articles.get  # what a thread has in hand when another thread reopens
    stale_client_get = store.client.get_collection
    reopen_client(stocked, store._epoch)
    got = store._call(stale_get, where={"state": "ready"}, include=[])
    assert len(got["ids"]) == len(stories)
    assert store._call(stale_client_get, store._layout["chunks"], embedding_function=None)
    assert store.generation()


def test_fifty_questions_at_once_through_one_bot_while_another_process_ingests(
        stocked, stories, openai_server, tmp_path, monkeypatch):
    built = []

    class CountingRetriever(bot.core.Retriever):
        def __init__(self, *args, **kwargs):
            built.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(bot.core, "Retriever", CountingRetriever)
    openai_server.chat_handler = quoting_model
    llm_bot = Bot(stocked.with_(openai_base_url=openai_server.base_url, llm_retries=0))
    questions = (corpus.story_questions(stories) * 4)[:50]

    ingest = start_ingest(new_stories(tmp_path / "more", 100, 8), stocked.store_dir)
    results = ask_all(llm_bot, questions, threads=50)  # a fresh Bot: its lazy parts race too
    out, err = ingest.communicate(timeout=300)

    assert ingest.returncode == 0 and "8 added" in out, err
    errors = [(r["question"], r.get("error") or r["problems"], r.get("traceback")) for r in results
              if r.get("error") or r["problems"]]
    assert errors == []
    # Through the model, or (a question the offline answerer refuses) answered offline at once.
    assert all(r["answer"]["mode"] == "llm" and not r["answer"]["refused"]
               or (r["answer"]["notice"] or "").startswith(GATED_NOTICE) for r in results)
    assert sum(r["answer"]["mode"] == "llm" for r in results) >= 40
    assert len(built) == 1  # one retriever (and one BM25 index) for 50 threads
    state = cc.inspect_fresh(stocked.store_dir)["found"]
    assert state["problems"] == [] and state["pending"] == [] and len(state["ready"]) == 24


def test_several_processes_ask_one_store_while_another_process_ingests(
        stocked, stories, openai_server, tmp_path):
    openai_server.chat_handler = quoting_model
    questions = corpus.story_questions(stories)
    procs = [subprocess.Popen([sys.executable, "-m", "tests.askmany", str(stocked.store_dir),
                               "--threads", "4", "--llm", openai_server.base_url],
                              env=cc.ingest_env(stocked.store_dir), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    for i, p in enumerate(procs):
        p.stdin.write(json.dumps(questions[i::3]) + "\n")
        p.stdin.flush()
    for p in procs:
        assert json.loads(p.stdout.readline()) == {"ready": True}, p.stderr.read()
    ingest = start_ingest(new_stories(tmp_path / "more", 200, 8), stocked.store_dir)
    results = []
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results += [json.loads(line) for line in out.splitlines()][:-1]
    out, err = ingest.communicate(timeout=300)

    assert ingest.returncode == 0 and "8 added" in out, err
    assert len(results) == len(questions)
    assert [(r["question"], r.get("error") or r["problems"]) for r in results
            if r.get("error") or r["problems"]] == []
    state = cc.inspect_fresh(stocked.store_dir)["found"]
    assert state["problems"] == [] and len(state["ready"]) == 24

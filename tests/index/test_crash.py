"""Crash safety: a real `bot ingest` SIGKILLed among its writes leaves only whole articles, and
running the same ingest again finishes the job. (bench/crash_ingest.py does 24 kills on one
long-lived store; this does 5, each on a copy of a store at version "a" being moved to "b".)"""

from __future__ import annotations

import random
import shutil

from bot import Bot
from bot.answer.citations import check
from tests import corpus
from tests import crashcheck as cc

CHUNK, OVERLAP = 300, 60  # several chunks per article, so a kill can fall between them
ENV = {"BOT_CHUNK_SIZE": str(CHUNK), "BOT_CHUNK_OVERLAP": str(OVERLAP)}
WRITES_PER_ARTICLE = 7  # database changes seen per article written (measured: ~8)


def test_killed_ingest_leaves_whole_articles_and_a_rerun_finishes(tmp_path):
    folder = tmp_path / "corpus"
    corpus.write(folder, corpus.docs(10, "a"))
    base = tmp_path / "base"
    first = cc.run_and_kill(folder, base, None, env=ENV)
    assert first.returncode == 0 and "10 added" in first.stdout, first.stderr
    before = cc.expected(folder)

    stories = corpus.docs(10, "b")
    corpus.write(folder, stories)
    want = cc.expected(folder)
    changed = sum(1 for k, h in want.items() if before.get(k) != h)
    rng = random.Random(9)
    kills = 0
    for i in range(5):
        store = tmp_path / f"store{i}"
        shutil.copytree(base, store)
        # Stratified: kill i lands in the i-th fifth of the writes the update makes.
        span = WRITES_PER_ARTICLE * changed
        at = 1 + int(span * (i + rng.random()) / 5)
        run = cc.run_and_kill(folder, store, at, extra_delay=rng.uniform(0, 0.02), env=ENV)
        kills += run.killed
        settings = cc.settings_for(store, CHUNK, OVERLAP)

        found = cc.inspect(store, repair=False, probe_vectors=10, chunk_size=CHUNK,
                           chunk_overlap=OVERLAP)
        assert found.problems == [], (i, found)
        # An update cut short never hides an article: each one is still there, old or new.
        assert set(before) <= set(found.ready), (i, found)
        bot = Bot(settings)  # the read path, before any repair: only verified spans
        for q in corpus.story_questions(stories[:3]):
            answer = bot.ask(q)
            assert all(check(c, bot.article(c.article_id)) for c in answer.citations)
            assert answer.refused or answer.citations

        repaired = cc.inspect(store, repair=True, probe_vectors=10, chunk_size=CHUNK,
                              chunk_overlap=OVERLAP)
        assert repaired.problems == [] and repaired.pending == [], (i, repaired)

        report = bot.ingest([folder])
        assert not report.failed
        final = cc.inspect(store, repair=False, chunk_size=CHUNK, chunk_overlap=OVERLAP)
        assert final.problems == [] and final.ready == want, i
    assert kills == 5  # every run was still writing when it was killed

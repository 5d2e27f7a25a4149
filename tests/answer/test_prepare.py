"""Idle-time sentence vectors (`Bot.prepare_sentences`, bot/answer/extractive/prepare.py): once
a long-lived bot has embedded the store's sentences, a question embeds none of them and gets
exactly the answer it would have got; a question that comes meanwhile waits only for the
step in progress; new articles are picked up after a question; stop ends the work."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from bot import Bot
from bot.index.embeddings import LocalEmbedder
from tests import corpus
from tests.conftest import SEEDS


def comparable(answer) -> dict:
    d = answer.to_dict()
    d.pop("timings_ms")
    return d


def record_embeds(embedder, monkeypatch, log: list) -> None:
    """Every `embed` call of this (real) embedder is logged with its texts."""
    real = embedder.embed

    def embed(texts):
        log.append(("embed", list(texts)))
        return real(texts)

    monkeypatch.setattr(embedder, "embed", embed)


def wait_for(condition, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.fixture
def store(tmp_path, settings):
    """The sample plus a few articles (SQuAD ones when the eval folder is there) and questions
    on them; the articles' count."""
    evald = corpus.eval_dir()
    items = corpus.squad_docs(evald, 4) if evald else corpus.docs(6)
    questions = corpus.squad_questions(evald, items, 5) if evald else corpus.story_questions(items)[:5]
    questions += ["What range was claimed?", "Who reported the test-firings?"]
    report = Bot(settings).ingest([SEEDS, corpus.write(tmp_path / "articles", items)])
    assert report.added and not report.failed
    return settings, questions, len(report.added)


def two_bots(settings) -> tuple[Bot, Bot]:
    """A bot that prepares and one that does not, each with its own embedder (another batch
    size: the same vectors, another instance with its own output cache)."""
    prepared, plain = Bot(settings.with_(embed_batch=4)), Bot(settings)
    assert prepared.embedder is not plain.embedder
    return prepared, plain


def test_prepared_sentences_spare_every_question_its_sentence_embeddings(store, monkeypatch):
    settings, questions, n_articles = store
    prepared, plain = two_bots(settings)
    cached_before = len(prepared.embedder.cache)
    progress = prepared.prepare_sentences(threading.Event(), follow=False)
    assert progress.passes == 1 and progress.articles == n_articles and not progress.full
    assert progress.sentences > 5 * n_articles
    # Vectors only: the embedder's output cache (token states) is left to the questions.
    assert len(prepared.embedder.cache) == cached_before
    # What was kept is bit for bit what the model gives for those sentences.
    kept = prepared._extractive(settings.collection)._vectors
    assert len(kept) == progress.sentences
    texts = list(kept)[:40]
    assert np.array_equal(np.stack([kept[t] for t in texts]),
                          LocalEmbedder(cache_bytes=0).embed(texts))

    log: list = []
    record_embeds(prepared.embedder, monkeypatch, log)
    for q in questions:
        log.clear()
        assert comparable(prepared.ask(q)) == comparable(plain.ask(q)), q
        # Only the question itself (retrieval, then the answerer) went to `embed`.
        assert log and all(texts == [q] for _, texts in log), (q, log)
    # Nothing left to do: a second pass embeds nothing.
    again = prepared.prepare_sentences(threading.Event(), follow=False)
    assert again.passes == 1 and again.sentences == 0


def test_a_question_waits_only_for_the_step_in_progress_and_new_articles_are_picked_up(
        store, monkeypatch, tmp_path):
    settings, questions, n_articles = store
    prepared, plain = two_bots(settings)
    embedder = prepared.embedder
    log: list = []
    record_embeds(embedder, monkeypatch, log)
    in_step, release = threading.Event(), threading.Event()
    real_vectors = embedder.vectors

    def vectors(texts):  # the first step is held until the question is waiting for it
        log.append(("step", list(texts)))
        if not in_step.is_set():
            in_step.set()
            assert release.wait(60)
        out = real_vectors(texts)
        log.append(("step done", list(texts)))
        return out

    monkeypatch.setattr(embedder, "vectors", vectors)
    stop = threading.Event()
    from bot.answer.extractive.prepare import Prepared

    progress = Prepared()
    worker = threading.Thread(target=prepared.prepare_sentences, args=(stop,),
                              kwargs={"progress": progress}, daemon=True)
    worker.start()
    try:
        assert in_step.wait(120), "no step began"
        got: dict = {}
        asker = threading.Thread(target=lambda: got.update(a=prepared.ask(questions[0])), daemon=True)
        asker.start()
        wait_for(lambda: prepared._turns.questions == 1, "the question did not come")
        release.set()
        asker.join(120)
        assert not asker.is_alive() and comparable(got["a"]) == comparable(plain.ask(questions[0]))
        # The question began only after the step in progress ended, and no step ran during it.
        events = [(kind, texts == [questions[0]]) for kind, texts in log]
        first_question = events.index(("embed", True))
        assert events.index(("step done", False)) < first_question
        assert all(kind == "embed" for kind, _ in events[first_question:first_question + 2])
        wait_for(lambda: progress.passes == 1, "the work did not go on after the question")
        assert progress.articles == n_articles

        # Another writer adds an article; the next question wakes the work, which embeds it.
        news = tmp_path / "news"
        news.mkdir()
        (news / "port.md").write_text("# Port reopens\n\nThe harbour of Eastport reopened to "
                                      "container ships on Monday after dredging works. Trade "
                                      "groups welcomed the news.\n")
        assert Bot(settings).ingest([news]).added
        prepared.ask(questions[1])
        wait_for(lambda: progress.passes == 2, "the new article was not picked up")
        assert progress.articles == n_articles + 1
        log.clear()
        q = "When did the harbour of Eastport reopen?"
        answer = prepared.ask(q)
        assert answer.citations and "Eastport" in answer.citations[0].quote
        assert all(texts == [q] for kind, texts in log if kind == "embed")
    finally:
        stop.set()
        release.set()
        worker.join(30)
    assert not worker.is_alive(), "the work did not stop"


def test_the_background_work_stops_cleanly_and_a_remote_embedder_gets_none(settings):
    bot = Bot(settings)
    assert bot.ingest([SEEDS]).added
    progress, stop = bot.prepare_in_background()
    wait_for(lambda: progress.passes == 1, "the sample's sentences were not prepared")
    stop()  # waiting for questions that never come: ends at once
    assert not any(t.name == "bot-prepare" for t in threading.enumerate())
    remote = Bot(settings.with_(embeddings="openai", openai_base_url="http://127.0.0.1:9/v1"))
    assert remote.prepare_sentences(threading.Event(), follow=False).sentences == 0

"""Idle-time work for the long-lived processes (the warm bot, chat, Slack): the vectors of the
stored articles' sentences, computed before any question needs them.

Embedding the sentences of the retrieved passages that the answerer has not seen yet is ~90%
of a warm offline `ask` (BENCHMARKS.md, "Warm ask"). Doing it at ingest would double ingest's
model work; a process that waits for questions has the time. So, while no question is being
answered (`Turns`: a question waits at most for one small batch), the articles are read
newest first, split into sentences exactly as the answerer splits them (its own `_spans`, on
the text as it reads it: instruction sentences blanked, bot/answer/guard.py), and the
sentences it keeps no vector for are embedded in small batches of similar length, straight
from the model (`LocalEmbedder.vectors`: the output cache is left to the questions). The
vectors go into the answerer's own bounded store, so a question finds them and its answer is
exactly what it would have been. It stops at that bound, and after the store's sentences
are all done it waits: a question answered after another process wrote to the store (new or
changed articles) starts another pass.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

from bot.answer.extractive.answerer import ExtractiveAnswerer
from bot.answer.guard import blank_instructions
from bot.index.store import Store
from bot.util.turns import Turns

# A step embeds up to BATCH sentences of up to STEP_CHARS characters in all (at least one): a
# question waits at most for one (~0.1 s on 2 idle cores), and long sentences go a few at a
# time (onnxruntime's memory grows with batch x length squared, and keeps its peak).
BATCH = 16
STEP_CHARS = 2_000


@dataclass
class Prepared:
    """What the idle-time work has done so far (the sums of its passes)."""

    articles: int = 0  # articles whose sentences all have vectors
    sentences: int = 0  # sentences embedded
    passes: int = 0  # passes over the store completed
    full: bool = False  # stopped at the answerer's bound
    seconds: float = 0.0  # spent in steps (not waiting for questions)


def prepare(store: Store, answerer: ExtractiveAnswerer, turns: Turns, stop: threading.Event,
            follow: bool = True, progress: Prepared | None = None) -> Prepared:
    """Embed the store's sentences ahead of questions until they are all done (then, with
    `follow`, wait for writes to the store and do the new ones) or the bound is reached, or
    `stop` is set. `progress` is updated as it goes; returned."""
    progress = progress or Prepared()
    done: dict[str, str] = {}  # article id -> the version whose sentences are done
    seen_generation: str | None = None
    answered = turns.answered
    while not stop.is_set() and not progress.full:
        with turns.step(stop) as go:
            generation = store.generation() if go else seen_generation
        if generation != seen_generation:
            if not _one_pass(store, answerer, turns, stop, done, progress):
                break  # stopped midway: the pass is not complete
            seen_generation = generation
            progress.passes += 1
        if not follow:
            break
        answered = turns.wait_for_question(answered, stop)  # a question may have seen a write
    return progress


def in_background(work: Callable[..., Prepared]) -> tuple[Prepared, Callable[[], None]]:
    """`work(stop, progress=...)` (`Bot.prepare_sentences`) in a daemon thread: its progress
    and the function that stops it, waiting for its step in progress. A failure just ends it:
    the work only saves time, and the next question reports a broken store itself."""
    stop, progress = threading.Event(), Prepared()

    def run() -> None:
        try:
            work(stop, progress=progress)
        except Exception:
            pass

    thread = threading.Thread(target=run, name="bot-prepare", daemon=True)
    thread.start()

    def end() -> None:
        stop.set()
        thread.join(timeout=30)

    return progress, end


def _one_pass(store: Store, answerer: ExtractiveAnswerer, turns: Turns, stop: threading.Event,
              done: dict[str, str], progress: Prepared) -> bool:
    """Every article not done yet, newest first. False when stopped before the end."""
    with turns.step(stop) as go:
        if not go:
            return False
        catalog = sorted(store.catalog(), key=lambda an: (an[0].ingested_at or "",
                                                          an[0].published or ""), reverse=True)
    for article, _ in catalog:
        version = f"{article.content_hash}:{article.ingested_at}"
        if done.get(article.article_id) == version:
            continue
        if not _one_article(store, answerer, turns, stop, article.article_id, progress):
            return False
        done[article.article_id] = version
        progress.articles += 1
        if progress.full:
            return True
    return True


def _one_article(store: Store, answerer: ExtractiveAnswerer, turns: Turns, stop: threading.Event,
                 article_id: str, progress: Prepared) -> bool:
    with turns.step(stop) as go:
        if not go:
            return False
        t = time.perf_counter()
        article = store.article(article_id)
        texts = answerer.without_vectors(answerer.sentence_texts(
            article_id, blank_instructions(article.text))) if article else []
        progress.seconds += time.perf_counter() - t
    for step in _steps(texts):
        with turns.step(stop) as go:
            if not go:
                return False
            t = time.perf_counter()
            batch = answerer.without_vectors(step)  # a question may have done some meanwhile
            vectors = answerer.embedder.vectors(batch)  # type: ignore[attr-defined]  (local only)
            progress.full = not answerer.keep_vectors(batch, vectors)
            progress.sentences += len(batch)
            progress.seconds += time.perf_counter() - t
        if progress.full:
            return True
    return True


def _steps(texts: list[str]) -> list[list[str]]:
    """`texts` shortest first (batches of similar length pad little), cut into steps."""
    steps: list[list[str]] = []
    chars = 0
    for text in sorted(texts, key=len):
        if not steps or len(steps[-1]) == BATCH or chars + len(text) > STEP_CHARS:
            steps.append([])
            chars = 0
        steps[-1].append(text)
        chars += len(text)
    return steps

"""The answer flow behind `Bot.ask` and `Bot.ask_stream`: retrieve, answer offline or ask the
model, verify every citation against the stored articles, and fall back to the offline answer
when the model fails or says nothing that can be verified.

The model is asked only when the offline answerer finds the passages answer the question
(small models never refuse on their own), and is given only the sentences its ranker scored
best (bot/answer/llm/gate.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

from bot.answer import citations
from bot.schema import Answer, AnswerDelta, AnswerDone, Draft, Passage

if TYPE_CHECKING:
    from bot.answer.extractive import ExtractiveAnswerer
    from bot.answer.llm import LLMAnswerer

Ranked = list[tuple[str, int, int]]  # (article id, start, end) of sentences, best first


@dataclass
class Offline:
    """The offline answerer for the collections asked (`names`; the first one's answerer)."""

    names: list[str]
    answerer: Callable[[], "ExtractiveAnswerer"]  # made on first use
    chunks: Callable[[str], int]  # a collection's chunk count (for the empty-store notice)

    def draft(self, question: str, passages: list[Passage]) -> Draft:
        if passages:
            from bot.answer.guard import without_instructions

            return self.answerer().answer(question, without_instructions(passages))
        empty = all(self.chunks(n) == 0 for n in self.names)
        return Draft(statements=[], refused=True, notice=(
            f"No articles in {', '.join(self.names)} yet; add some with: bot ingest PATH"
            if empty else None))

    def analysed(self, question: str, passages: list[Passage]) -> tuple[Draft, Ranked]:
        """The offline answer and the sentences its ranker scored, best first."""
        if not passages:
            return self.draft(question, []), []
        from bot.answer.guard import without_instructions

        answerer = self.answerer()
        analysis = answerer.analyse(question, without_instructions(passages))
        ranked = [(c.article_id, c.start, c.end) for c in analysis.ranked] if analysis else []
        return answerer.draft(question, analysis), ranked


def extractive(question: str, retrieve: Callable[[], list[Passage]], offline: Offline,
               t0: float) -> Answer:
    """The offline answer to `question`, verified, with its timings since `t0`."""
    passages = retrieve()
    t1 = time.perf_counter()
    draft = offline.draft(question, passages)
    t2 = time.perf_counter()
    answer = checked(question, passages, draft)
    t3 = time.perf_counter()
    answer.timings_ms = {"retrieve": (t1 - t0) * 1000, "answer": (t2 - t1) * 1000,
                         "verify": (t3 - t2) * 1000, "total": (t3 - t0) * 1000}
    return answer


def with_model(question: str, llm: "LLMAnswerer", retrieve: Callable[[], list[Passage]],
               offline: Offline, rank_offline: bool) -> Iterator[AnswerDelta | AnswerDone]:
    """The model's answer as it is written, then verified. `rank_offline`: whether the offline
    answerer gates and picks the evidence (its ranker and decisions are fitted to the local
    embedding model's scores: with another embedder the model decides alone)."""
    from bot.answer.llm import GATED_NOTICE, LLMUnavailable, Result, evidence, gated

    t0 = time.perf_counter()
    passages = retrieve()
    draft, ranked = offline.analysed(question, passages) if rank_offline else (None, [])
    if passages and draft and gated(draft):
        answer = verified(question, passages, draft, t0)
        answer.notice = " ".join(filter(None, [GATED_NOTICE, answer.notice]))
        yield AnswerDone(answer)
        return
    shown = evidence(passages, ranked, draft, llm.settings.llm_sentences)
    result: Result | None = None
    try:
        for event in llm.stream(question, lambda q: shown):
            if isinstance(event, Result):
                result = event
            else:
                yield AnswerDelta(event.text)
    except LLMUnavailable as e:
        yield AnswerDone(fallback(question, passages, offline, draft, e.reason, t0))
        return
    assert result is not None
    if not result.passages:
        model_draft = offline.draft(question, [])  # the empty-store notice
        model_draft.mode = "llm"
    else:
        model_draft = result.draft
    t1 = time.perf_counter()
    answer = checked(question, result.passages, model_draft)
    if answer.refused and not model_draft.refused:
        # The model answered, but nothing it said could be verified (or the guard dropped
        # it all: an attack must not turn into a false refusal): show what can be.
        reason = "none of the model's statements could be verified against the sources"
        answer = fallback(question, passages, offline, draft, reason, t0)
        answer.notice = " ".join(filter(None, [answer.notice, model_draft.notice]))
        yield AnswerDone(answer)
        return
    t2 = time.perf_counter()
    answer.timings_ms = {**result.timings_ms, "verify": (t2 - t1) * 1000,
                         "total": (t2 - t0) * 1000}
    yield AnswerDone(answer)


def checked(question: str, passages: list[Passage], draft: Draft) -> Answer:
    """`draft`'s citations verified against the articles of `passages` (bot/answer/citations.py)."""
    by_id = {p.article.article_id: p.article for p in passages}
    return citations.verify(question, draft, by_id.get)


def verified(question: str, passages: list[Passage], draft: Draft, t0: float) -> Answer:
    answer = checked(question, passages, draft)
    answer.timings_ms = {"total": (time.perf_counter() - t0) * 1000}
    return answer


def fallback(question: str, passages: list[Passage], offline: Offline, draft: Draft | None,
             reason: str, t0: float) -> Answer:
    """The offline answer (`draft` if made already), with a notice saying why the model's is
    not shown."""
    t1 = time.perf_counter()
    draft = draft or offline.draft(question, passages)
    answer = verified(question, passages, draft, t0)
    answer.notice = " ".join(filter(None, [
        f"Extractive answer shown instead of the model's: {reason}.", answer.notice]))
    answer.timings_ms = {"llm": (t1 - t0) * 1000, **answer.timings_ms}
    return answer

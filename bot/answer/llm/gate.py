"""What the model is asked about: nothing when the offline answer says the sources do not answer
(`gated`), else only the sentences the offline answer cites (`evidence`)."""

from __future__ import annotations

from bot.answer import sentence_ids
from bot.schema import Draft, Passage

# What the model sees: the sentences the offline answer cites (the ranker's best, the runner-up
# when the ranker rates it close, the short answer's sentence), not whole chunks; the ranker's
# best EVIDENCE_SENTENCES when it cites none (see BENCHMARKS.md, "Real models").
EVIDENCE_SENTENCES = 3
# The refusal gate: under this calibrated confidence of the offline answer the model is not
# asked either. 0: only the offline answerer's own refusals; bench/llm_gate.py measures higher
# thresholds on fold A, and BENCHMARKS.md ("Real models") says why none is used yet.
GATE_CONFIDENCE = 0.0
GATED_NOTICE = "Answered offline: the sources do not answer this well enough to ask the model."


def gated(offline: Draft) -> bool:
    """Whether the model is not asked: the offline answerer refuses, says the sources do not
    give the kind of thing asked for, or is unsure of its best sentence. A small model answers
    whatever it is asked, so this decision is not left to it."""
    unsure = offline.confidence is not None and offline.confidence < GATE_CONFIDENCE
    return offline.refused or bool(offline.not_stated) or unsure


def evidence(passages: list[Passage], ranked: list[tuple[str, int, int]],
             offline: Draft | None = None, least: int = 1) -> list[Passage]:
    """The sentences the model is given, each a passage of its own: those the `offline` answer
    cites, in its order, then the ranker's next best up to `least` in all (BOT_LLM_SENTENCES);
    the ranker's best EVIDENCE_SENTENCES when it cites none (`ranked`: article id, start, end;
    best first); the passages as they are when the ranker had nothing to say.

    The ranker picks, the model reads: on held-out articles the ranker's first sentence holds
    the answer far more often than the sentence a small model picks from several (BENCHMARKS.md,
    "Real models", third pass)."""
    if not ranked:
        return passages
    cited = _cited(ranked, offline)
    rest = [r for r in ranked if r not in cited]
    return sentence_ids.evidence(passages, cited + rest,
                                 max(len(cited) or EVIDENCE_SENTENCES, least))


def _cited(ranked: list[tuple[str, int, int]], offline: Draft | None) -> list[tuple[str, int, int]]:
    """The ranked sentences the offline answer cites, in its order."""
    by_start = {(article_id, start): (article_id, start, end) for article_id, start, end in ranked}
    quotes = [q for s in offline.statements for q in s.quotes] if offline else []
    found = [by_start.get((q.article_id, q.near)) for q in quotes]
    return list(dict.fromkeys(r for r in found if r))

"""What the model is asked about: nothing when the offline answer says the sources do not answer
(`gated`), else only the offline ranker's best sentences (`evidence`)."""

from __future__ import annotations

from bot.answer import sentence_ids
from bot.schema import Draft, Passage

# What the model sees: the offline ranker's best sentences of the retrieved chunks (BOT_TOP_K),
# not whole chunks (see BENCHMARKS.md, "Real models").
EVIDENCE_SENTENCES = 6
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


def evidence(passages: list[Passage], ranked: list[tuple[str, int, int]]) -> list[Passage]:
    """The sentences the model is given: the offline ranker's best (`ranked`: article id,
    start, end; best first), each a passage of its own; the passages as they are when the
    ranker had nothing to say."""
    return sentence_ids.evidence(passages, ranked, EVIDENCE_SENTENCES) if ranked else passages

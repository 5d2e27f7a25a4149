"""The question: which word asks it, the kind of answer wanted, its content terms, its verb."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from bot.answer.extractive.shapes import question_types, tokens
from bot.util.text import terms

# Words that say what KIND of answer is wanted, not what it is about ("what range": a distance).
TYPE_CUES = {"rang", "distanc", "far", "long", "mani", "much", "old", "year", "date", "day",
             "month", "centuri", "time", "number", "percentag", "amount", "citi", "countri",
             "place", "person", "durat", "fast", "speed", "quick", "veloc"}
# News attributes claims: a question's "claimed" is an article's "said" or "reported".
SAY_WORDS = {"claim", "say", "said", "report", "announc", "state", "stat", "tell", "told",
             "assert", "accord", "declar", "insist", "confirm"}
AUX_WORDS = {"is", "was", "are", "were", "did", "does", "do", "has", "have", "had", "can", "could",
             "would", "will", "should", "may", "might", "must", "the", "a", "an", "of", "kind",
             "type"}
NEGATION = re.compile(r"\b(?:not|never|no longer|n't)\b|n't\b", re.I)
_WH = [("how many", "how_many"), ("how much", "how_much"), ("how long", "how_long"),
       ("how far", "how_num"), ("how old", "how_num"), ("how big", "how_num"),
       ("how large", "how_num"), ("how high", "how_num"), ("what year", "when"),
       ("which year", "when"), ("what percentage", "how_much"), ("who", "who"),
       ("whom", "who"), ("whose", "whose"), ("when", "when"), ("where", "where"), ("why", "why"),
       ("which", "which"), ("what", "what"), ("how", "how")]


def lexical_terms(text: str) -> set[str]:
    return set(lexical(text))


@lru_cache(maxsize=8192)
def lexical(text: str) -> frozenset[str]:
    # Cached: a passage is looked at once for each of its sentences.
    return frozenset("<say>" if t in SAY_WORDS else t for t in terms(text))


@lru_cache(maxsize=8192)
def lexical_seq(text: str) -> tuple[str, ...]:
    return tuple("<say>" if t in SAY_WORDS else t for t in terms(text))


@dataclass(frozen=True)
class QuestionInfo:
    text: str
    wh: str  # who, when, where, what, which, how_many, ..., other
    types: tuple[str, ...]  # answer kinds wanted, best first
    terms: frozenset[str]  # stemmed content terms, minus words that only name the answer kind
    term_list: tuple[str, ...]  # the same in question order (for bigrams)
    words: frozenset[str]  # lower-cased words as written
    head: str | None  # stemmed noun after what/which ("what team" -> "team")
    predicate: str | None = None  # stemmed verb of "who/what <verb> ..." ("who reported")


_PREDICATE = re.compile(r"\s*(?:who|what|which\s+\w+)\s+(\w+)", re.I)
_NEGATORS = {"not", "never", "n't", "no"}
DENIAL_PENALTY = 10.0  # on the second look's score: below every sentence that does not deny


def _predicate(q: str) -> str | None:
    """The verb of a question that asks who or what did something ("Who reported ...?")."""
    m = _PREDICATE.match(q)
    if not m or m.group(1).lower() in AUX_WORDS or NEGATION.search(q):
        return None
    stems = terms(m.group(1))
    return ("<say>" if stems[0] in SAY_WORDS else stems[0]) if stems else None


def denies_predicate(q: QuestionInfo, text: str) -> bool:
    """The sentence negates the question's own verb: "Kim ... was not reported to have
    witnessed the test-firings" says nothing about who reported them. (Narrow on purpose:
    demoting every sentence with a negation near a question word lost on SQuAD; this fires
    on none of fold A's 3,103 squad11 questions.)"""
    if q.predicate is None:
        return False
    words = [t.lower() for _, _, t in tokens(text)]
    for i, w in enumerate(words):
        if _NEGATORS & set(words[max(0, i - 2):i]) and \
                any(("<say>" if x in SAY_WORDS else x) == q.predicate for x in terms(w)):
            return True
    return False


@lru_cache(maxsize=256)
def analyse(question: str) -> QuestionInfo:
    q = question.lower()
    wh = "other"
    best = len(q) + 1
    for cue, name in _WH:  # the earliest question word wins; longer cues listed first
        m = re.search(rf"\b{cue}\b", q)
        if m and m.start() < best:
            wh, best = name, m.start()
    types = tuple(question_types(question))
    all_terms = ["<say>" if t in SAY_WORDS else t for t in terms(question)]
    drop = TYPE_CUES if types else set()
    term_list = tuple(t for t in all_terms if t not in drop)
    head = None
    m = re.search(r"\b(?:what|which)\s+(\w+)", q)
    if m and m.group(1) not in AUX_WORDS:
        stems = terms(m.group(1))
        head = stems[0] if stems else None
    words = frozenset(w.lower() for w in re.findall(r"\w+", question))
    return QuestionInfo(question, wh, types, frozenset(term_list), term_list, words, head,
                        _predicate(question))

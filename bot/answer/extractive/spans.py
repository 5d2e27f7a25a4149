"""Short answers: candidate phrases in a sentence with their features, the shape a question
asks for, and a phrase widened to its whole measure and its qualifier."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from bot.answer.extractive.question import SAY_WORDS, QuestionInfo
from bot.answer.extractive.shapes import FUNCTION_WORDS, NUMBER, PATTERNS, tokens
from bot.util.text import terms

MAX_SPAN_TOKENS = 10
_NO_START = FUNCTION_WORDS - {"the", "a", "an", "(", "$", "more", "about", "over", "under",
                             "some", "many", "most", "several", "no", "not", "between", '"'}
_NO_END = FUNCTION_WORDS - {")", '"'}


@dataclass
class Span:
    start: int  # offsets inside the sentence
    end: int
    text: str
    features: dict[str, float]
    score: float = 0.0


def _bucket(n: int) -> str:
    return str(n) if n <= 4 else "5-6" if n <= 6 else "7+"


def _around(tok: str | None) -> str:
    if tok is None:
        return "<edge>"
    low = tok.lower()
    if low in FUNCTION_WORDS:
        return low
    if tok[0].isdigit():
        return "<num>"
    return "<Cap>" if tok[0].isupper() else "<w>"


def span_candidates(q: QuestionInfo, sentence: str,
                    logits: tuple[np.ndarray, np.ndarray] | None = None) -> list[Span]:
    """Phrases of up to MAX_SPAN_TOKENS tokens that could be an answer, with their features;
    `logits` are the reader's start/end scores per token, when the local model is in use."""
    toks = tokens(sentence)
    low = [t.lower() for _, _, t in toks]
    stems = [terms(t) for _, _, t in toks]
    is_q = [bool(s) and all(("<say>" if x in SAY_WORDS else x) in q.terms or x in q.words for x in s)
            or low[i] in q.words for i, s in enumerate(stems)]
    anchors = [i for i, s in enumerate(stems) if any(("<say>" if x in SAY_WORDS else x) in q.terms
                                                       for x in s)]
    head_pos = [i for i, s in enumerate(stems) if q.head and q.head in s]
    out: list[Span] = []
    n = len(toks)
    for i in range(n):
        if low[i] in _NO_START or not (toks[i][2][0].isalnum() or toks[i][2][0] in "$£€("):
            continue
        for j in range(i + 1, min(n, i + MAX_SPAN_TOKENS) + 1):
            last = toks[j - 1][2]
            if low[j - 1] in _NO_END or not (last[-1].isalnum() or last[-1] in "%)"):
                continue
            content = [k for k in range(i, j) if low[k] not in FUNCTION_WORDS]
            if not content or all(is_q[k] for k in content):
                continue
            text = sentence[toks[i][0]:toks[j - 1][1]]
            if text.count("(") != text.count(")") or text.count('"') % 2:
                continue
            f = _span_features(q, toks, low, is_q, anchors, head_pos, i, j, content, text)
            if logits is not None:
                f["rd_start"] = float(logits[0][i])
                f["rd_end"] = float(logits[1][j - 1])
                f[f"wh={q.wh}|rd"] = f["rd_start"] + f["rd_end"]
            out.append(Span(toks[i][0], toks[j - 1][1], text, f))
    return out


def _span_features(q: QuestionInfo, toks: list, low: list[str], is_q: list[bool],
                   anchors: list[int], head_pos: list[int], i: int, j: int,
                   content: list[int], text: str) -> dict[str, float]:
    wh = q.wh
    n_tok = j - i
    caps = [toks[k][2][0].isupper() for k in content]
    digits = [toks[k][2][0].isdigit() or toks[k][2][:1] in "$£€" for k in content]
    qfrac = sum(is_q[k] for k in content) / len(content)
    prev = _around(toks[i - 1][2]) if i > 0 else "<edge>"
    nxt = _around(toks[j][2]) if j < len(toks) else "<edge>"
    left = [i - a for a in anchors if a < i]
    right = [a - (j - 1) for a in anchors if a >= j]
    inside = [a for a in anchors if i <= a < j]
    last_cap = toks[j - 1][2][0].isupper()
    f: dict[str, float] = {
        f"len={_bucket(n_tok)}": 1.0,
        f"wh={wh}|len={_bucket(n_tok)}": 1.0,
        "qfrac": qfrac,
        f"wh={wh}|qfrac": qfrac,
        "anchor_inside": float(bool(inside)),
        "cap_frac": sum(caps) / len(caps),
        f"wh={wh}|cap_frac": sum(caps) / len(caps),
        "all_cap": float(all(caps)),
        f"wh={wh}|all_cap": float(all(caps)),
        "digit": float(any(digits)),
        f"wh={wh}|digit": float(any(digits)),
        "starts_digit": float(digits[0]),
        f"wh={wh}|starts_digit": float(digits[0]),
        f"prev={prev}": 1.0,
        f"next={nxt}": 1.0,
        f"wh={wh}|prev={prev}": 1.0,
        f"wh={wh}|next={nxt}": 1.0,
        f"first={low[i] if low[i] in FUNCTION_WORDS else '<x>'}": 1.0,
        "comma": float("," in text),
        f"wh={wh}|comma": float("," in text),
        "and": float(" and " in text),
        "segment": float(prev in {",", "(", "<edge>", ":", ";", "-", "–", "—"} and
                         nxt in {",", ")", "<edge>", ".", ";", ":", "-", "–", "—"}),
        "near_left": 1.0 / min(left) if left else 0.0,
        "near_right": 1.0 / min(right) if right else 0.0,
        "adj_left": float(bool(left) and min(left) == 1),
        "adj_right": float(bool(right) and min(right) == 1),
        f"wh={wh}|adj_left": float(bool(left) and min(left) == 1),
        f"wh={wh}|adj_right": float(bool(right) and min(right) == 1),
        "between": float(bool(left) and bool(right)),
        "no_anchor_near": float(not ((left and min(left) <= 4) or (right and min(right) <= 4))),
        # A phrase that cuts a run of capitalised words ("Workers" of "Workers' Party") or
        # stops before a possessive is a fragment, not a whole name.
        "cuts_cap_left": float(i > 0 and toks[i - 1][2][0].isupper() and toks[i][2][0].isupper()),
        "cuts_cap_right": float(j < len(toks) and toks[j][2][0].isupper() and last_cap),
        "before_possessive": float(j < len(toks) and toks[j][2] in {"'", "’", "'s", "’s"}),
        "head_inside": float(any(i <= h < j for h in head_pos)),
        "head_before": float(any(0 < i - h <= 3 for h in head_pos)),
        "head_after": float(any(0 < h - (j - 1) <= 2 for h in head_pos)),
    }
    if q.types:
        for t in q.types[:2]:
            if PATTERNS[t].fullmatch(text):
                f[f"pat={t}"] = 1.0
                f[f"wh={wh}|pat={t}"] = 1.0
    for t in ("date", "number"):
        if PATTERNS[t].fullmatch(text):
            f[f"is={t}"] = 1.0
            f[f"wh={wh}|is={t}"] = 1.0
    return f


STRICT_TYPES = ("distance", "duration")  # a question that names these wants that shape
Sentence = TypeVar("Sentence")  # what each span came from (the answerer's Candidate)


def typed(q: QuestionInfo, spans: list[tuple[Span, Sentence]]) -> list[tuple[Span, Sentence]]:
    """A question asking how far or how long gets a distance or a duration when the top
    sentences hold one: these shapes are rare in the training questions, so the span ranker
    alone under-rates them."""
    if not q.types or q.types[0] not in STRICT_TYPES:
        return spans
    shaped = [sc for sc in spans if PATTERNS[q.types[0]].fullmatch(sc[0].text)]
    return shaped or spans


_LEADING_QUALIFIER = re.compile(
    r"\b(?:more than|less than|fewer than|about|around|nearly|almost|over|under|up to|"
    r"approximately|at least|at most|roughly|just over|just under)\s+$", re.I)
_QUANTITY = re.compile(rf"(?:{NUMBER})\b", re.I)


def with_qualifier(sentence: str, span: Span) -> Span:
    """A quantity keeps the word that qualifies it: "more than two and a half hours", not
    "two and a half hours" (the bare number says something the source does not)."""
    if not _QUANTITY.match(span.text):
        return span
    m = _LEADING_QUALIFIER.search(sentence, 0, span.start)
    if not m:
        return span
    return Span(m.start(), span.end, sentence[m.start():span.end], span.features, span.score)


def whole_measure(sentence: str, span: Span) -> Span:
    """A phrase cut out of a measure is widened to the whole of it: "half hours" of "more than
    two and a half hours" is a fragment that says something the source does not."""
    for kind in ("distance", "duration", "speed"):
        for m in PATTERNS[kind].finditer(sentence):
            if m.start() < span.start and span.end <= m.end():
                return Span(m.start(), m.end(), m.group(), span.features, span.score)
    return span

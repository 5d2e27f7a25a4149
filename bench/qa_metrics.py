"""SQuAD scoring, as the official evaluation script defines it.

normalise: lower-case, drop punctuation, drop the articles a/an/the, collapse whitespace.
EM and F1 are the best over the gold answers; a missing prediction scores 0.
"""

from __future__ import annotations

import re
import string
from collections import Counter

_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(s: str) -> str:
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def exact_match(prediction: str | None, golds: list[str]) -> float:
    if not prediction or not golds:
        return 0.0
    p = normalize_answer(prediction)
    return float(any(p == normalize_answer(g) for g in golds))


def _f1(prediction: str, gold: str) -> float:
    p, g = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = Counter(p) & Counter(g)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def f1_score(prediction: str | None, golds: list[str]) -> float:
    if not prediction or not golds:
        return 0.0
    return max(_f1(prediction, g) for g in golds)


def contains_answer(text: str, golds: list[str]) -> bool:
    """Whether `text` holds one of the gold answers as a whole-token run, after normalising."""
    hay = f" {normalize_answer(text)} "
    return any(n and f" {n} " in hay for n in (normalize_answer(g) for g in golds))


def short_answer_right(short: str | None, golds: list[str]) -> bool:
    """A shown short answer is right when it holds a gold answer and is mostly that answer
    (F1 >= 0.5): a whole sentence would hold the answer too, and is not a short answer."""
    return bool(short) and contains_answer(short, golds) and f1_score(short, golds) >= 0.5


def reliability(probs: list[float], right: list[bool], edges: tuple[float, ...] = (
        0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0)) -> list[tuple[str, int, float, float]]:
    """(bin, count, mean confidence, share right) per confidence bin: a calibrated model's
    two last columns agree."""
    out = []
    for lo, hi in zip(edges, edges[1:]):
        idx = [i for i, p in enumerate(probs) if lo <= p < hi or (hi == 1.0 and p == 1.0)]
        if idx:
            out.append((f"{lo:.1f}-{hi:.1f}", len(idx), sum(probs[i] for i in idx) / len(idx),
                        sum(right[i] for i in idx) / len(idx)))
    return out


def brier(probs: list[float], right: list[bool]) -> float:
    return sum((p - float(r)) ** 2 for p, r in zip(probs, right)) / max(len(probs), 1)

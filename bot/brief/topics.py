"""Topics: articles grouped by meaning, each topic titled and given its share of the points.

For a briefing, articles are grouped by topic (average-linkage clustering of their stored
document vectors), each topic's rates are the mean of its articles' (so what several
articles say counts most), and the point budget is shared across topics, so distinct topics
are covered.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence

import numpy as np

from bot.brief.sentences import Objective, Sentence, chronological
from bot.schema import Article, Quote
from bot.util.text import terms

CLUSTER_MIN_SIM = 0.60  # average cosine of document vectors to share a topic (MiniLM)

# Reporting verbs are in every news topic; they never name one.
_SAYING = frozenset(terms("said says say told tells reported reports announced claimed added "
                          "according stated"))

# A draft point before verification: (section kind, section heading, text, quotes, extra fields).
DraftPoint = tuple[str, str, str, list[Quote], dict]

HEADLINE = "Headline"


def cluster(vectors: np.ndarray, min_sim: float = CLUSTER_MIN_SIM) -> list[list[int]]:
    """Average-linkage agglomerative clustering on cosine similarity (unit vectors), merging
    while two groups are on average at least `min_sim` alike. Groups come out largest first,
    then in input order, so the result is deterministic."""
    n = len(vectors)
    groups: list[list[int]] = [[i] for i in range(n)]
    if n < 2:
        return groups
    total = (vectors @ vectors.T).astype(np.float64)  # sum of pairwise similarities per pair
    sizes = np.ones(n)
    alive = np.ones(n, dtype=bool)
    while True:
        avg = total / np.outer(sizes, sizes)
        avg[~alive, :] = -np.inf
        avg[:, ~alive] = -np.inf
        np.fill_diagonal(avg, -np.inf)
        flat = int(np.argmax(avg))
        a, b = divmod(flat, n)
        if avg[a, b] < min_sim:
            break
        a, b = min(a, b), max(a, b)
        total[a, :] += total[b, :]
        total[:, a] += total[:, b]
        sizes[a] += sizes[b]
        alive[b] = False
        groups[a] += groups[b]
        groups[b] = []
    found = [sorted(g) for g in groups if g]
    return sorted(found, key=lambda g: (-len(g), g[0]))


@lru_cache(maxsize=1)
def _common_words() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS)


def _title_stem(word: str) -> str | None:
    """The stem of a word that can name a topic: not a function word ("had", "she"), not a
    reporting verb, not a number or a fragment ("'s")."""
    if word.lower().strip("'’") in _common_words() or sum(ch.isalpha() for ch in word) < 3:
        return None
    stems = terms(word)
    return stems[0] if len(stems) == 1 and stems[0] not in _SAYING else None


def group_title(sents: Sequence[Sentence], rates: dict[str, float], n: int = 3) -> str:
    """A topic's title: its heaviest terms as the articles spell them, a name of two words
    ("North Korea") kept together when the articles use it at least twice."""
    spelled: dict[tuple[str, ...], Counter] = {}
    for s in sents:
        words = [(w, _title_stem(w)) for w in re.findall(r"[\w'’-]+", s.text)]
        for i, (word, stem) in enumerate(words):
            if stem is None:
                continue
            spelled.setdefault((stem,), Counter())[word] += 1
            following, next_stem = words[i + 1] if i + 1 < len(words) else ("", None)
            if next_stem is not None:
                spelled.setdefault((stem, next_stem), Counter())[f"{word} {following}"] += 1
    def weight(key: tuple[str, ...]) -> float:
        return sum(rates.get(t, 0.0) for t in key)

    candidates = [k for k, c in spelled.items() if len(k) == 1 or sum(c.values()) >= 2]
    chosen: list[tuple[str, ...]] = []
    for key in sorted(candidates, key=lambda k: (-weight(k), k)):
        if any(set(key) & set(c) for c in chosen):
            continue
        chosen.append(key)
        if len(chosen) == n:
            break
    names = [max(spelled[k].items(), key=lambda kv: (kv[1], kv[0]))[0] for k in chosen]
    return ", ".join(w[:1].upper() + w[1:] for w in names) or "Other news"


@dataclass
class Topic:
    articles: list[Article]
    sentences: list[Sentence]
    objective: Objective
    points: list[Sentence] = field(default_factory=list)


def by_importance(groups: list[list[int]], articles: list[Article]) -> list[list[int]]:
    """Bigger topics first (more coverage), then the most recent."""
    def latest(g: list[int]) -> str:
        return max((articles[i].published or "" for i in g), default="")

    by_recency = sorted(groups, key=lambda g: (latest(g), [articles[i].article_id for i in g]),
                        reverse=True)
    return sorted(by_recency, key=lambda g: -len(g))


def point_quotas(sizes: list[int], budget: int) -> list[int]:
    """Points per topic: one each in order of size while the budget lasts, then the rest shared
    in proportion to size (at most three points per article)."""
    quotas = [0] * len(sizes)
    for i in range(min(budget, len(sizes))):
        quotas[i] = 1
    left = budget - sum(quotas)
    total = sum(sizes) or 1
    for i, size in enumerate(sizes):
        if left <= 0:
            break
        extra = min(left, round(budget * size / total) - quotas[i], 3 * size - quotas[i])
        if extra > 0:
            quotas[i] += extra
            left -= extra
    return quotas


def headline(topics: list[Topic]) -> list[DraftPoint]:
    """One point of each of the (up to) three biggest topics, as one paragraph: the one nearest
    its article's start (a lead reads as a headline). They are taken out of their topic's key
    points so nothing is said twice."""
    out: list[DraftPoint] = []
    for t in topics[:3]:
        if not t.points:
            continue
        best = min(t.points, key=lambda s: (s.index, -s.score))  # a lead reads as a headline
        t.points.remove(best)
        out.append(("headline", HEADLINE, best.text, [best.quote], {}))
    return out


def topic_sections(topics: list[Topic]) -> list[DraftPoint]:
    out: list[DraftPoint] = []
    for t in topics:
        if not t.points:
            continue
        heading = group_title(t.sentences, t.objective.rates)
        for s in sorted(t.points, key=chronological):
            out.append(("topic", heading, s.text, [s.quote], {}))
    return out

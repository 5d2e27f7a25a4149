"""The extractive summary model: which sentences say what a summary would.

Offline (the default) the method is extractive and deterministic. A summary is good when it
says, in few words, what a person's summary of the same news would say. So for every word
(stem) of the article we predict how often a human summary would use it, a Poisson rate from
where and how often the article uses it (news puts what matters first: the lead prior), how
rare it is in the collection (IDF) and whether it is a function word. Terms that many
sentences repeat, early, are the centre of the story: this is centrality with a lead prior.
The points chosen are the sentences that maximise the expected ROUGE-1 F-measure against
that predicted summary: 2 * E[matched words] / (words chosen + expected summary length).
A word already said counts only up to its predicted count, so a second sentence that repeats
the first gains nothing (redundancy removal, as in MMR), and a long sentence must carry more
to be worth its length. The small model's coefficients were fitted on one half of
../shared/eval/cnndm_realsumm.jsonl and are reported on the other (bench/eval_summary.py).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from typing import Callable, Iterable, Sequence

import numpy as np

from bot.index.chunking import sentences as sentence_spans
from bot.schema import Article, Quote
from bot.util.text import stemmer, stopwords, terms, tokens

# The term model: rate = exp(TERM_BIAS + sum(coef * feature)), features in TERM_FEATURES order
# (see term_features). Fitted with `python bench/eval_summary.py --fit` on the first half of
# ../shared/eval/cnndm_realsumm.jsonl; properties of the method, not of any item.
TERM_FEATURES = ("lead2", "lead5", "log_count", "first", "idf", "stopword", "in_lead", "in_lead2")
TERM_COEF = (-0.9587, 0.7080, 0.5207, 2.7819, 0.0280, -0.0695, -0.5461, -0.3513)
TERM_BIAS = -3.5602
WINDOW = 12  # candidates: an article's first sentences (leads matter, and the search stays small)
MAX_COMBINATIONS = 3000  # above this, choose greedily instead of trying every combination
MIN_WORDS = 5  # shorter "sentences" are captions, bylines or debris ("Scroll down for video")
# A photo caption's paragraph ends with its credit: "(KNS/Kyodo)", "(AP Photo/Ahn Young-joon)",
# "(Getty Images)", "Photograph: Name/Agency". A caption says what a picture shows, often in the
# present tense of another day ("... test-fires ... on Jan. 27"): never a summary point.
_CREDIT = re.compile(r"[.!?][\"\u201d\u2019]?\s+"  # the credit follows the caption's last sentence
                     r"(?:\((?:[A-Z][\w.&'-]*(?:[ /][A-Z][\w.&'-]*){0,5})\)"
                     r"|(?:Photo|Photograph|Image|Picture)(?:\s+credit)?\s*:\s*[^\n.]{2,80})\s*$")
CAPTION_WORDS = 40  # a paragraph longer than this is prose that happens to end in a credit


@dataclass
class Sentence:
    article: Article
    index: int  # position among the article's candidate sentences (0 = lead)
    start: int
    end: int
    terms: frozenset[str]  # content stems (for near-duplicates and titles)
    tokens: Counter  # every stem, function words too (a summary uses them as well)
    score: float = 0.0
    date: str | None = None
    claimant: str | None = None
    topic: int = 0

    @property
    def text(self) -> str:
        return self.article.text[self.start:self.end]

    @property
    def words(self) -> int:
        return sum(self.tokens.values())

    @property
    def quote(self) -> Quote:
        return Quote(self.article.article_id, self.text, self.start)


def article_sentences(article: Article) -> list[Sentence]:
    """Candidate sentences: every sentence but the title line and debris (too short to say
    anything). `index` counts candidates, so a title or byline does not push the lead down."""
    out: list[Sentence] = []
    for start, end in sentence_spans(article.text):
        text = article.text[start:end]
        if start == 0 and _is_title(text, article.title) or _in_caption(article.text, start):
            continue
        toks = tokens(text)
        content = frozenset(terms(text))
        if len(toks) < MIN_WORDS or not content:
            continue
        out.append(Sentence(article, len(out), start, end, content, Counter(toks)))
    return out


def _in_caption(text: str, start: int) -> bool:
    """Whether the sentence at `start` lies in a paragraph that is a photo caption: short and
    ending with a picture credit."""
    begin = text.rfind("\n\n", 0, start)
    end = text.find("\n\n", start)
    paragraph = text[begin + 2 if begin >= 0 else 0: end if end >= 0 else len(text)].strip()
    return len(paragraph.split()) <= CAPTION_WORDS and bool(_CREDIT.search(paragraph))


def _is_title(line: str, title: str) -> bool:
    return bool(title) and line.strip().rstrip(".") == title.strip().rstrip(".")


def chronological(s: Sentence) -> tuple:
    return (s.date or s.article.published or "9999", s.article.published or "9999",
            s.article.article_id, s.start)


def term_features(sents: Sequence[Sentence], idf: Callable[[str], float]
                  ) -> tuple[list[str], np.ndarray]:
    """Each stem of one article and its features, in TERM_FEATURES order."""
    stopped = _function_words()
    info: dict[str, list[float]] = {}  # lead2, lead5, count, first, in_lead, in_lead2
    for s in sents:
        for t, c in s.tokens.items():
            row = info.setdefault(t, [0.0, 0.0, 0.0, float(s.index), 0.0, 0.0])
            row[0] += math.exp(-s.index / 2)
            row[1] += math.exp(-s.index / 5)
            row[2] += c
            row[4] = max(row[4], float(s.index == 0))
            row[5] = max(row[5], float(s.index <= 1))
    names = sorted(info)
    x = np.array([[r[0], r[1], math.log1p(r[2]), math.exp(-r[3] / 3),
                   0.0 if t in stopped else idf(t), float(t in stopped), r[4], r[5]]
                  for t, r in ((t, info[t]) for t in names)], dtype=np.float64)
    return names, x.reshape(len(names), len(TERM_FEATURES))


@lru_cache(maxsize=1)
def _function_words() -> frozenset[str]:
    stop = stopwords()
    return frozenset(stemmer().stemWords(sorted(stop))) | stop


def term_rates(groups: Iterable[Sequence[Sentence]], idf: Callable[[str], float]) -> dict[str, float]:
    """Expected count of each stem in a person's summary; for several articles, the mean."""
    groups = [g for g in groups if g]
    rates: dict[str, float] = {}
    for sents in groups:
        names, x = term_features(sents, idf)
        if not names:
            continue
        lam = np.exp(np.clip(x @ np.asarray(TERM_COEF) + TERM_BIAS, -20, 5))
        for t, v in zip(names, lam):
            rates[t] = rates.get(t, 0.0) + float(v) / len(groups)
    return rates


class Objective:
    """Expected ROUGE-1 F of a set of sentences against the predicted summary: matches are
    clipped at the predicted count, E[min(c, X)] for X ~ Poisson(rate)."""

    def __init__(self, rates: dict[str, float]):
        self.rates = rates
        self.length = sum(rates.values())
        self._cache: dict[tuple[str, int], float] = {}

    def matched(self, term: str, count: int) -> float:
        key = (term, count)
        if key not in self._cache:
            lam = self.rates.get(term, 0.0)
            p = math.exp(-lam)  # P(X = 0)
            cdf, total = p, 0.0
            for j in range(1, count + 1):
                total += 1.0 - cdf  # P(X >= j)
                p *= lam / j
                cdf += p
            self._cache[key] = total
        return self._cache[key]

    def value(self, chosen: Sequence[Sentence]) -> float:
        counts: Counter = Counter()
        for s in chosen:
            counts.update(s.tokens)
        words = sum(counts.values())
        if not words:
            return 0.0
        hits = sum(self.matched(t, c) for t, c in counts.items())
        return 2.0 * hits / (words + self.length)


def score_sentences(sents: Sequence[Sentence], objective: Objective) -> None:
    """A sentence's own worth: the value of a one-point summary made of it."""
    for s in sents:
        s.score = objective.value([s])


def select(sents: Sequence[Sentence], objective: Objective, k: int) -> list[Sentence]:
    """The k candidates (from each article's first WINDOW) with the best expected F; every
    combination when that is cheap, else greedily. Ties go to the earlier sentences, so the
    result is deterministic."""
    pool = [s for s in sents if s.index < WINDOW]
    k = min(k, len(pool))
    if k <= 0:
        return []
    if math.comb(len(pool), k) <= MAX_COMBINATIONS:
        best, best_value = (), -1.0
        for combo in combinations(pool, k):
            value = objective.value(combo)
            if value > best_value:
                best, best_value = combo, value
        return list(best)
    chosen: list[Sentence] = []
    while len(chosen) < k:
        options = [s for s in pool if s not in chosen and _adds(s, chosen)]
        if not options:
            break  # everything left repeats what is chosen
        chosen.append(max(options, key=lambda s: objective.value(chosen + [s])))
    return chosen


def _adds(s: Sentence, chosen: Sequence[Sentence]) -> bool:
    """Says something the chosen sentences do not."""
    return bool(s.terms - frozenset().union(*(c.terms for c in chosen)))

"""Summaries of one article and briefings over many, every point an exact, cited source span.

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

For a briefing, articles are grouped by topic (average-linkage clustering of their stored
document vectors), each topic's rates are the mean of its articles' (so what several
articles say counts most), and the point budget is shared across topics, so distinct topics
are covered.

Every point goes through `citations.verify_quotes`: a point whose quote is not found in its
article is not in the result. With an LLM configured, `bot/brief/briefing_llm.py` writes the points
(map-reduce with quotes) and the same verifier and data model are used.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import combinations
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import numpy as np

from bot.answer import citations
from bot.brief import claims, dates
from bot.index.chunking import sentences as sentence_spans
from bot.errors import BotError
from bot.util.text import stemmer, stopwords, terms, tokens
from bot.schema import Article, Briefing, Citation, Point, Quote, Section, Summary

if TYPE_CHECKING:
    from bot.index.store import Store

# The term model: rate = exp(TERM_BIAS + sum(coef * feature)), features in TERM_FEATURES order
# (see term_features). Fitted with `python bench/eval_summary.py --fit` on the first half of
# ../shared/eval/cnndm_realsumm.jsonl; properties of the method, not of any item.
TERM_FEATURES = ("lead2", "lead5", "log_count", "first", "idf", "stopword", "in_lead", "in_lead2")
TERM_COEF = (-0.9587, 0.7080, 0.5207, 2.7819, 0.0280, -0.0695, -0.5461, -0.3513)
TERM_BIAS = -3.5602
WINDOW = 12  # candidates: an article's first sentences (leads matter, and the search stays small)
MAX_COMBINATIONS = 3000  # above this, choose greedily instead of trying every combination

CLUSTER_MIN_SIM = 0.60  # average cosine of document vectors to share a topic (MiniLM)
TOPIC_MIN_SIM = 0.35  # a chunk this close to --topic makes its article relevant (MiniLM)
CLAIM_PAIR_MIN_SIM = 0.60  # two claimants' sentences this close are about the same subject
CLAIM_POOL = 24  # the strongest attributed sentences considered for claims to watch
NEAR_DUPLICATE = 0.5  # share of terms above which two points say the same thing
MAX_ARTICLES = 500  # a briefing over more is not read; the most recent are used
MIN_WORDS = 5  # shorter "sentences" are captions, bylines or debris ("Scroll down for video")
# Reporting verbs are in every news topic; they never name one.
_SAYING = frozenset(terms("said says say told tells reported reports announced claimed added "
                          "according stated"))

Progress = Callable[[int, int], None]


class BriefingError(BotError):
    """Nothing to summarise or brief; the message says what to change."""


# -- sentences -------------------------------------------------------------------------------


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
        if start == 0 and _is_title(text, article.title):
            continue
        toks = tokens(text)
        content = frozenset(terms(text))
        if len(toks) < MIN_WORDS or not content:
            continue
        out.append(Sentence(article, len(out), start, end, content, Counter(toks)))
    return out


def _is_title(line: str, title: str) -> bool:
    return bool(title) and line.strip().rstrip(".") == title.strip().rstrip(".")


# -- the term model and the objective ----------------------------------------------------------


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


# -- summaries -----------------------------------------------------------------------------


def summarize(article: Article, idf: Callable[[str], float], max_sentences: int = 3) -> Summary:
    """The article's most central sentences under a lead prior, in article order, cited."""
    if max_sentences < 1:
        raise BriefingError(f"--sentences {max_sentences}: ask for at least 1 sentence")
    sents = article_sentences(article)
    objective = Objective(term_rates([sents], idf))
    chosen = sorted(select(sents, objective, max_sentences), key=lambda s: s.start)
    points = cite([(s.text, [s.quote], {}) for s in chosen], {article.article_id: article}.get)
    notice = None if points else "This article has no sentence to summarise."
    return Summary(article.article_id, article.title, [p for p, _ in points], "extractive", notice)


# -- verification ----------------------------------------------------------------------------


def cite(drafts: list[tuple[str, list[Quote], dict]], lookup: Callable[[str], Article | None]
         ) -> list[tuple[Point, int]]:
    """Verify each draft point's quotes with the shared verifier; keep only points with at least
    one verified citation, numbered 1..n in order of first use. Returns (point, draft index)."""
    numbering: dict[tuple[str, int, int], Citation] = {}
    kept: list[tuple[str, list[Citation], dict, int]] = []
    for i, (text, quotes, extra) in enumerate(drafts):
        found = citations.verify_quotes(quotes, lookup, numbering)
        if found:
            kept.append((text, found, extra, i))
    used: dict[int, int] = {}
    for _, found, _, _ in kept:
        for c in found:
            used.setdefault(c.n, len(used) + 1)
    out = []
    for text, found, extra, i in kept:
        cites = [Citation(**{**c.__dict__, "n": used[c.n]}) for c in found]
        out.append((Point(text.strip(), cites, **extra), i))
    return out


# -- topics ----------------------------------------------------------------------------------


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


# -- briefings -------------------------------------------------------------------------------


@dataclass
class BriefingInput:
    """What to brief: the selected articles, their document vectors (same order), the IDF of
    the collection, and what the user asked for."""

    articles: list[Article]
    vectors: np.ndarray
    idf: Callable[[str], float]
    embed: Callable[[list[str]], np.ndarray]
    max_points: int = 12
    topic: str | None = None
    since: str | None = None
    until: str | None = None
    source: str | None = None
    notice: str | None = None
    generated_at: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc)
                              .isoformat(timespec="seconds"))


def brief(inp: BriefingInput, progress: Progress | None = None) -> Briefing:
    """Headline, key points by topic, timeline and claims to watch; every point cited.
    `max_points` bounds the headline and key points together; the timeline and the claims
    each show up to max(3, max_points // 2) more."""
    if inp.max_points < 1:
        raise BriefingError(f"--max-points {inp.max_points}: ask for at least 1 point")
    groups = _by_importance(cluster(inp.vectors), inp.articles)
    by_article: dict[str, list[Sentence]] = {}
    total = len(inp.articles)
    for done, a in enumerate(inp.articles, 1):
        by_article[a.article_id] = article_sentences(a)
        if progress:
            progress(done, total)
    topics: list[_Topic] = []
    for g in groups:
        arts = [inp.articles[i] for i in g]
        sents = [s for a in arts for s in by_article[a.article_id]]
        objective = Objective(term_rates([by_article[a.article_id] for a in arts], inp.idf))
        score_sentences(sents, objective)
        for s in sents:
            s.topic = len(topics)
            s.date = dates.event_date(s.text, s.article.published)
            s.claimant = claims.claimant(s.text)
        topics.append(_Topic(arts, sents, objective))
    quotas = _quotas([len(t.articles) for t in topics], inp.max_points)
    for t, k in zip(topics, quotas):
        t.points = select(t.sentences, t.objective, k) if k else []
    drafts = _headline(topics) + _topic_sections(topics) + _timeline(topics, inp.max_points) + \
        _claims(topics, inp.max_points, inp.embed)
    lookup = {a.article_id: a for a in inp.articles}.get
    return assemble(drafts, inp, "extractive", lookup)


def _by_importance(groups: list[list[int]], articles: list[Article]) -> list[list[int]]:
    """Bigger topics first (more coverage), then the most recent."""
    def latest(g: list[int]) -> str:
        return max((articles[i].published or "" for i in g), default="")

    by_recency = sorted(groups, key=lambda g: (latest(g), [articles[i].article_id for i in g]),
                        reverse=True)
    return sorted(by_recency, key=lambda g: -len(g))


@dataclass
class _Topic:
    articles: list[Article]
    sentences: list[Sentence]
    objective: Objective
    points: list[Sentence] = field(default_factory=list)


# A draft point before verification: (section kind, section heading, text, quotes, extra fields).
DraftPoint = tuple[str, str, str, list[Quote], dict]

HEADLINE = "Headline"
TIMELINE = "Timeline"
CLAIMS = "Claims to watch"


def _quotas(sizes: list[int], budget: int) -> list[int]:
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


def _headline(topics: list[_Topic]) -> list[DraftPoint]:
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


def _topic_sections(topics: list[_Topic]) -> list[DraftPoint]:
    out: list[DraftPoint] = []
    for t in topics:
        if not t.points:
            continue
        heading = group_title(t.sentences, t.objective.rates)
        for s in sorted(t.points, key=_chronological):
            out.append(("topic", heading, s.text, [s.quote], {}))
    return out


def _chronological(s: Sentence) -> tuple:
    return (s.date or s.article.published or "9999", s.article.published or "9999",
            s.article.article_id, s.start)


def _distinct(candidates: list[Sentence], limit: int, per_key: Callable[[Sentence], str] | None = None,
              max_per_key: int = 2) -> list[Sentence]:
    """Best first, skipping near-duplicates (and over-represented keys)."""
    chosen: list[Sentence] = []
    counts: dict[str, int] = {}
    if limit <= 0:
        return chosen
    for s in sorted(candidates, key=lambda s: (-s.score, s.article.article_id, s.start)):
        if any(_overlap(s, c) >= NEAR_DUPLICATE for c in chosen):
            continue
        if per_key:
            k = per_key(s)
            if counts.get(k, 0) >= max_per_key:
                continue
            counts[k] = counts.get(k, 0) + 1
        chosen.append(s)
        if len(chosen) >= limit:
            break
    return chosen


def _overlap(a: Sentence, b: Sentence) -> float:
    return len(a.terms & b.terms) / max(1, min(len(a.terms), len(b.terms)))


def _timeline(topics: list[_Topic], max_points: int) -> list[DraftPoint]:
    dated = [s for t in topics for s in t.sentences if s.date]
    chosen = _distinct(dated, max(3, max_points // 2), per_key=lambda s: s.date or "")
    return [("timeline", TIMELINE, s.text, [s.quote], {"date": s.date})
            for s in sorted(chosen, key=_chronological)]


def _claims(topics: list[_Topic], max_points: int, embed: Callable[[list[str]], np.ndarray]
            ) -> list[DraftPoint]:
    """Attributed sentences. Claims by different claimants on the same subject (same topic,
    close in meaning) come first, side by side; then the strongest other claims, at most two
    per claimant."""
    limit = max(3, max_points // 2)
    attributed = sorted((s for t in topics for s in t.sentences if s.claimant),
                        key=lambda s: (-s.score, s.article.article_id, s.start))[:CLAIM_POOL]
    if not attributed:
        return []
    vecs = embed([s.text for s in attributed])
    sims = vecs @ vecs.T
    pairs: list[tuple[float, int, int]] = []
    for i, a in enumerate(attributed):
        for j in range(i + 1, len(attributed)):
            b = attributed[j]
            if a.topic != b.topic or sims[i, j] < CLAIM_PAIR_MIN_SIM or _overlap(a, b) >= 0.9 \
                    or claims.same(a.claimant or "", b.claimant or ""):
                continue
            # Two sources disagreeing is worth more than one article quoting two sides.
            bonus = 0.05 if a.article.article_id != b.article.article_id else 0.0
            pairs.append((float(sims[i, j]) + bonus, i, j))
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    used: set[int] = set()
    groups: list[list[Sentence]] = []
    for _, i, j in pairs:
        if len(groups) >= max(1, limit // 3):
            break
        if i in used or j in used:
            continue
        used |= {i, j}
        groups.append(sorted([attributed[i], attributed[j]], key=_chronological))
    singles = _distinct([s for i, s in enumerate(attributed) if i not in used],
                        max(0, limit - 2 * len(groups)),
                        per_key=lambda s: claims.key(s.claimant or ""))
    out: list[DraftPoint] = []
    for gid, group in enumerate(groups, 1):
        out += [("claims", CLAIMS, s.text, [s.quote], {"claimant": s.claimant, "group": gid})
                for s in group]
    out += [("claims", CLAIMS, s.text, [s.quote], {"claimant": s.claimant})
            for s in sorted(singles, key=lambda s: (s.topic, *_chronological(s)))]
    return out


def assemble(drafts: list[DraftPoint], inp: BriefingInput, mode: str,
             lookup: Callable[[str], Article | None]) -> Briefing:
    """Verify every draft point and put the survivors into sections, in draft order."""
    kept = cite([(text, quotes, extra) for _, _, text, quotes, extra in drafts], lookup)
    sections: list[Section] = []
    for point, i in kept:
        kind, heading = drafts[i][0], drafts[i][1]
        if not sections or sections[-1].heading != heading or sections[-1].kind != kind:
            sections.append(Section(heading, [], kind))
        sections[-1].statements.append(point)
    _renumber_groups(sections)
    dropped = len(drafts) - len(kept)
    notice = inp.notice
    if dropped:
        notice = join_notice(notice, f"{dropped} point(s) dropped: their quotes were not found in the sources.")
    return Briefing(title=briefing_title(inp), generated_at=inp.generated_at,
                    articles=inp.articles, sections=sections, mode=mode, notice=notice)


def _renumber_groups(sections: list[Section]) -> None:
    """A claim whose partner was dropped stands alone; groups are numbered 1..n again."""
    for sec in sections:
        counts: dict[int, int] = {}
        for p in sec.statements:
            if p.group is not None:
                counts[p.group] = counts.get(p.group, 0) + 1
        renumber: dict[int, int] = {}
        for p in sec.statements:
            if p.group is None:
                continue
            if counts[p.group] < 2:
                p.group = None
            else:
                p.group = renumber.setdefault(p.group, len(renumber) + 1)


def briefing_title(inp: BriefingInput) -> str:
    parts = ["Briefing"]
    if inp.topic:
        parts.append(f"on {inp.topic}")
    known = sorted(a.published for a in inp.articles if a.published)
    if known:
        first, last = known[0], known[-1]
        parts.append(f"({first})" if first == last else f"({first} to {last})")
    return " ".join(parts)


def join_notice(a: str | None, b: str) -> str:
    return f"{a} {b}" if a else b


# -- selection -------------------------------------------------------------------------------


def select_articles(stores: Sequence["Store"], embed_query: Callable[[str], np.ndarray],
                    since: str | None = None, until: str | None = None, topic: str | None = None,
                    source: str | None = None, flags: bool = False) -> tuple[list[Article], str | None]:
    """The articles a briefing covers, from one or more collections: metadata filters (as for
    questions; `since` and `until` are ISO days, see bot/util/datefilter.py), then relevance to the
    topic. Raises BriefingError, naming the filters (as command-line flags when `flags`), when
    nothing is left."""
    from bot.util.datefilter import flag_names
    from bot.answer.retrieval import Filters
    from bot.index.store import day_number

    names = flag_names("since", "until", "topic", "source", flags=flags)
    filters = Filters(source=source, since=since, until=until)
    topic = topic.strip() if topic and topic.strip() else None
    topic_vector = embed_query(topic) if topic else None
    chosen: dict[str, Article] = {}
    for store in stores:
        found = {a.article_id: a for a in store.articles(with_text=True) if a.article_id not in chosen
                 and filters.admits({"source": a.source, "published_ts": day_number(a.published or "")})}
        if topic and found:
            keep = _relevant(store, topic_vector, topic, found)
            found = {i: a for i, a in found.items() if i in keep}
        chosen.update(found)
    if not chosen:
        raise BriefingError(_nothing(stores, names, (since, until, topic, source)))
    articles = sorted(chosen.values(), key=lambda a: (a.published or "", a.title, a.article_id))
    notice = None
    if len(articles) > MAX_ARTICLES:
        notice = (f"Briefing the {MAX_ARTICLES} most recent of {len(articles)} matching articles; "
                  f"narrow with {names[0]}, {names[2]} or {names[3]}.")
        articles = articles[-MAX_ARTICLES:]
    return articles, notice


def _relevant(store: "Store", topic_vector: np.ndarray, topic: str,
              candidates: dict[str, Article]) -> set[str]:
    """Articles with a chunk close to the topic in meaning, or holding all its terms."""
    found: set[str] = set()
    wanted = set(terms(topic))
    if wanted:
        found |= {i for i, a in candidates.items() if wanted <= set(terms(a.text))}
    k = min(store.count_chunks(), 2000)
    for chunk, sim in store.query(topic_vector, k):
        if sim < TOPIC_MIN_SIM:
            break
        if chunk.article_id in candidates:
            found.add(chunk.article_id)
    return found


def _nothing(stores: Sequence["Store"], names: tuple[str, ...],
             values: tuple[str | None, ...]) -> str:
    from bot.util.datefilter import given

    asked = [given(name, value) for name, value in zip(names, values) if value]
    if not asked:
        names = ", ".join(f"'{st.name}'" for st in stores)
        return (f"no articles in collection {names} to brief; "
                "add some with: bot ingest PATH")
    return (f"no articles match {' '.join(asked)}; widen the filters "
            "(see the articles with: bot sources)")

"""Summaries of one article and briefings over many, every point an exact, cited source span.

Offline (the default) the method is extractive and deterministic: sentences are scored by a
small summary model (bot/brief/sentences.py), articles grouped into topics that share the
point budget (bot/brief/topics.py), and the timeline and claims to watch drawn across topics
(bot/brief/timeline.py). This module picks the articles, runs those steps and verifies.

Every point goes through `citations.verify_quotes`: a point whose quote is not found in its
article is not in the result. With an LLM configured, `bot/brief/briefing_llm.py` writes the points
(map-reduce with quotes) and the same verifier and data model are used.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from bot.answer import citations
from bot.brief import claims, dates
from bot.brief.sentences import (Objective, Sentence, article_sentences, score_sentences, select,
                                 term_rates)
from bot.brief.timeline import claims_to_watch, timeline
from bot.brief.topics import (DraftPoint, Topic, by_importance, cluster, headline, point_quotas,
                              topic_sections)
from bot.errors import BotError
from bot.schema import Article, Briefing, Citation, Point, Quote, Section, Summary
from bot.util.text import terms

if TYPE_CHECKING:
    from bot.index.store import Store

TOPIC_MIN_SIM = 0.35  # a chunk this close to --topic makes its article relevant (MiniLM)
MAX_ARTICLES = 500  # a briefing over more is not read; the most recent are used

Progress = Callable[[int, int], None]


class BriefingError(BotError):
    """Nothing to summarise or brief; the message says what to change."""


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
    groups = by_importance(cluster(inp.vectors), inp.articles)
    by_article: dict[str, list[Sentence]] = {}
    total = len(inp.articles)
    for done, a in enumerate(inp.articles, 1):
        by_article[a.article_id] = article_sentences(a)
        if progress:
            progress(done, total)
    topics: list[Topic] = []
    for g in groups:
        arts = [inp.articles[i] for i in g]
        sents = [s for a in arts for s in by_article[a.article_id]]
        objective = Objective(term_rates([by_article[a.article_id] for a in arts], inp.idf))
        score_sentences(sents, objective)
        for s in sents:
            s.topic = len(topics)
            s.date = dates.event_date(s.text, s.article.published)
            s.claimant = claims.claimant(s.text)
        topics.append(Topic(arts, sents, objective))
    quotas = point_quotas([len(t.articles) for t in topics], inp.max_points)
    for t, k in zip(topics, quotas):
        t.points = select(t.sentences, t.objective, k) if k else []
    drafts = headline(topics) + topic_sections(topics) + timeline(topics, inp.max_points) + \
        claims_to_watch(topics, inp.max_points, inp.embed)
    lookup = {a.article_id: a for a in inp.articles}.get
    return assemble(drafts, inp, "extractive", lookup)


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
        notice = join_notice(notice, f"{dropped} point(s) dropped: no verified source backs them.")
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


def select_articles(stores: Sequence["Store"], embed_query: Callable[[str], np.ndarray],
                    since: str | None = None, until: str | None = None, topic: str | None = None,
                    source: str | None = None, flags: bool = False) -> tuple[list[Article], str | None]:
    """The articles a briefing covers, from one or more collections: metadata filters (as for
    questions; `since` and `until` are ISO days, see bot/util/datefilter.py), then relevance to the
    topic. Raises BriefingError, naming the filters (as command-line flags when `flags`), when
    nothing is left."""
    from bot.util.datefilter import flag_names
    from bot.answer.retrieval import Filters
    from bot.index.records import day_number

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

"""The briefing flow behind `Bot.summarize` and `Bot.brief`: gather what to brief from the
stores, then have the model write it (bot/brief/briefing_llm.py) when one is configured or
asked for, else (and when the model fails) the extractive method (bot/brief/briefing.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from bot.brief import briefing
from bot.config import Settings
from bot.index.embeddings import Embedder
from bot.schema import Article, Briefing, Summary

if TYPE_CHECKING:
    from bot.index.store import Store


def mode_of(mode: str | None, settings: Settings) -> str:
    """"llm" or "extractive": as asked, else the model when one is configured."""
    if mode not in (None, "llm", "extractive"):
        from bot.config import ConfigError

        raise ConfigError(f"mode {mode!r}: use 'llm' or 'extractive'")
    return mode or ("llm" if settings.llm_enabled else "extractive")


def summarize(settings: Settings, article: Article, idf: Callable[[str], float],
              max_sentences: int, mode: str | None) -> Summary:
    if mode_of(mode, settings) == "llm":
        from bot.brief import briefing_llm

        summary = briefing_llm.summarize(settings, article, max_sentences)
        if summary is not None and summary.statements:
            return summary
        fallback = briefing.summarize(article, idf, max_sentences)
        fallback.notice = briefing_llm.fallback_notice(summary)
        return fallback
    return briefing.summarize(article, idf, max_sentences)


def gather(stores: Sequence["Store"], embedder: Embedder, idf: Callable[[], Callable[[str], float]],
           since: str | None, until: str | None, topic: str | None, source: str | None,
           max_points: int, flags: bool) -> briefing.BriefingInput:
    """The selected articles of `stores` with their document vectors; `idf()` the first
    store's IDF, asked for once the articles are selected."""
    articles, notice = briefing.select_articles(stores, embedder.embed_query, since, until,
                                                topic, source, flags)
    vectors: dict[str, np.ndarray] = {}
    for store in stores:
        missing = [a.article_id for a in articles if a.article_id not in vectors]
        if missing:
            vectors.update(store.article_vectors(missing))
    return briefing.BriefingInput(
        articles=articles, vectors=np.stack([vectors[a.article_id] for a in articles]),
        idf=idf(), embed=embedder.embed, max_points=max_points, topic=topic, since=since,
        until=until, source=source, notice=notice)


def write(settings: Settings, inp: briefing.BriefingInput, progress: briefing.Progress | None,
          mode: str | None) -> Briefing:
    if mode_of(mode, settings) == "llm":
        from bot.brief import briefing_llm

        result = briefing_llm.brief(settings, inp, progress)
        if result is not None and result.citations:
            return result
        why = briefing_llm.fallback_notice(result)
        inp = replace(inp, notice=briefing.join_notice(inp.notice, why))
    return briefing.brief(inp, progress)

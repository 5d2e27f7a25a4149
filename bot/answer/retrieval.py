"""Hybrid retrieval: dense (Chroma) + BM25 (bot/index/bm25.py) over the same chunks, fused by reciprocal rank.

The BM25 index lives beside Chroma (local Chroma has no sparse index; see bot/index/bm25.py) and is
checked against the store's generation token on every query, so a write by any process (CLI,
Slack worker, another host on the same Chroma server) brings it up to date before the next
answer: no stale results.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from bot.index.bm25 import Bm25Index, cache_path
from bot.index.embeddings import Embedder
from bot.schema import Article, Chunk, Passage
from bot.util.text import terms
from bot.index.store import Store
from bot.index.records import day_number

RRF_K = 60


@dataclass(frozen=True)
class Filters:
    source: str | None = None  # substring of the article's source (path or URL)
    since: str | None = None  # ISO date, inclusive
    until: str | None = None  # ISO date, inclusive

    def where(self) -> dict | None:
        clauses = []
        if self.since:
            clauses.append({"published_ts": {"$gte": day_number(self.since)}})
        if self.until:
            clauses.append({"published_ts": {"$lte": day_number(self.until)}})
            if not self.since:  # an undated article is -1: it is not "before" any day
                clauses.append({"published_ts": {"$gte": 0}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def admits(self, meta: dict) -> bool:
        if self.source and self.source.lower() not in str(meta.get("source", "")).lower():
            return False
        ts = meta.get("published_ts", -1)
        if self.since and not (ts >= 0 and ts >= day_number(self.since)):
            return False
        if self.until and not (ts >= 0 and ts <= day_number(self.until)):
            return False
        return True

    @property
    def empty(self) -> bool:
        return not (self.source or self.since or self.until)


class Retriever:
    def __init__(self, store: Store, embedder: Embedder, cache_dir: Path | None = None):
        self.store = store
        self.embedder = embedder
        self.cache_dir = cache_dir if cache_dir is not None else Path(store.settings.store_dir) / "cache"
        self._lock = threading.Lock()
        self._bm25: Bm25Index | None = None
        self._generation: str | None = None
        self._articles: dict[str, Article] = {}

    def refresh(self) -> None:
        """Bring the BM25 index up to date and drop cached articles if any process wrote since.

        The index is loaded from the cache file on first use, then changed by diff: only
        articles added, changed or removed since are touched."""
        generation = self.store.generation()
        with self._lock:
            if generation == self._generation and self._bm25 is not None:
                return
            path = cache_path(self.cache_dir, self.store.location, self.store.name)
            index = self._bm25 or Bm25Index.load(path)
            collection = generation.rsplit(":", 1)[0]
            if index is None or index.collection != collection:
                index = Bm25Index(collection=collection)  # new store, or reindexed: start over
            if index.generation != generation:
                self._sync(index)
                index.generation = generation
                self._save(index, path)
            self._bm25 = index
            self._articles = {}
            self._generation = generation

    def _sync(self, index: Bm25Index) -> None:
        """Drop what went or changed, add what came or changed (an article's version in the
        index is its content hash)."""
        held = dict(zip(index.art_ids, index.art_version))
        gone, fresh = self.store.article_changes(held)
        drop = gone | {a for a in fresh if a in held}
        by_article: dict[str, list[Chunk]] = {a: [] for a in fresh}
        for chunk in self.store.chunks_for_articles(sorted(fresh)):
            by_article[chunk.article_id].append(chunk)
        # An article caught mid-rewrite by another process (chunk count off) is left out: its
        # hash is not held, so the next sync (after that writer's bump) takes it.
        whole = [k for a, k in fresh.items()
                 if sorted(c.chunk_no for c in by_article[a]) == list(range(k.n_chunks))]
        add = [(k.article_id, k.content_hash, k.source, k.published_ts) for k in whole]
        index.replace(drop, add, [c for k in whole for c in by_article[k.article_id]], terms)

    @staticmethod
    def _save(index: Bm25Index, path: Path) -> None:
        try:
            index.save(path)
        except OSError:
            pass  # the cache only saves time; a read-only folder must not break answering

    def idf(self, term: str) -> float:
        """Corpus IDF of a term (for sentence scoring); unknown terms count as rare."""
        self.refresh()
        assert self._bm25 is not None
        return self._bm25.idf(term)

    def idf_as_retrieved(self, term: str) -> float:
        """IDF as of the last refresh (every `retrieve` does one): what the answerer scores the
        passages just retrieved with, without `idf`'s freshness check (two Chroma reads, ~1-3
        ms) for each of the dozens of terms of one answer."""
        index = self._bm25
        if index is None:
            self.refresh()
            index = self._bm25
        assert index is not None
        return index.idf(term)

    def idf_snapshot(self) -> Callable[[str], float]:
        """IDF for scoring many terms at once: one freshness check in all, where `idf` checks
        the store's generation on every call."""
        self.refresh()
        assert self._bm25 is not None
        return self._bm25.idf

    def retrieve(self, question: str, k: int = 6, filters: Filters | None = None,
                 query_vector: np.ndarray | None = None) -> list[Passage]:
        filters = filters or Filters()
        self.refresh()
        assert self._bm25 is not None
        pool = max(4 * k, 24)
        vector = query_vector if query_vector is not None else self.embedder.embed_query(question)
        dense_pool = pool if filters.source is None else pool * 10
        dense = [(c, s) for c, s in self.store.query(vector, dense_pool, filters.where())
                 if filters.source is None or filters.source.lower() in self._source_of(c).lower()]
        hits = self._bm25.search(terms(question), pool, None if filters.empty else filters.admits)
        by_id: dict[str, Chunk] = {c.chunk_id: c for c, _ in dense}
        by_id.update(self.store.chunks_by_ids([i for i, _ in hits if i not in by_id]))
        sparse = [i for i, _ in hits if i in by_id]  # a chunk deleted since is simply skipped
        fused: dict[str, float] = {}
        for ranked in ([c.chunk_id for c, _ in dense], sparse):
            for rank, chunk_id in enumerate(ranked):
                fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank + 1)
        order = sorted(fused, key=fused.get, reverse=True)
        return self._passages([by_id[i] for i in order], [fused[i] for i in order], k)

    def _source_of(self, chunk: Chunk) -> str:
        article = self._article(chunk.article_id)
        return article.source if article else ""

    def _article(self, article_id: str) -> Article | None:
        if article_id not in self._articles:
            found = self.store.article(article_id)
            if found is None:
                return None
            self._articles[article_id] = found
        return self._articles[article_id]

    def _passages(self, chunks: list[Chunk], scores: list[float], k: int) -> list[Passage]:
        out: list[Passage] = []
        for chunk, score in zip(chunks, scores):
            article = self._article(chunk.article_id)
            # A chunk must match its ready article exactly; anything else is left over from an
            # interrupted or concurrent write and is never shown.
            if article is None or article.text[chunk.start:chunk.end] != chunk.text:
                continue
            out.append(Passage(chunk=chunk, article=article, score=score, rank=len(out)))
            if len(out) == k:
                break
        return out

"""Hybrid retrieval: dense (Chroma) + BM25 (bm25s) over the same chunks, fused by reciprocal rank.

The BM25 index lives beside Chroma (local Chroma has no sparse index) and is keyed on the
store's generation token, so a write by any process (CLI, Slack worker, another host on the
same Chroma server) makes the next query rebuild it: no stale results.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from bot.embeddings import Embedder
from bot.schema import Article, Chunk, Passage
from bot.store import Store, day_number

RRF_K = 60
_WORD = re.compile(r"\w+")
_DIGIT_COMMA = re.compile(r"(?<=\d),(?=\d{3})")


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


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    # Question words carry no topic, and "who" in a sentence is not evidence for a who-question.
    return frozenset(STOPWORDS_EN) | {"who", "whom", "whose", "what", "when", "where", "which",
                                      "why", "how"}


def terms(text: str) -> list[str]:
    """Lower-cased, stemmed content words; '1,800' and '1800' are the same term."""
    words = _WORD.findall(_DIGIT_COMMA.sub("", text.lower()))
    stop = _stopwords()
    return _stemmer().stemWords([w for w in words if w not in stop])


class _Bm25:
    def __init__(self, chunks: list[Chunk], metas: list[dict]):
        import bm25s

        self.chunks = chunks
        self.metas = metas
        tokens = [terms(c.text) for c in chunks]
        self.index = bm25s.BM25()
        if any(tokens):  # bm25s cannot index an empty vocabulary
            self.index.index(tokens, show_progress=False)
        df: dict[str, int] = {}
        for toks in tokens:
            for t in set(toks):
                df[t] = df.get(t, 0) + 1
        n = max(1, len(chunks))
        self.idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
        self.default_idf = math.log(1 + (n + 0.5) / 0.5)

    def search(self, query: list[str], k: int, filters: Filters) -> list[int]:
        query = [t for t in query if t in self.idf]
        if not query or not self.idf:
            return []
        mask = None
        if not filters.empty:
            mask = np.array([filters.admits(m) for m in self.metas], dtype=np.float32)
        k = min(k, len(self.chunks))
        docs, scores = self.index.retrieve([query], k=k, show_progress=False, weight_mask=mask)
        return [int(d) for d, s in zip(docs[0], scores[0]) if s > 0]


class Retriever:
    def __init__(self, store: Store, embedder: Embedder):
        self.store = store
        self.embedder = embedder
        self._lock = threading.Lock()
        self._bm25: _Bm25 | None = None
        self._generation: str | None = None
        self._articles: dict[str, Article] = {}

    def refresh(self) -> None:
        """Rebuild the BM25 index and drop cached articles if any process wrote since."""
        generation = self.store.generation()
        with self._lock:
            if generation == self._generation and self._bm25 is not None:
                return
            pairs = list(self.store.iter_chunks())
            self._bm25 = _Bm25([c for c, _ in pairs], [m for _, m in pairs])
            self._articles = {}
            self._generation = generation

    def idf(self, term: str) -> float:
        """Corpus IDF of a term (for sentence scoring); unknown terms count as rare."""
        self.refresh()
        assert self._bm25 is not None
        return self._bm25.idf.get(term, self._bm25.default_idf)

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
        bm25 = self._bm25  # one index throughout: another thread may swap in a newer one
        sparse = [bm25.chunks[i] for i in bm25.search(terms(question), pool, filters)]
        fused: dict[str, float] = {}
        by_id: dict[str, Chunk] = {}
        for ranked in ([c for c, _ in dense], sparse):
            for rank, chunk in enumerate(ranked):
                fused[chunk.chunk_id] = fused.get(chunk.chunk_id, 0.0) + 1.0 / (RRF_K + rank + 1)
                by_id[chunk.chunk_id] = chunk
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

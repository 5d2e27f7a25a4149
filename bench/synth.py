"""Synthetic growth for the scale benchmarks: padding articles whose chunks are real English
sentences (drawn from the SQuAD articles, so BM25 sees a realistic vocabulary) with random
unit vectors, written straight into the store's collections in bulk (no model run: latency
at 100k chunks is what is measured, not how they got there)."""

from __future__ import annotations

import hashlib
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = next((p / "shared" for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared").is_dir()),
              ROOT.parent / "shared")
SQUAD = SHARED / "eval" / "squad11"


def sentence_pool() -> list[str]:
    from bot.index.chunking import sentences

    pool = []
    for path in sorted((SQUAD / "articles").glob("*.txt")):
        text = path.read_text()
        pool += [text[a:b] for a, b in sentences(text)]
    return pool


def pad(store, n_chunks: int, start: int, rng: random.Random, pool: list[str],
        chunks_per_article: int = 10, chunk_chars: int = 600, dim: int = 384) -> int:
    """Add about `n_chunks` padding chunks (whole articles of `chunks_per_article`) as ready
    articles; ids continue from `start`. Returns the number of articles added."""
    from bot.index.records import article_meta, chunk_meta
    from bot.schema import Article, Chunk

    n_articles = max(1, n_chunks // chunks_per_article)
    nprng = np.random.default_rng(rng.randrange(2**32))
    arts, chunk_rows = [], []
    for a in range(start, start + n_articles):
        pieces, spans, pos = [], [], 0
        for _ in range(chunks_per_article):
            words, size = [], 0
            while size < chunk_chars:
                s = rng.choice(pool)
                words.append(s)
                size += len(s) + 1
            text = " ".join(words)
            spans.append((pos, pos + len(text)))
            pieces.append(text)
            pos += len(text) + 1
        body = "\n".join(pieces)
        aid = f"pad{a:07d}"
        article = Article(aid, f"Padding article {a}", f"synthetic/{aid}", body,
                          content_hash=hashlib.sha256(body.encode()).hexdigest(),
                          ingested_at="2026-01-01T00:00:00+00:00")
        chunks = [Chunk(aid, n, s, e, body[s:e]) for n, (s, e) in enumerate(spans)]
        arts.append((article, chunks))
        chunk_rows += [(c, article) for c in chunks]
    vecs = nprng.standard_normal((len(chunk_rows), dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    for b in range(0, len(arts), 500):
        part = arts[b:b + 500]
        doc = nprng.standard_normal((len(part), dim)).astype(np.float32)
        doc /= np.linalg.norm(doc, axis=1, keepdims=True)
        store._articles.upsert(ids=[a.article_id for a, _ in part], documents=[a.text for a, _ in part],
                               embeddings=doc.tolist(),
                               metadatas=[{**article_meta(a, len(c)), "state": "ready", "pending_since": 0}
                                          for a, c in part])
    for b in range(0, len(chunk_rows), 2000):
        part = chunk_rows[b:b + 2000]
        store._chunks.upsert(ids=[c.chunk_id for c, _ in part], documents=[c.text for c, _ in part],
                             embeddings=vecs[b:b + 2000].tolist(),
                             metadatas=[chunk_meta(c, a) for c, a in part])
    store._bump()
    return n_articles

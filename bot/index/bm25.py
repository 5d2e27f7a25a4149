"""The BM25 side of hybrid retrieval: an index over the store's chunks that follows the store.

Local Chroma has no sparse index, so BM25 lives beside it, and three things matter on a big
store shared by several processes:
  - correct after any process writes: the retriever asks the store which articles came, went
    or changed their text since (cheap ids-only reads), drops those, and fetches and
    tokenises only the chunks of what is new or changed;
  - fast to start: the index is saved to one `.npz` file in the cache folder and loaded with
    a plain read, so `bot ask` on 100k chunks does not re-tokenise anything;
  - fast to change: postings are flat numpy arrays (term, chunk, tf) and the scores are
    recomputed vectorised, about a second at 100k chunks, where rebuilding a `bm25s` index
    from tokens takes tens of seconds (measured in BENCHMARKS.md).
Scoring is BM25 with Lucene's IDF, as `bm25s` computes it (k1 = 1.5, b = 0.75).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from bot.schema import Chunk

K1 = 1.5
B = 0.75
FORMAT = 2

Tokenise = Callable[[str], list[str]]
Admits = Callable[[dict], bool]


@dataclass
class Bm25Index:
    """Postings sorted by (term, chunk); chunks point into an article table."""

    collection: str = ""  # `name:id` of the chunks collection the index was built from
    generation: str = ""
    # articles
    art_ids: list[str] = field(default_factory=list)
    art_version: list[str] = field(default_factory=list)
    art_source: list[str] = field(default_factory=list)
    art_ts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    # chunks
    ch_art: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    ch_no: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    ch_len: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    # vocabulary and postings
    terms: list[str] = field(default_factory=list)
    p_ptr: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    p_doc: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    p_tf: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint16))

    def __post_init__(self) -> None:
        self.vocab = {t: i for i, t in enumerate(self.terms)}
        self._score()

    # -- reading --------------------------------------------------------------------------

    @property
    def n_chunks(self) -> int:
        return len(self.ch_art)

    def df(self, term: str) -> int:
        i = self.vocab.get(term)
        return 0 if i is None else int(self.p_ptr[i + 1] - self.p_ptr[i])

    def chunk_id(self, i: int) -> str:
        return f"{self.art_ids[self.ch_art[i]]}:{int(self.ch_no[i])}"

    def search(self, query: list[str], k: int, admits: Admits | None = None) -> list[tuple[str, float]]:
        """(chunk id, score) of the best `k` chunks with a positive score."""
        ids = sorted({self.vocab[t] for t in query if t in self.vocab})
        ids = [i for i in ids if self.p_ptr[i + 1] > self.p_ptr[i]]
        if not ids or self.n_chunks == 0 or k <= 0:
            return []
        acc = np.zeros(self.n_chunks, dtype=np.float32)
        for i in ids:
            lo, hi = self.p_ptr[i], self.p_ptr[i + 1]
            docs = self.p_doc[lo:hi]
            tf = self.p_tf[lo:hi].astype(np.float32)
            # Scored here, for the query's terms only, so that a change never rescores
            # every posting. A term lists each chunk once, so += is safe.
            acc[docs] += self.idf_by_term[i] * tf / (tf + self._norm[docs])
        if admits is not None:
            allowed = np.array([admits({"source": s, "published_ts": int(t)})
                                for s, t in zip(self.art_source, self.art_ts)], dtype=bool)
            acc[~allowed[self.ch_art]] = 0.0
        k = min(k, self.n_chunks)
        top = np.argpartition(-acc, k - 1)[:k]
        top = top[np.argsort(-acc[top], kind="stable")]
        return [(self.chunk_id(int(i)), float(acc[i])) for i in top if acc[i] > 0]

    # -- changing -------------------------------------------------------------------------

    def replace(self, drop: set[str], add: list[tuple[str, str, str, int]],
                chunks: Iterable[Chunk], tokenise: Tokenise) -> None:
        """Drop the articles in `drop`, then add `add` = (id, version, source, published_ts)
        with their `chunks`."""
        if drop:
            self._drop(drop)
        if not add:
            return
        base_art = len(self.art_ids)
        art_index = {a[0]: base_art + n for n, a in enumerate(add)}
        self.art_ids += [a[0] for a in add]
        self.art_version += [a[1] for a in add]
        self.art_source += [a[2] for a in add]
        self.art_ts = np.concatenate([self.art_ts, np.array([a[3] for a in add], np.int32)])
        new_art, new_no, new_len = [], [], []
        post_term, post_doc, post_tf = [], [], []
        doc = self.n_chunks
        for chunk in chunks:
            if chunk.article_id not in art_index:
                continue
            counts = Counter(tokenise(chunk.text))
            new_art.append(art_index[chunk.article_id])
            new_no.append(chunk.chunk_no)
            new_len.append(sum(counts.values()))
            for term, tf in counts.items():
                post_term.append(self.vocab.setdefault(term, len(self.vocab)))
                post_doc.append(doc)
                post_tf.append(min(tf, 65535))
            doc += 1
        self.terms += list(self.vocab)[len(self.terms):]
        self.ch_art = np.concatenate([self.ch_art, np.array(new_art, np.int32)])
        self.ch_no = np.concatenate([self.ch_no, np.array(new_no, np.int32)])
        self.ch_len = np.concatenate([self.ch_len, np.array(new_len, np.int32)])
        old_term = np.repeat(np.arange(len(self.p_ptr) - 1, dtype=np.int32), np.diff(self.p_ptr))
        term = np.concatenate([old_term, np.array(post_term, np.int32)])
        docs = np.concatenate([self.p_doc, np.array(post_doc, np.int32)])
        tf = np.concatenate([self.p_tf, np.array(post_tf, np.uint16)])
        # Old postings are sorted by (term, chunk) and every new chunk number is larger, so a
        # stable sort on the term alone keeps chunks in order within each term.
        new_order = np.argsort(np.array(post_term, np.int32), kind="stable") + len(old_term)
        order = _merge_by_term(old_term, np.array(post_term, np.int32)[new_order - len(old_term)],
                               new_order)
        self.p_doc, self.p_tf = docs[order], tf[order]
        self.p_ptr = _pointers(term[order], len(self.terms))
        self._score()

    def _drop(self, drop: set[str]) -> None:
        keep_art = np.array([a not in drop for a in self.art_ids], dtype=bool)
        if keep_art.all():
            return
        new_art = np.cumsum(keep_art, dtype=np.int64) - 1
        keep_ch = keep_art[self.ch_art] if self.n_chunks else np.zeros(0, bool)
        new_doc = np.cumsum(keep_ch, dtype=np.int64) - 1
        self.art_ids = [a for a, keep in zip(self.art_ids, keep_art) if keep]
        self.art_version = [v for v, keep in zip(self.art_version, keep_art) if keep]
        self.art_source = [s for s, keep in zip(self.art_source, keep_art) if keep]
        self.art_ts = self.art_ts[keep_art]
        self.ch_art = new_art[self.ch_art[keep_ch]].astype(np.int32)
        self.ch_no = self.ch_no[keep_ch]
        self.ch_len = self.ch_len[keep_ch]
        term = np.repeat(np.arange(len(self.p_ptr) - 1, dtype=np.int32), np.diff(self.p_ptr))
        keep_post = keep_ch[self.p_doc] if len(self.p_doc) else np.zeros(0, bool)
        self.p_doc = new_doc[self.p_doc[keep_post]].astype(np.int32)
        self.p_tf = self.p_tf[keep_post]
        self.p_ptr = _pointers(term[keep_post], len(self.terms))

    def _score(self) -> None:
        """The IDF of every term (Lucene's formula) and each chunk's length normaliser."""
        n = self.n_chunks
        df = np.diff(self.p_ptr).astype(np.float64)
        self.idf_by_term = np.log(1.0 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
        self.default_idf = math.log(1 + (n + 0.5) / 0.5)
        dl = self.ch_len.astype(np.float32)
        avgdl = max(float(dl.mean()), 1e-9) if n else 1.0
        self._norm = (K1 * (1 - B + B * dl / avgdl)).astype(np.float32)

    def idf(self, term: str) -> float:
        """Corpus IDF of a term; unknown terms count as rare."""
        i = self.vocab.get(term)
        if i is None or self.p_ptr[i + 1] == self.p_ptr[i]:
            return self.default_idf
        return float(self.idf_by_term[i])

    # -- persistence ----------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write atomically (temp file + rename): a reader never sees half a file."""
        meta = {"format": FORMAT, "collection": self.collection, "generation": self.generation,
                "art_ids": self.art_ids, "art_version": self.art_version,
                "art_source": self.art_source, "terms": self.terms}
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                         art_ts=self.art_ts, ch_art=self.ch_art, ch_no=self.ch_no,
                         ch_len=self.ch_len, p_ptr=self.p_ptr, p_doc=self.p_doc, p_tf=self.p_tf)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> "Bm25Index | None":
        """The saved index, or None if there is none or it cannot be read (then rebuild)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(z["meta"].tobytes())
                if meta.get("format") != FORMAT:
                    return None
                return cls(collection=meta["collection"], generation=meta["generation"],
                           art_ids=meta["art_ids"], art_version=meta["art_version"],
                           art_source=meta["art_source"], art_ts=z["art_ts"], ch_art=z["ch_art"],
                           ch_no=z["ch_no"], ch_len=z["ch_len"], terms=meta["terms"],
                           p_ptr=z["p_ptr"], p_doc=z["p_doc"], p_tf=z["p_tf"])
        except (OSError, ValueError, KeyError, json.JSONDecodeError, EOFError):
            return None


def cache_path(cache_dir: Path, location: str, collection: str) -> Path:
    """One file per store location and collection."""
    key = hashlib.sha1(f"{location}\n{collection}".encode()).hexdigest()[:16]
    return cache_dir / f"bm25-{collection}-{key}.npz"


def _pointers(sorted_terms: np.ndarray, n_terms: int) -> np.ndarray:
    ptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(np.bincount(sorted_terms, minlength=n_terms), out=ptr[1:])
    return ptr


def _merge_by_term(old_term: np.ndarray, new_term_sorted: np.ndarray,
                   new_positions: np.ndarray) -> np.ndarray:
    """Positions (into old ++ new) in (term, chunk) order: old postings of a term come before
    new ones, since new chunks are numbered after all old chunks."""
    where = np.searchsorted(old_term, new_term_sorted, side="right")
    order = np.insert(np.arange(len(old_term), dtype=np.int64), where, new_positions)
    return order

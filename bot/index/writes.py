"""The crash-safe write protocol of the store.

Chroma has no transactions, so writes follow a protocol that never leaves a half-written
article visible. A new article's record is first written with state=pending, then its chunks,
then the record is flipped to state=ready. An update keeps the old version ready and served
while the new chunks are written beside the old ones, in the article's other *slot* (ids
`article_id:chunk_no` for slot 0, `article_id:chunk_no#1` for slot 1; the record's `slot`
names the live one and `dirty_slot` the one being written or cleared); one write of the record
then flips text, metadata and slot together, and the old slot's chunks are deleted after.
Readers only trust ready articles and chunks that match their text; `repair()` removes what a
crash left (pending records, dirty slots).
Every write ends by stamping a new generation (bot/index/sync.py).

`Writes` holds the Store methods that write (bot/index/store.py mixes it in).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time
from typing import Any

import numpy as np

from bot.index.chroma import StoreError
from bot.index.records import PAGE, article_meta, chunk_meta, guid_field, record_id, slot_of
from bot.schema import Article, Chunk

STALE_PENDING_S = 900  # a pending record older than this was left by a crash, not a live writer
_HOST = socket.gethostname()


class Writes:
    """Mixed into `Store`: put, update, forget and repair articles without ever leaving a
    half-written one visible."""

    def put(self, article: Article, chunks: list[Chunk], vectors: np.ndarray,
            keep_ingested_at: bool = False) -> Article:
        """Store an article and its chunks, replacing any earlier version completely."""
        self._follow()
        if not self.settings.chroma_url:
            self.generation()  # an embedded store reopens first if another process wrote
        try:
            return self._put(article, chunks, vectors, keep_ingested_at)
        except StoreError:
            if self._pinned or self._layout == self._read_layout():
                raise
            self._follow()  # a reindex replaced the collections mid-write: write it there
            return self._put(article, chunks, vectors, keep_ingested_at)

    def _put(self, article: Article, chunks: list[Chunk], vectors: np.ndarray,
             keep_ingested_at: bool) -> Article:
        if not (keep_ingested_at and article.ingested_at):
            now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            article = Article(**{**article.__dict__, "ingested_at": now})
        doc_vector = vectors.mean(axis=0)
        doc_vector = (doc_vector / max(float(np.linalg.norm(doc_vector)), 1e-12)).tolist()
        meta = article_meta(article, len(chunks))
        aid = article.article_id
        got = self._call(self._articles.get, ids=[aid], include=["metadatas"])
        old = got["metadatas"][0] if got["ids"] else None
        if old is None or old.get("state") != "ready":  # new: invisible until whole
            self._call(self._articles.upsert, ids=[aid], documents=[article.text],
                       embeddings=[doc_vector], metadatas=[{**meta, **_pending(), "slot": 0,
                                                            "dirty_slot": -1}])
            self._delete_chunks(aid)
            self._write_chunks(article, chunks, vectors, 0)
            # pending_since back to 0: Chroma merges metadata on update, and a record marked
            # pending later without a time of its own must count as stale.
            self._call(self._articles.update, ids=[aid],
                       metadatas=[{**meta, "state": "ready", "pending_since": 0}])
        else:  # an update: the old version stays ready, and served, until the flip
            live = slot_of(old)
            new = 1 - live
            self._call(self._articles.update, ids=[aid], metadatas=[{**_writer(), "dirty_slot": new}])
            self._delete_slot(aid, new)  # what an earlier crash may have left there
            self._write_chunks(article, chunks, vectors, new)
            self._call(self._articles.upsert, ids=[aid], documents=[article.text],
                       embeddings=[doc_vector], metadatas=[{**meta, **_writer(), "state": "ready",
                                                            "slot": new, "dirty_slot": live}])
            self._delete_slot(aid, live)
            self._call(self._articles.update, ids=[aid], metadatas=[{"dirty_slot": -1,
                                                                     "pending_since": 0}])
        self._bump()
        return article

    def _write_chunks(self, article: Article, chunks: list[Chunk], vectors: np.ndarray,
                      slot: int) -> None:
        for b in range(0, len(chunks), PAGE):
            part = chunks[b:b + PAGE]
            # upsert, not add: Chroma silently keeps the old record on a duplicate add, and a
            # concurrent writer of the same article may have just written these ids.
            self._call(self._chunks.upsert, ids=[record_id(c.chunk_id, slot) for c in part],
                       documents=[c.text for c in part],
                       embeddings=vectors[b:b + PAGE].tolist(),
                       metadatas=[{**chunk_meta(c, article), "slot": slot} for c in part])

    def _delete_slot(self, article_id: str, slot: int) -> None:
        got = self._call(self._chunks.get, where={"article_id": article_id}, include=["metadatas"])
        ids = [i for i, m in zip(got["ids"], got["metadatas"]) if slot_of(m) == slot]
        if ids:
            self._call(self._chunks.delete, ids=ids)

    def set_meta(self, article_id: str, meta: dict[str, Any]) -> None:
        """Replace an article's extra metadata (e.g. feed GUID and stamp) without touching its
        text or chunks."""
        self._call(self._articles.update, ids=[article_id],
                   metadatas=[{"meta": json.dumps(meta, ensure_ascii=False), **guid_field(meta)}])
        self._bump()

    def forget(self, article_id: str) -> bool:
        self._follow()
        got = self._call(self._articles.get, ids=[article_id], include=[])
        if not got["ids"]:
            return False
        # Pending first: if we die between the two deletes, repair() finishes the job.
        self._call(self._articles.update, ids=[article_id], metadatas=[_pending()])
        self._delete_chunks(article_id)
        self._call(self._articles.delete, ids=[article_id])
        self._bump()
        return True

    def repair(self) -> list[str]:
        """Remove what an interrupted write left behind: articles whose writer is gone. A
        writer on this host is checked by its pid, at once; one on another host (a shared
        Chroma server) counts as gone when its record is older than any live write takes."""
        self._follow()
        got = self._call(self._articles.get, where={"state": "pending"}, include=["metadatas"])
        stale = [i for i, m in zip(got["ids"], got["metadatas"]) if writer_gone(m)]
        for article_id in stale:
            self._delete_chunks(article_id)
            self._call(self._articles.delete, ids=[article_id])
        # Updates cut short: the article is ready (old or new version); its other slot goes.
        dirty = self._call(self._articles.get, where={"dirty_slot": {"$gte": 0}},
                           include=["metadatas"])
        for article_id, m in zip(dirty["ids"], dirty["metadatas"]):
            if writer_gone(m) and m.get("state") == "ready":
                self._delete_slot(article_id, int(m["dirty_slot"]))
                self._call(self._articles.update, ids=[article_id],
                           metadatas=[{"dirty_slot": -1, "pending_since": 0}])
                stale.append(article_id)
        if stale:
            self._bump()
        return stale

    def delete_articles(self, article_ids: list[str]) -> None:
        """Remove articles outright (a reindex drops what was forgotten while it ran)."""
        for article_id in article_ids:
            self._delete_chunks(article_id)
        if article_ids:
            self._call(self._articles.delete, ids=article_ids)
            self._bump()

    def _delete_chunks(self, article_id: str) -> None:
        self._call(self._chunks.delete, where={"article_id": article_id})


def _writer() -> dict[str, Any]:
    """Who is writing an article and since when (`repair()` tells a crash from a live writer)."""
    return {"pending_since": time.time(), "pending_host": _HOST, "pending_pid": os.getpid()}


def _pending() -> dict[str, Any]:
    return {"state": "pending", **_writer()}


def writer_gone(meta: dict[str, Any]) -> bool:
    if time.time() - float(meta.get("pending_since") or 0) > STALE_PENDING_S:
        return True
    if meta.get("pending_host") != _HOST:
        return False
    pid = int(meta.get("pending_pid") or 0)
    if pid == os.getpid():
        return False  # this process is mid-write (another thread)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError, ValueError):
        return False
    return False

"""How articles and chunks are kept as Chroma records: their metadata, the ids of a chunk in
either *slot* of the write protocol (bot/index/writes.py), and the way back to `Article` and
`Chunk`. Dates are kept as day numbers, since Chroma filters compare numbers only."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from bot.schema import Article, Chunk

PAGE = 2000  # records per Chroma read/write call (well under its max batch size)


@dataclass(frozen=True)
class ArticleKey:
    """What a cache needs to know about a ready article to tell whether it changed."""

    article_id: str
    version: str  # changes whenever the article's chunks are rewritten
    content_hash: str
    source: str
    published_ts: int
    n_chunks: int = -1


def article_key(article_id: str, meta: dict) -> ArticleKey:
    version = f"{meta.get('content_hash', '')}:{meta.get('ingested_at', '')}:{meta.get('n_chunks', '')}"
    return ArticleKey(article_id, version, str(meta.get("content_hash", "")),
                      str(meta.get("source", "")), int(meta.get("published_ts", -1)),
                      int(meta.get("n_chunks", -1)))


def slot_of(meta: dict | None) -> int:
    return int((meta or {}).get("slot") or 0)  # stores written before slots: all slot 0


def record_id(chunk_id: str, slot: int) -> str:
    """The Chroma id of a chunk in a slot (slot 0 keeps the plain `article_id:chunk_no`)."""
    return chunk_id if slot == 0 else f"{chunk_id}#{slot}"


def article_meta(article: Article, n_chunks: int) -> dict[str, Any]:
    return {
        "title": article.title,
        "source": article.source,
        "published": article.published or "",
        "published_ts": day_number(article.published),
        "ingested_at": article.ingested_at or "",
        "content_hash": article.content_hash,
        "n_chunks": n_chunks,
        "meta": json.dumps(article.meta, ensure_ascii=False),
        **guid_field(article.meta),
    }


def guid_field(meta: dict[str, Any]) -> dict[str, Any]:
    """Feed-entry GUIDs as a list field of their own, so feeds can look them up ($contains);
    left out when empty (Chroma refuses empty lists)."""
    guids = [str(g) for g in meta.get("guids") or [] if g]
    return {"guids": guids} if guids else {}


def chunk_meta(chunk: Chunk, article: Article) -> dict[str, Any]:
    return {
        "article_id": chunk.article_id,
        "chunk_no": chunk.chunk_no,
        "start": chunk.start,
        "end": chunk.end,
        "source": article.source,
        "published_ts": day_number(article.published),
    }


def day_number(iso: str | None) -> int:
    """Days since 1970 (Chroma filters need numbers); -1 when the date is unknown."""
    if not iso:
        return -1
    try:
        return (dt.date.fromisoformat(iso[:10]) - dt.date(1970, 1, 1)).days
    except ValueError:
        return -1


def to_article(article_id: str, text: str, meta: dict) -> Article:
    return Article(article_id=article_id, title=meta.get("title", ""), source=meta.get("source", ""),
                   text=text, published=meta.get("published") or None,
                   ingested_at=meta.get("ingested_at") or None,
                   content_hash=meta.get("content_hash", ""),
                   meta=json.loads(meta.get("meta") or "{}"))


def to_chunk(chunk_id: str, text: str, meta: dict) -> Chunk:
    return Chunk(meta["article_id"], int(meta["chunk_no"]), int(meta["start"]), int(meta["end"]), text)

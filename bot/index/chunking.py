"""Sentence-aware chunking that keeps exact offsets: `text[c.start:c.end] == c.text`, always."""

from __future__ import annotations

import re

from bot.schema import Chunk

_PARAGRAPH = re.compile(r"[^\n]+")


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of every sentence, never crossing a line break (lines are paragraphs)."""
    import blingfire

    spans: list[tuple[int, int]] = []
    for para in _PARAGRAPH.finditer(text):
        base, chunk = para.start(), para.group()
        if not chunk.strip():
            continue
        _, offsets = blingfire.text_to_sentences_and_offsets(chunk)
        for start, end in offsets:
            start, end = _trim(chunk, start, min(end, len(chunk)))
            if end > start:
                spans.append((base + start, base + end))
    return spans


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def chunk_article(article_id: str, text: str, size: int = 800, overlap: int = 150) -> list[Chunk]:
    """Pack whole sentences into chunks of about `size` chars; repeat up to `overlap` chars of
    trailing sentences at the start of the next chunk so an answer split across the boundary
    is still whole in one of them."""
    units = _units(text, size)
    chunks: list[Chunk] = []
    i = 0
    while i < len(units):
        j = i + 1
        while j < len(units) and units[j][1] - units[i][0] <= size:
            j += 1
        start, end = units[i][0], units[j - 1][1]
        chunks.append(Chunk(article_id, len(chunks), start, end, text[start:end]))
        if j >= len(units):
            break
        # Step back over trailing sentences that fit in the overlap, but always move forward.
        k = j
        while k - 1 > i and units[j - 1][1] - units[k - 1][0] <= overlap:
            k -= 1
        i = k
    return chunks


def _units(text: str, size: int) -> list[tuple[int, int]]:
    """Sentences, with any sentence longer than `size` cut at spaces into pieces that fit."""
    out: list[tuple[int, int]] = []
    for start, end in sentences(text):
        while end - start > size:
            cut = text.rfind(" ", start + 1, start + size)
            cut = cut if cut > start else start + size
            out.append((start, cut))
            start = cut
            while start < end and text[start].isspace():
                start += 1
        if end > start:
            out.append((start, end))
    return out

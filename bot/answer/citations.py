"""The one citation verifier. Every answer path (extractive, LLM, briefing) ends here.

A quote counts only if it is found in the stored text of the article it claims to come from.
Matching forgives whitespace and the style of quote marks, nothing else; the citation then
carries the article's own characters, so `article.text[start:end] == quote` by construction.
Statements left without a verified citation are dropped: nothing unsourced is shown as sourced.
"""

from __future__ import annotations

import re
from typing import Callable

from bot.sources.pdf import page_of
from bot.schema import Answer, Article, Citation, Draft, Quote, Statement, not_stated_line

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "`": "'",
                         "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"',
                         "\u00ab": '"', "\u00bb": '"'})
_SPACE = re.compile(r"\s+")
_MIN_QUOTE = 3  # shorter "quotes" (a word, a comma) prove nothing

REFUSAL = "The loaded articles do not answer this question."


def _normalise_with_map(text: str) -> tuple[str, list[int]]:
    """Text with whitespace runs collapsed and quote marks unified, and for each character of
    the result the offset it came from in `text`."""
    out: list[str] = []
    where: list[int] = []
    prev_space = False
    for i, ch in enumerate(text):
        if ch.isspace():
            if not prev_space:
                out.append(" ")
                where.append(i)
            prev_space = True
            continue
        prev_space = False
        out.append(ch.translate(_QUOTES))
        where.append(i)
    return "".join(out), where


def _normalise(text: str) -> str:
    return _SPACE.sub(" ", text.translate(_QUOTES)).strip()


def locate(quote: str, text: str, near: int | None = None) -> tuple[int, int] | None:
    """Offsets of `quote` in `text`, the occurrence nearest `near` when it repeats."""
    quote = quote.strip()
    if len(quote) < _MIN_QUOTE:
        return None
    hits = _all(text, quote)
    if hits:
        return _nearest([(h, h + len(quote)) for h in hits], near)
    norm_text, where = _normalise_with_map(text)
    for candidate in (_normalise(quote), _normalise(quote).strip("\"' ")):
        if len(candidate) < _MIN_QUOTE:
            continue
        spans = [(where[h], where[h + len(candidate) - 1] + 1) for h in _all(norm_text, candidate)]
        if spans:
            return _nearest(spans, near)
    return None


def _all(haystack: str, needle: str, limit: int = 100) -> list[int]:
    hits, i = [], haystack.find(needle)
    while i >= 0 and len(hits) < limit:
        hits.append(i)
        i = haystack.find(needle, i + 1)
    return hits


def _nearest(spans: list[tuple[int, int]], near: int | None) -> tuple[int, int]:
    if near is None:
        return spans[0]
    return min(spans, key=lambda s: abs(s[0] - near))


def verify_quotes(quotes: list[Quote], lookup: Callable[[str], Article | None],
                  numbering: dict[tuple[str, int, int], Citation]) -> list[Citation]:
    """Verified citations for `quotes`, numbered in first-seen order across one answer."""
    found: list[Citation] = []
    for q in quotes:
        article = lookup(q.article_id)
        span = locate(q.text, article.text, q.near) if article else None
        if article is None or span is None:
            continue
        key = (article.article_id, *span)
        if key not in numbering:
            start, end = span
            numbering[key] = Citation(n=len(numbering) + 1, article_id=article.article_id,
                                      title=article.title, source=article.source,
                                      start=start, end=end, quote=article.text[start:end],
                                      page=page_of(article.meta, start))
        if numbering[key] not in found:
            found.append(numbering[key])
    return found


def check(citation: Citation, article: Article) -> bool:
    """The invariant every shown citation satisfies."""
    return article.article_id == citation.article_id and \
        article.text[citation.start:citation.end] == citation.quote


def verify(question: str, draft: Draft, lookup: Callable[[str], Article | None]) -> Answer:
    """Turn a draft into an answer that shows only verified, cited statements."""
    numbering: dict[tuple[str, int, int], Citation] = {}
    statements: list[Statement] = []
    dropped = 0
    for s in draft.statements:
        cited = verify_quotes(s.quotes, lookup, numbering)
        if cited:
            statements.append(Statement(text=s.text.strip(), citations=[c.n for c in cited]))
        else:
            dropped += 1
    citations = sorted(numbering.values(), key=lambda c: c.n)
    # Renumber so only citations that back a kept statement remain, numbered 1..n.
    used = sorted({n for s in statements for n in s.citations})
    renumber = {old: new for new, old in enumerate(used, 1)}
    citations = [Citation(**{**c.__dict__, "n": renumber[c.n]}) for c in citations if c.n in renumber]
    for s in statements:
        s.citations = [renumber[n] for n in s.citations]
    notice = draft.notice
    if dropped and statements:
        notice = _join(notice, f"{dropped} statement(s) dropped: their quotes were not found in the sources.")
    if draft.refused or not statements:
        if not draft.refused and draft.statements:
            notice = _join(notice, "No statement could be verified against the sources.")
        return Answer(question=question, answer=REFUSAL, short_answer=None, refused=True,
                      mode=draft.mode, citations=[], statements=[], notice=notice,
                      confidence=draft.confidence)
    short, candidate = draft.short_answer, draft.short_answer_candidate
    if short and not any(short in c.quote for c in citations):
        short = None  # a short answer must itself be inside a verified quote
    if candidate and not any(candidate in c.quote for c in citations):
        candidate = None
    answer = " ".join(s.text for s in statements)
    if draft.not_stated:
        answer = f"{not_stated_line(draft.not_stated)} {answer}"
    return Answer(question=question, answer=answer, short_answer=short, refused=False,
                  mode=draft.mode, citations=citations, statements=statements, notice=notice,
                  confidence=draft.confidence, short_answer_confidence=draft.short_answer_confidence,
                  short_answer_candidate=candidate, not_stated=draft.not_stated)


def _join(a: str | None, b: str) -> str:
    return f"{a} {b}" if a else b

"""Fuzz targets: each takes an input, runs one part of the bot on it and checks its promises.

A target may end in the part's documented error (`LoadError` for loaders, a `BotError`
subclass in general); anything else it raises is a bug, and so is a broken property:
- a loaded article's text is non-empty and normalised (normalising it again changes nothing),
  and the chunker's offsets are exact on it: `text[c.start:c.end] == c.text` for every chunk;
- a PDF's page starts are increasing offsets inside the text, and every offset maps to a page;
- every citation `citations.verify` makes is the exact span of its article;
- renderers (terminal text, markdown, JSON, Slack Block Kit) never raise, JSON round-trips,
  Slack blocks stay within Slack's limits and carry no mrkdwn control sequence from content.

Used by tests/test_fuzz.py (hypothesis, a few hundred inputs per target) and by
bench/fuzz.py (atheris, coverage-guided, thousands per target).
"""

from __future__ import annotations

import io
import json
import re

from bot.sources.common import LoadError, normalise
from bot.sources.articles import article_from_html, article_from_text, decode
from bot.index.chunking import chunk_article
from bot.errors import BotError
from bot.schema import Answer, Article, Citation, Draft, DraftStatement, Quote, Statement

FEED_URL = "http://feeds.test/rss.xml"
# In Slack mrkdwn, "<" opens a mention (<!channel>, <@U123>) or a link (<http://x|y>).
_CONTROL = re.compile(r"<[!@#]|<https?:|<mailto:", re.I)


def check_article(article: Article, chunk_size: int = 300, overlap: int = 60) -> None:
    assert isinstance(article, Article)
    assert article.text and normalise(article.text) == article.text
    assert len(article.title) <= 300
    for i, c in enumerate(chunk_article(article.article_id, article.text, chunk_size, overlap)):
        assert article.text[c.start:c.end] == c.text and c.chunk_no == i and c.text.strip()
    json.dumps(article.to_dict())


def text_file(data: bytes, markdown: bool) -> None:
    try:
        text = decode(data, "fuzz.txt")
        article = article_from_text(text, source="fuzz.md" if markdown else "fuzz.txt",
                                    markdown=markdown)
    except LoadError:
        return
    check_article(article)


def html_page(html: str, url: str | None = None) -> None:
    try:
        article = article_from_html(html, source="fuzz.html", url=url)
    except LoadError:
        return
    check_article(article)


def feed(data: bytes) -> None:
    from bot.sources.feeds import entry_article, parse_feed

    try:
        _, entries = parse_feed(data, FEED_URL)
    except LoadError:
        return
    for entry in entries:
        try:
            check_article(entry_article(entry, FEED_URL))
        except LoadError:
            continue


def pdf(data: bytes) -> None:
    from bot.sources.pdf import article_from_pdf, page_of

    try:
        article = article_from_pdf(data, source="fuzz.pdf")
    except LoadError:
        return
    check_article(article)
    starts = article.meta["pages"]
    assert starts[0] == 0 and all(a <= b for a, b in zip(starts, starts[1:]))
    assert all(0 <= s <= len(article.text) + 2 for s in starts)
    for offset in (0, len(article.text) // 2, len(article.text) - 1):
        assert 1 <= page_of(article.meta, offset) <= len(starts)


def chunker(text: str, size: int, overlap: int) -> None:
    chunks = chunk_article("a", text, size, overlap)
    for i, c in enumerate(chunks):
        assert text[c.start:c.end] == c.text and c.chunk_no == i and c.text.strip()
    assert all(b.start > a.start for a, b in zip(chunks, chunks[1:]))


def verify(text: str, quotes: list[tuple[str, int | None]], other: str = "") -> None:
    """Quotes of an article (some real, some not) through the shared verifier."""
    from bot.answer import citations

    a = Article("a1", "Title", "a.txt", text)
    b = Article("b1", "Other", "b.txt", other or "x")
    lookup = {"a1": a, "b1": b}.get
    draft = Draft([DraftStatement(f"Statement {i}.", [Quote("a1" if i % 3 else "b1", q, near)])
                   for i, (q, near) in enumerate(quotes)])
    answer = citations.verify("q?", draft, lookup)
    for c in answer.citations:
        assert citations.check(c, lookup(c.article_id))
    assert all(s.citations for s in answer.statements)


def renderers(statements: list[str], quotes: list[str], title: str, source: str,
              short: str | None, notice: str | None, refused: bool) -> None:
    """An answer with arbitrary text everywhere, through every renderer."""
    from rich.console import Console

    from bot.ui import render
    from bot.ui.slack import blocks
    from bot.util.controls import has_unsafe

    cites = [Citation(n, f"id{n}", title, source, 0, len(q), q, page=n if n % 2 else None)
             for n, q in enumerate(quotes, 1)]
    stmts = [Statement(t, [1 + i % len(cites)] if cites else []) for i, t in enumerate(statements)]
    ans = Answer(question=title, answer=" ".join(statements), short_answer=short, refused=refused,
                 mode="llm", citations=cites, statements=stmts, notice=notice,
                 standalone_question=source)
    for markdown in (False, True):
        console = Console(file=io.StringIO(), width=80, color_system="truecolor",
                          force_terminal=True)
        render.answer(console, ans, show_timings=True, quote_limit=40, markdown=markdown)
        # Without colours, a plain rich console (no bot/ui/terminal.py backstop) shows no raw
        # control character: the render code cleans what it prints by itself.
        plain = Console(file=io.StringIO(), width=80, color_system=None, force_terminal=False)
        render.answer(plain, ans, show_timings=True, quote_limit=40, markdown=markdown)
        assert not has_unsafe(plain.file.getvalue()), plain.file.getvalue()
    d = json.loads(render.to_json(ans.to_dict()))
    assert d["statements"] == [{"text": s.text, "citations": s.citations} for s in stmts]
    assert [c["quote"] for c in d["citations"]] == quotes
    text, blks = blocks.answer(ans, "answer-id", asker="U1")
    check_slack(text, blks)
    text, blks = blocks.sources(ans.to_dict())
    check_slack(text, blks)


def check_slack(text: str, blks: list[dict]) -> None:
    json.dumps(blks)
    assert len(blks) <= blocks_limit() and len(text) <= 3000 + 100
    assert not _CONTROL.search(text), text
    for b in blks:
        for t in _mrkdwn(b):
            assert len(t) <= 3000
            # the bot's own markup only: "<@U1> asked:" in the header
            assert not _CONTROL.search(t.replace("<@U1> asked:", "")), t


def blocks_limit() -> int:
    from bot.ui.slack.blocks import MAX_BLOCKS

    return MAX_BLOCKS


def _mrkdwn(block: dict) -> list[str]:
    out = []
    if block.get("type") == "section":
        out.append(block["text"]["text"])
    if block.get("type") == "context":
        out += [e["text"] for e in block["elements"] if e.get("type") == "mrkdwn"]
    return out


EXPECTED = (LoadError, BotError)

"""Answers and articles → terminal text (rich) and JSON. Rendering only: no retrieval, no I/O
beyond the console it is given.

Everything shown came from outside (articles, titles, sources, model output): it goes through
bot/ui/terminal.py `safe` (secrets redacted, control characters shown, not obeyed), or `clean`
where styles hold offsets into the text. JSON keeps every character (those a terminal obeys
are \\u-escaped)."""

from __future__ import annotations

import json
from typing import Any, Iterable

from rich.console import Console
from rich.text import Text

from bot.util.redact import redact_partial, redact_tree
from bot.schema import Answer, AnswerDelta, AnswerDone, Article, Citation
from bot.util.controls import UNSAFE, clean
from bot.ui.terminal import safe, safe_line


def to_json(obj: Any) -> str:
    """Exact JSON, secrets redacted; the characters a terminal would obey are escaped (\\uXXXX)
    (json escapes C0 itself; DEL, C1 and bidi controls it leaves raw with ensure_ascii off)."""
    text = json.dumps(redact_tree(obj), ensure_ascii=False, indent=2)
    return UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def location(c: Citation) -> str:
    page = f" · p. {c.page}" if c.page else ""
    return f"{c.source}{page} · chars {c.start}–{c.end}"


def answer(console: Console, ans: Answer, show_timings: bool = False,
           quote_limit: int | None = None, markdown: bool = False) -> None:
    """`quote_limit` shortens long quotes in the footnotes (the chat's /sources shows them whole);
    `markdown` renders a model's statements as markdown (never verbatim extractive quotes)."""
    if ans.standalone_question and ans.standalone_question != ans.question:
        console.print(Text(f"(searched: {safe(ans.standalone_question)})", style="dim"))
    if ans.refused:
        console.print(Text(safe(ans.answer), style="yellow"))
    else:
        if ans.short_answer:
            console.print(Text(safe(ans.short_answer), style="bold green"))
            console.print()
        elif ans.lead:  # the sources lack the kind of thing asked for: say so before the quote
            console.print(Text(ans.lead, style="yellow"))
        if markdown and ans.mode != "extractive":
            from rich.markdown import Markdown

            console.print(Markdown(" ".join(
                safe(s.text) + " " + "".join(f"\\[{n}\\]" for n in s.citations) for s in ans.statements)))
        else:
            for s in ans.statements:
                marks = "".join(f"[{n}]" for n in s.citations)
                console.print(Text(safe(s.text)) + Text(f" {marks}", style="cyan"))
        console.print()
        sources(console, ans.citations, ans.short_answer, quote_limit,
                shown=[s.text for s in ans.statements])
    if ans.notice:
        console.print(Text(f"Note: {safe(ans.notice)}", style="dim"))
    if show_timings:
        console.print(Text(" · ".join(f"{k} {v:.0f} ms" for k, v in ans.timings_ms.items()), style="dim"))


def answer_markdown(ans: Answer) -> str:
    """An answer as Markdown with footnoted citations (`[^1]`), for pasting into notes."""
    lines = [f"**{ans.question}**", ""]
    if ans.refused:
        lines += [ans.answer, ""]
    else:
        if ans.short_answer:
            lines += [f"**Answer:** {ans.short_answer}", ""]
        lines += [" ".join(s.text + "".join(f"[^{n}]" for n in s.citations) for s in ans.statements), ""]
        said = {" ".join(s.text.split()) for s in ans.statements}
        for c in ans.citations:  # the quote only where it is not the statement itself
            quote = "" if " ".join(c.quote.split()) in said else f"\u201c{c.quote}\u201d \u2014 "
            lines.append(f"[^{c.n}]: {quote}*{c.title}*, {location(c)}")
    if ans.notice:
        lines += ["", f"> Note: {ans.notice}"]
    return "\n".join(lines).rstrip() + "\n"


def streamed_answer(console: Console, events: Iterable[AnswerDelta | AnswerDone],
                    show_timings: bool = False) -> Answer | None:
    """Show provisional text as a model writes it, then replace it with the verified answer:
    statements verification dropped disappear, and the notice says so."""
    from rich.live import Live

    written, final = "", None
    with Live(Text(), console=console, auto_refresh=False, transient=True) as live:
        for event in events:
            if isinstance(event, AnswerDelta):
                # The whole draft is redacted again at each delta (a secret can arrive in
                # pieces), holding back an ending that may be the start of one.
                written += event.text
                draft = Text(clean(redact_partial(written)), no_wrap=False, overflow="fold")
                live.update(draft, refresh=True)
            else:
                final = event.answer
    if final is not None:
        answer(console, final, show_timings)
    return final


def sources(console: Console, cites: list[Citation], highlight: str | None = None,
            quote_limit: int | None = None, shown: Iterable[str] = ()) -> None:
    """The citations as footnotes. A quote that is word for word a statement in `shown` (the
    text already printed above, as in an extractive summary) is not printed a second time."""
    said = {" ".join(text.split()) for text in shown}
    if not cites:
        console.print(Text("No sources.", style="dim"))
        return
    console.print(Text("Sources", style="bold"))
    for c in cites:
        console.print(Text(f"[{c.n}] ", style="cyan") + Text(safe(c.title), style="bold"))
        console.print(Text(f"    {safe(location(c))}", style="dim"))
        if " ".join(c.quote.split()) in said:
            continue
        quoted = c.quote if quote_limit is None else shorten(c.quote, quote_limit)
        quote = Text(f'    "{safe(quoted)}"', style="italic")
        if highlight:
            quote.highlight_words([highlight], style="bold green")
        console.print(quote)


def article(console: Console, art: Article, span: tuple[int, int] | None = None) -> None:
    console.print(Text(safe(art.title), style="bold"))
    meta = [art.article_id, art.source] + ([art.published] if art.published else [])
    console.print(Text(safe(" · ".join(meta)), style="dim"))
    console.print()
    body = Text(clean(art.text))  # same length: the span's offsets still hold
    if span:
        body.stylize("reverse", *span)
    console.print(body)


def article_table(console: Console, rows: list[tuple[Article, int]]) -> None:
    """`bot sources`: one row per article (title, source, date, chunks, id) and a count."""
    from rich.table import Table

    if not rows:
        console.print("No articles yet. Add some with: bot ingest PATH", markup=False)
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("title", overflow="fold", ratio=3)
    table.add_column("source", overflow="fold", ratio=2, style="dim")
    table.add_column("date", no_wrap=True)
    table.add_column("chunks", justify="right", no_wrap=True)
    table.add_column("id", no_wrap=True, style="cyan")
    for a, n in rows:
        table.add_row(Text(safe_line(a.title)), Text(safe_line(a.source)), a.published or "",
                      str(n), a.article_id)
    console.print(table)
    console.print(f"{len(rows)} article{'' if len(rows) == 1 else 's'}", markup=False)


def log_entry(console: Console, entry: Any) -> None:
    """One question of `bot log` (a bot.ui.history.LogEntry): when and where, then the answer."""
    from datetime import datetime

    when = datetime.fromisoformat(entry.at).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    where = "bot ask" if entry.kind == "ask" else f"chat {safe_line(entry.session)}"
    console.print(Text(f"{when}  {where}", style="dim"))
    console.print(Text("> ", style="bold") + Text(safe_line(entry.answer.question), style="bold"))
    answer(console, entry.answer, quote_limit=200)
    console.print()


def shorten(text: str, limit: int) -> str:
    """`text` cut at a word boundary to about `limit` characters, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[:cut if cut > limit // 2 else limit].rstrip(" ,;:") + " …"


def window(text: str, start: int, end: int, context: int = 600) -> tuple[int, int]:
    """Offsets of whole paragraphs around text[start:end], about `context` characters each side
    (cut at a word when a paragraph is much longer)."""
    lo = 0 if start <= context else text.rfind("\n", 0, start - context) + 1
    if start - lo > 2 * context:  # one long paragraph: start at a word instead
        cut = text.find(" ", start - context, start)
        lo = cut + 1 if cut >= 0 else start - context
    hi = text.find("\n", min(len(text), end + context))
    hi = len(text) if hi < 0 else hi
    if hi - end > 2 * context:
        cut = text.rfind(" ", end, end + context)
        hi = cut if cut > end else end + context
    return lo, hi


def article_window(console: Console, art: Article, span: tuple[int, int], context: int = 600) -> None:
    """The part of an article around a cited span, the span highlighted. Without colours (a pipe)
    the span is also bracketed by » «, so it still stands out."""
    start, end = span
    lo, hi = window(art.text, start, end, context)
    console.print(Text(safe(art.title), style="bold"))
    meta = [art.article_id, art.source] + ([art.published] if art.published else [])
    meta.append(f"chars {start}–{end} of {len(art.text)}")
    console.print(Text(safe(" · ".join(meta)), style="dim"))
    console.print()
    plain = console.color_system is None
    body = Text()
    if lo > 0:
        body.append(f"… ({lo} chars before)\n", style="dim")
    body.append(safe(art.text[lo:start]))
    body.append("»" if plain else "", style="bold")
    body.append(safe(art.text[start:end]), style="reverse bold")
    body.append("«" if plain else "", style="bold")
    body.append(safe(art.text[end:hi]))
    if hi < len(art.text):
        body.append(f"\n… ({len(art.text) - hi} chars after)", style="dim")
    console.print(body)

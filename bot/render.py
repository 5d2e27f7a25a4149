"""Answers and articles → terminal text (rich) and JSON. Rendering only: no retrieval, no I/O
beyond the console it is given."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from bot.schema import Answer, Article, Citation


def to_json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2)


def location(c: Citation) -> str:
    return f"{c.source} · chars {c.start}–{c.end}"


def answer(console: Console, ans: Answer, show_timings: bool = False) -> None:
    if ans.standalone_question and ans.standalone_question != ans.question:
        console.print(Text(f"(searched: {ans.standalone_question})", style="dim"))
    if ans.refused:
        console.print(Text(ans.answer, style="yellow"))
    else:
        if ans.short_answer:
            console.print(Text(ans.short_answer, style="bold green"))
            console.print()
        for s in ans.statements:
            marks = "".join(f"[{n}]" for n in s.citations)
            console.print(Text(s.text) + Text(f" {marks}", style="cyan"))
        console.print()
        sources(console, ans.citations, ans.short_answer)
    if ans.notice:
        console.print(Text(f"Note: {ans.notice}", style="dim"))
    if show_timings:
        console.print(Text(" · ".join(f"{k} {v:.0f} ms" for k, v in ans.timings_ms.items()), style="dim"))


def sources(console: Console, cites: list[Citation], highlight: str | None = None) -> None:
    if not cites:
        console.print(Text("No sources.", style="dim"))
        return
    console.print(Text("Sources", style="bold"))
    for c in cites:
        console.print(Text(f"[{c.n}] ", style="cyan") + Text(c.title, style="bold"))
        console.print(Text(f"    {location(c)}", style="dim"))
        quote = Text(f'    "{c.quote}"', style="italic")
        if highlight:
            quote.highlight_words([highlight], style="bold green")
        console.print(quote)


def article(console: Console, art: Article, span: tuple[int, int] | None = None) -> None:
    console.print(Text(art.title, style="bold"))
    meta = [art.article_id, art.source] + ([art.published] if art.published else [])
    console.print(Text(" · ".join(meta), style="dim"))
    console.print()
    body = Text(art.text)
    if span:
        body.stylize("reverse", *span)
    console.print(body)


def article_list(console: Console, arts: list[Article]) -> None:
    if not arts:
        console.print("No articles yet. Add some with: bot ingest PATH")
        return
    for a in arts:
        date = a.published or "          "
        console.print(f"[cyan]{a.article_id}[/cyan]  {date}  {escape(a.title)}  [dim]{escape(a.source)}[/dim]")


def briefing(console: Console, b: Any) -> None:
    """A briefing (bot/schema.py `Briefing`) in the terminal; see bot/briefing_render.py."""
    from bot.briefing_render import terminal

    terminal(console, b)

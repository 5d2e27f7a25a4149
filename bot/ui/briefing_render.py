"""Summaries and briefings → terminal text, Markdown and one self-contained HTML page.

Rendering only: every citation shown here was verified by `bot/answer/citations.py` before it got here.
The HTML page has inline CSS and no external assets (it opens offline, prints, mails), and
shows each citation as a footnote with the quoted span highlighted in its sentence context.
"""

from __future__ import annotations

from html import escape
from itertools import groupby
from typing import Callable

from rich.console import Console
from rich.text import Text

from bot.ui.render import sources
from bot.ui.terminal import safe
from bot.schema import Article, Briefing, Citation, Point, Section, Summary

CONTEXT_CHARS = 80  # characters of article text shown around a quoted span in the HTML footnotes


def summary(console: Console, s: Summary) -> None:
    console.print(Text(safe(s.title), style="bold"))
    console.print()
    for p in s.statements:
        console.print(Text(safe(p.text)) + Text(" " + _marks(p), style="cyan"))
    console.print()
    sources(console, s.citations, shown=[p.text for p in s.statements])
    if s.notice:
        console.print(Text(f"Note: {safe(s.notice)}", style="dim"))


def _marks(p: Point) -> str:
    return "".join(f"[{c.n}]" for c in p.citations)


def _blocks(b: Briefing) -> list[tuple[str, list[Section]]]:
    """Sections as the reader sees them: topic sections gathered under "Key points"."""
    out: list[tuple[str, list[Section]]] = []
    for kind, secs in groupby(b.sections, key=lambda s: s.kind):
        secs = list(secs)
        if kind == "topic":
            out.append(("Key points", secs))
        else:
            out += [(s.heading, [s]) for s in secs]
    return out


def _side_by_side(points: list[Point]) -> list[list[Point]]:
    """Claims in display order: a group of claims on one subject is one row."""
    rows: list[list[Point]] = []
    seen: dict[int, list[Point]] = {}
    for p in points:
        if p.group is None:
            rows.append([p])
        elif p.group in seen:
            seen[p.group].append(p)
        else:
            seen[p.group] = [p]
            rows.append(seen[p.group])
    return rows


def _meta_line(b: Briefing) -> str:
    n = len(b.articles)
    return (f"Generated {b.generated_at} from {n} article{'s' if n != 1 else ''} "
            f"({'language model' if b.mode == 'llm' else 'extractive'}); "
            "every point is quoted from its source.")


# -- Markdown -------------------------------------------------------------------------------


def markdown(b: Briefing) -> str:
    lines = [f"# {b.title}", "", f"_{_meta_line(b)}_", ""]
    if b.notice:
        lines += [f"> Note: {b.notice}", ""]
    for heading, secs in _blocks(b):
        lines += [f"## {heading}", ""]
        for sec in secs:
            if sec.kind == "topic":
                lines += [f"### {sec.heading}", ""]
            lines += _md_points(sec) + [""]
    lines += ["## Sources", ""]
    for c in b.citations:
        lines.append(f"{c.n}. **{c.title}**, {c.source}, chars {c.start}–{c.end}: \u201c{c.quote}\u201d")
    lines += ["", "## Articles", ""]
    lines += [f"- {a.title} ({a.published or 'undated'}), {a.source}" for a in b.articles]
    return "\n".join(lines).rstrip() + "\n"


def _md_points(sec: Section) -> list[str]:
    if sec.kind == "headline":
        return [" ".join(f"{p.text} {_marks(p)}" for p in sec.statements)]
    if sec.kind == "timeline":
        return [f"- **{p.date or 'undated'}**: {p.text} {_marks(p)}" for p in sec.statements]
    if sec.kind == "claims":
        out = []
        for row in _side_by_side(sec.statements):
            if len(row) == 1:
                out.append(f"- **{row[0].claimant or 'Unattributed'}**: {row[0].text} {_marks(row[0])}")
            else:
                out.append("- Side by side, on the same subject:")
                out += [f"  - **{p.claimant or 'Unattributed'}**: {p.text} {_marks(p)}" for p in row]
        return out
    return [f"- {p.text} {_marks(p)}" for p in sec.statements]


# -- HTML ----------------------------------------------------------------------------------

_CSS = """
:root { color-scheme: light; }
body { font: 17px/1.55 Georgia, 'Times New Roman', serif; color: #1d1d1f; background: #fafaf7;
       margin: 0; }
main { max-width: 46rem; margin: 0 auto; padding: 2.5rem 1.5rem 4rem; }
h1 { font-size: 2rem; line-height: 1.2; margin: 0 0 .4rem; }
h2 { font: 600 1.05rem/1.3 system-ui, sans-serif; text-transform: uppercase; letter-spacing: .06em;
     color: #8a3b12; border-bottom: 1px solid #e4ddd0; padding-bottom: .3rem; margin-top: 2.2rem; }
h3 { font: 600 1rem/1.3 system-ui, sans-serif; margin: 1.4rem 0 .4rem; }
.meta { font: .85rem/1.4 system-ui, sans-serif; color: #6b6b6b; }
.notice { background: #fff6db; border-left: 3px solid #e0b000; padding: .5rem .8rem;
          font: .9rem/1.4 system-ui, sans-serif; }
.headline { font-size: 1.2rem; }
ul { padding-left: 1.2rem; } li { margin: .35rem 0; }
.date { font: 600 .85rem system-ui, sans-serif; color: #555; margin-right: .4rem; white-space: nowrap; }
.who { font-weight: 600; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: .8rem; margin: .6rem 0 1rem; }
.pair > div { background: #fff; border: 1px solid #e4ddd0; border-radius: 6px; padding: .6rem .8rem; }
.pair-label { font: .8rem system-ui, sans-serif; color: #6b6b6b; margin-top: 1rem; }
sup a { font: 600 .7rem system-ui, sans-serif; color: #8a3b12; text-decoration: none;
        margin-left: 1px; }
ol.notes { font-size: .88rem; padding-left: 1.6rem; }
ol.notes li { margin: .7rem 0; }
.src { font: .8rem system-ui, sans-serif; color: #6b6b6b; }
.ctx { color: #555; display: block; margin-top: .2rem; }
mark { background: #ffe9a8; color: #1d1d1f; padding: 0 1px; }
.articles { font: .85rem/1.5 system-ui, sans-serif; color: #444; }
"""


def html(b: Briefing) -> str:
    """One self-contained page: inline CSS, no scripts, no external assets."""
    texts = {a.article_id: a for a in b.articles}
    body = [f"<h1>{escape(b.title)}</h1>", f'<p class="meta">{escape(_meta_line(b))}</p>']
    if b.notice:
        body.append(f'<p class="notice">{escape(b.notice)}</p>')
    for heading, secs in _blocks(b):
        body.append(f"<h2>{escape(heading)}</h2>")
        for sec in secs:
            if sec.kind == "topic":
                body.append(f"<h3>{escape(sec.heading)}</h3>")
            body.append(_html_points(sec))
    body.append("<h2>Sources</h2>")
    body.append('<ol class="notes">' + "".join(_footnote(c, texts.get) for c in b.citations) + "</ol>")
    body.append("<h2>Articles</h2>")
    body.append('<ul class="articles">' + "".join(
        f"<li>{escape(a.title)} <span class=\"src\">({escape(a.published or 'undated')}, "
        f"{escape(a.source)})</span></li>" for a in b.articles) + "</ul>")
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(b.title)}</title><style>{_CSS}</style></head>"
            f"<body><main>{''.join(body)}</main></body></html>\n")


def _refs(p: Point) -> str:
    return "".join(f'<sup><a href="#note-{c.n}" id="ref-{c.n}" title="{escape(c.quote)}">[{c.n}]</a></sup>'
                   for c in p.citations)


def _html_points(sec: Section) -> str:
    if sec.kind == "headline":
        return '<p class="headline">' + " ".join(f"{escape(p.text)}{_refs(p)}" for p in sec.statements) + "</p>"
    if sec.kind == "timeline":
        return "<ul>" + "".join(f'<li><span class="date">{escape(p.date or "undated")}</span>'
                                f"{escape(p.text)}{_refs(p)}</li>" for p in sec.statements) + "</ul>"
    if sec.kind == "claims":
        out = []
        singles: list[str] = []
        for row in _side_by_side(sec.statements):
            if len(row) == 1:
                singles.append(f"<li>{_who(row[0])}{escape(row[0].text)}{_refs(row[0])}</li>")
                continue
            if singles:
                out.append("<ul>" + "".join(singles) + "</ul>")
                singles = []
            out.append('<div class="pair-label">Side by side, on the same subject:</div><div class="pair">'
                       + "".join(f"<div>{_who(p)}{escape(p.text)}{_refs(p)}</div>" for p in row) + "</div>")
        if singles:
            out.append("<ul>" + "".join(singles) + "</ul>")
        return "".join(out)
    return "<ul>" + "".join(f"<li>{escape(p.text)}{_refs(p)}</li>" for p in sec.statements) + "</ul>"


def _who(p: Point) -> str:
    return f'<span class="who">{escape(p.claimant or "Unattributed")}:</span> '


def _footnote(c: Citation, article: Callable[[str], Article | None]) -> str:
    """The citation with its quoted span marked inside the text around it."""
    a = article(c.article_id)
    if a is not None and a.text[c.start:c.end] == c.quote:
        lo, hi = max(0, c.start - CONTEXT_CHARS), min(len(a.text), c.end + CONTEXT_CHARS)
        before = ("…" if lo else "") + a.text[lo:c.start]
        after = a.text[c.end:hi] + ("…" if hi < len(a.text) else "")
        span = f"{escape(before)}<mark>{escape(c.quote)}</mark>{escape(after)}"
    else:
        span = f"<mark>{escape(c.quote)}</mark>"
    return (f'<li id="note-{c.n}"><strong>{escape(c.title)}</strong> '
            f'<span class="src">{escape(c.source)} · chars {c.start}–{c.end}</span>'
            f'<span class="ctx">{span}</span></li>')


def terminal(console: Console, b: Briefing) -> None:
    """A briefing in the terminal (the chat's /brief): its Markdown, rendered by rich."""
    from rich.markdown import Markdown

    console.print(Markdown(safe(markdown(b))))

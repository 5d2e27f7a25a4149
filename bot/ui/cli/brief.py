"""Summaries and briefings: `summarize` one article, `brief` over many."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from bot.ui import terminal
from bot.ui.cli.common import (BRIEF_FORMATS, DATES, ProgressBar, app, bot_of, choice, examples, fail,
                               out)


@app.command("summarize", epilog=examples("bot summarize f7985a03bbf30fbd --sentences 2"))
def summarize_cmd(
    ctx: typer.Context,
    article_id: str = typer.Argument(..., help="Article id (see bot sources)."),
    sentences: int = typer.Option(3, "--sentences", "-n", help="At most this many sentences."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Summarise one article; every sentence cites its source span."""
    from bot.ui import briefing_render, render

    summary = bot_of(ctx).summarize(article_id, max_sentences=sentences)
    if json_out:
        out.print(render.to_json(summary.to_dict()), markup=False)
    else:
        briefing_render.summary(out, summary)


@app.command("brief", epilog=examples("bot brief --since \"last week\" --topic \"missile tests\"",
                                       "bot brief --format html --out brief.html"))
def brief_cmd(
    ctx: typer.Context,
    since: Optional[str] = typer.Option(None, "--since", metavar="DATE",
                                        help=f"Only articles published on/after this day ({DATES})."),
    until: Optional[str] = typer.Option(None, "--until", metavar="DATE",
                                        help="Only articles published on/before this day (inclusive)."),
    topic: Optional[str] = typer.Option(None, "--topic", help="Only articles about this topic."),
    source: Optional[str] = typer.Option(None, "--source", help="Only articles whose source contains this."),
    max_points: int = typer.Option(12, "--max-points", help="Headline and key points together (timeline and claims add up to half as many each)."),
    fmt: str = typer.Option("md", "--format", metavar="|".join(BRIEF_FORMATS),
                            help="Markdown, one HTML page, or JSON."),
    out_file: Optional[Path] = typer.Option(None, "--out", help="Write to this file instead of stdout."),
) -> None:
    """A briefing over many articles: headline, key points by topic, timeline, claims to watch."""
    from bot.ui import briefing_render, render

    choice(fmt, "--format", BRIEF_FORMATS)
    with ProgressBar("Briefing", "steps") as progress:
        result = bot_of(ctx).brief(since=since, until=until, topic=topic, source=source,
                                 max_points=max_points, progress=progress, flags=True)
    text = {"md": briefing_render.markdown, "html": briefing_render.html,
            "json": lambda b: render.to_json(b.to_dict()) + "\n"}[fmt](result)
    if fmt != "json":  # JSON is exact and escaped already
        text = terminal.safe(text)
    if out_file is None:
        sys.stdout.write(text)
        return
    try:
        out_file.write_text(text, encoding="utf-8")
    except OSError as e:
        fail(f"--out {out_file}: cannot write ({e.strerror or e}); check the path")
    out.print(f"wrote {out_file} ({len(result.sections)} sections, {len(result.citations)} citations)",
              markup=False)

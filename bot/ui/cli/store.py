"""Commands that fill and look after the store: ingest, watch, sources, show, forget, stats,
reindex, and config (which store is in use)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from bot.ui.cli.common import (DATES, ProgressBar, app, bot_of, err, examples, fail, out, plural,
                               settings_of)
from bot.ui.terminal import safe_line


@app.command("ingest", epilog=examples("bot ingest seeds/ https://example.org/news/article.html",
                                        "bot ingest --feed https://example.org/rss.xml"))
def ingest_cmd(
    ctx: typer.Context,
    paths: list[str] = typer.Argument(
        ..., help="Files or folders (.txt, .md, .html, .pdf), or http(s) URLs of pages and PDFs."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    collection: Optional[str] = typer.Option(None, "--collection", "-c",
                                             help="Collection to put them in (BOT_COLLECTION)."),
    feed: bool = typer.Option(False, "--feed", help="The arguments are RSS/Atom feed URLs."),
) -> None:
    """Add articles: files and folders (recursive), web pages, PDFs, or feeds (--feed)."""
    from bot.ui import render
    from bot.core import SUFFIXES

    bot = bot_of(ctx)
    with ProgressBar("Ingesting", "chunks") as progress:
        report = bot.ingest_feeds(paths, collection=collection, progress=progress) if feed else \
            bot.ingest(paths, collection=collection, progress=progress)
    for note in report.notes:
        err.print(f"note: {safe_line(note)}", markup=False)
    for kind, count in sorted(report.skipped.items()):
        files = plural(count, f"{kind} file") if kind else plural(count, "file") + " with no extension"
        err.print(f"skipped: {files} (not a supported type: "
                  f"{', '.join(sorted(SUFFIXES))})", markup=False)
    for failure in report.failed:
        err.print(f"error: {safe_line(failure.line())}", markup=False)
    if json_out:
        out.print(render.to_json(report.to_dict()), markup=False)
    else:
        out.print(f"{report.summary()} ({plural(report.chunks, 'chunk')})", markup=False)
    raise typer.Exit(1 if report.failed else 0)


@app.command("watch", epilog=examples("bot watch --feed https://example.org/rss.xml --every 30m"))
def watch_cmd(
    ctx: typer.Context,
    feeds: list[str] = typer.Option(..., "--feed", metavar="URL",
                                    help="RSS/Atom feed URL (repeat for more)."),
    every: str = typer.Option("15m", "--every", metavar="INTERVAL",
                              help="Time between polls: 30s, 15m, 1h..."),
    max_polls: Optional[int] = typer.Option(None, "--max-polls", min=1, metavar="N",
                                            help="Stop after this many polls (default: never)."),
) -> None:
    """Poll feeds until stopped (Ctrl-C), ingesting new and updated entries."""
    import datetime as dt

    from bot.util.datefilter import parse_interval

    try:
        seconds = parse_interval(every)
    except ValueError as e:
        fail(f"--every {e}")
    bot = bot_of(ctx)

    fetched = []  # polls in which some feed answered (a fetch, even with nothing new)

    def on_poll(n: int, report) -> None:
        if report.added or report.updated or report.unchanged or not report.failed:
            fetched.append(n)
        stamp = dt.datetime.now().strftime("%H:%M:%S")
        out.print(f"{stamp} poll {n}: {report.summary()} ({plural(report.chunks, 'chunk')})", markup=False)
        for source in report.added:
            out.print(f"  added {source}", markup=False)
        for source in report.updated:
            out.print(f"  updated {source}", markup=False)
        for note in report.notes:
            err.print(f"note: {safe_line(note)}", markup=False)
        for failure in report.failed:
            err.print(f"error: {safe_line(failure.line())}", markup=False)

    out.print(f"watching {len(feeds)} feed(s) every {every}; Ctrl-C stops", markup=False)
    polls = 0
    try:
        polls = bot.watch_feeds(feeds, seconds, on_poll, max_polls=max_polls)
    except KeyboardInterrupt:
        out.print("stopped", markup=False)
        raise typer.Exit(0)
    out.print(f"stopped after {polls} poll(s)", markup=False)
    if polls and not fetched:
        fail(f"nothing could be fetched in {polls} poll(s); check the feed URLs and the network")


@app.command("show", epilog=examples("bot show f7985a03bbf30fbd --span 0:271"))
def show_cmd(ctx: typer.Context, article_id: str = typer.Argument(
                 ..., help="Article id, or a unique prefix of it (see bot sources)."),
             json_out: bool = typer.Option(False, "--json", help="Print as JSON."),
             span: Optional[str] = typer.Option(None, "--span", metavar="START:END",
                                                help="Show only this span (character offsets, as cited) "
                                                     "in its paragraph, highlighted.")) -> None:
    """Print an article's stored text and metadata."""
    from bot.ui import render

    bot = bot_of(ctx)
    article = bot.article(bot.resolve_id(article_id))
    if article is None:
        fail(f"{article_id}: no such article; list them with: bot sources")
    chars = _span(span, len(article.text)) if span is not None else None
    if json_out:
        out.print(render.to_json(article.to_dict()), markup=False)
    elif chars:
        render.article_window(out, article, chars)
    else:
        render.article(out, article)


def _span(text: str, length: int) -> tuple[int, int]:
    """`START:END` as character offsets inside an article of `length` characters."""
    start, sep, end = text.partition(":")
    if not (sep and start.strip().isdigit() and end.strip().isdigit()):
        fail(f"--span {text!r}: give character offsets START:END, e.g. --span 0:120")
    first, last = int(start), int(end)
    if not first < last <= length:
        fail(f"--span {text!r}: the article has {length} characters; "
              f"give 0 <= START < END <= {length}")
    return first, last


@app.command("sources", epilog=examples("bot sources --since 7d --source reuters", "bot sources --json"))
def sources_cmd(
    ctx: typer.Context,
    json_out: bool = typer.Option(False, "--json", help="Print as JSON."),
    source: Optional[str] = typer.Option(None, "--source", help="Only articles whose source contains this."),
    since: Optional[str] = typer.Option(None, "--since", metavar="DATE",
                                        help=f"Only articles published on/after this day ({DATES})."),
    until: Optional[str] = typer.Option(None, "--until", metavar="DATE",
                                        help="Only articles published on/before this day (inclusive)."),
) -> None:
    """List the articles in the store, newest first: title, source, date, chunks and id."""
    from bot.ui import render
    from bot.util.datefilter import parse_range
    from bot.core import Filters

    since, until = parse_range(since, until, ("--since", "--until"))
    filters = Filters(source=source, since=since, until=until)
    rows = bot_of(ctx).catalog(filters)
    if json_out:
        out.print(render.to_json([{**a.to_dict(with_text=False), "chunks": n} for a, n in rows]),
                  markup=False)
    elif not rows and not filters.empty:
        out.print("No articles match these filters; list them all with: bot sources", markup=False)
    else:
        render.article_table(out, rows)


@app.command("forget", epilog=examples("bot forget f7985a03 3c1d0e2a", "bot forget --source old-feed.example"))
def forget_cmd(
    ctx: typer.Context,
    article_ids: Optional[list[str]] = typer.Argument(
        None, help="Article ids, or unique prefixes of them (see bot sources)."),
    source: Optional[str] = typer.Option(
        None, "--source", help="Forget every article whose source contains this "
                               "(see which first with: bot sources --source TEXT)."),
) -> None:
    """Remove articles and all their chunks: by id (several at once), or by --source."""
    from bot.errors import BotError
    from bot.core import Filters

    if not article_ids and not source:
        fail("name what to forget: bot forget ID [ID...] or bot forget --source TEXT")
    bot, failed = bot_of(ctx), 0
    targets: dict[str, str] = {}  # id -> what to call it
    for wanted in article_ids or []:
        try:
            targets[bot.resolve_id(wanted)] = wanted
        except BotError as e:
            err.print(f"error: {e}", markup=False)
            failed += 1
    if source:
        matched = bot.catalog(Filters(source=source))
        if not matched:
            err.print(f"error: --source {source!r}: no article's source contains it; "
                      "list them with: bot sources", markup=False)
            failed += 1
        targets.update({a.article_id: a.source for a, _ in matched})
    for article_id in targets:
        if bot.forget(article_id):
            out.print(f"forgot {article_id}", markup=False)
        else:  # gone meanwhile (another process forgot it)
            err.print(f"error: {article_id}: no such article; list them with: bot sources", markup=False)
            failed += 1
    raise typer.Exit(1 if failed else 0)


@app.command("stats", epilog=examples("bot stats --json", "bot stats --repair"))
def stats_cmd(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print as JSON."),
              repair: bool = typer.Option(False, "--repair",
                                          help="First remove what interrupted writes left.")) -> None:
    """Show articles, chunks, store size and the embedding model."""
    from bot.ui import render

    bot = bot_of(ctx)
    if repair:
        err.print(f"repaired: removed {len(bot.repair())} interrupted write(s)", markup=False)
    stats = bot.stats()
    if json_out:
        out.print(render.to_json(stats.to_dict()), markup=False)
        return
    size = "n/a (Chroma server)" if stats.size_bytes is None else f"{stats.size_bytes / 1e6:.1f} MB"
    rows = [("collection", stats.collection), ("articles", str(stats.articles)),
            ("chunks", str(stats.chunks)), ("embedding model", stats.embedding_model),
            ("store", stats.location), ("size", size)]
    if stats.pending_articles:
        rows.append(("pending writes", f"{stats.pending_articles} article(s), "
                                       f"{stats.pending_chunks} chunk(s), not counted above"))
    for key, value in rows:
        out.print(f"{key.ljust(15)}  {value}", markup=False)
    if stats.stale_articles:
        out.print(f"note: {stats.stale_articles} write(s) were interrupted; the next `bot ingest` "
                  "removes them, or run: bot stats --repair", markup=False)
    if stats.configured_model and stats.configured_model != stats.embedding_model:
        out.print(f"note: the bot is configured for '{stats.configured_model}'; "
                  "run `bot reindex` to rebuild with it", markup=False)


@app.command("reindex", epilog=examples("BOT_EMBEDDINGS=openai bot reindex"))
def reindex_cmd(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Re-chunk and re-embed every stored article, after changing BOT_EMBEDDINGS for one."""
    from bot.ui import render

    with ProgressBar("Reindexing", "articles") as progress:
        report = bot_of(ctx).reindex(progress=progress)
    if json_out:
        out.print(render.to_json(report.to_dict()), markup=False)
    else:
        out.print(report.summary(), markup=False)


@app.command("config", epilog=examples("bot config --json"))
def config_cmd(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Print the effective settings (secrets masked)."""
    from bot.ui import render

    settings = settings_of(ctx)
    shown = settings.masked(typed=json_out)
    if json_out:
        out.print(render.to_json(shown), markup=False)
    else:
        width = max(map(len, shown))
        for key, value in shown.items():
            out.print(f"{key.ljust(width)}  {value}", markup=False)
        out.print(f"\nstore in use: {_store_in_use(ctx, settings)}", markup=False)


def _store_in_use(ctx: typer.Context, settings: Any) -> str:
    """Which store the commands use, and why that one."""
    from bot.util.location import explain
    from bot.util.redact import redact

    if settings.chroma_url:
        return f"the Chroma server at {redact(settings.chroma_url)} (BOT_CHROMA_URL)"
    why = explain(flag=(ctx.obj or {}).get("store_dir") is not None)
    return f"{Path(settings.store_dir).absolute()} ({why})"

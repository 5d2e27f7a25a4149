"""`bot` on the command line: a thin typer adapter over the `Bot` facade.

Flags override the environment, which overrides `.env` (see bot/config.py). Expected failures
print one line to stderr and exit non-zero, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from bot import terminal
from bot.terminal import safe_line

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  pretty_exceptions_enable=False,
                  help="Ask questions of news articles and get answers that cite exact source spans.")

# Every line the CLI prints goes through consoles that neutralise control characters and redact
# secrets (bot/terminal.py); error lines are also kept to one line (`safe_line`).
out = terminal.console(highlight=False, soft_wrap=True)
err = terminal.console(stderr=True, highlight=False, soft_wrap=True)


def _settings(ctx: typer.Context):
    from bot.config import Settings

    return Settings.load(ctx.obj or {})


def _bot(ctx: typer.Context):
    from bot.core import Bot

    return Bot(_settings(ctx))


@app.callback()
def main_options(
    ctx: typer.Context,
    store_dir: Optional[Path] = typer.Option(None, "--store-dir", help="Embedded store folder (BOT_STORE_DIR)."),
    chroma_url: Optional[str] = typer.Option(None, "--chroma-url", help="Chroma server URL (BOT_CHROMA_URL)."),
    collection: Optional[str] = typer.Option(None, "--collection", "-c", help="Collection (BOT_COLLECTION)."),
    embeddings: Optional[str] = typer.Option(None, "--embeddings", help="local or openai (BOT_EMBEDDINGS)."),
) -> None:
    ctx.obj = {"store_dir": store_dir, "chroma_url": chroma_url, "collection": collection,
               "embeddings": embeddings}


@app.command("ingest")
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
    from bot import render

    bot = _bot(ctx)
    with _progress("Ingesting") as progress:
        report = bot.ingest_feeds(paths, collection=collection, progress=progress) if feed else \
            bot.ingest(paths, collection=collection, progress=progress)
    for note in report.notes:
        err.print(f"note: {safe_line(note)}", markup=False)
    for failure in report.failed:
        err.print(f"error: {safe_line(failure.line())}", markup=False)
    if json_out:
        out.print(render.to_json(report.to_dict()), markup=False)
    else:
        out.print(f"{report.summary()} ({report.chunks} chunks)", markup=False)
    raise typer.Exit(1 if report.failed else 0)


@app.command("watch")
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

    from bot.feeds import parse_interval

    try:
        seconds = parse_interval(every)
    except ValueError as e:
        _fail(f"--every {e}")
    bot = _bot(ctx)

    fetched = []  # polls in which some feed answered (a fetch, even with nothing new)

    def on_poll(n: int, report) -> None:
        if report.added or report.updated or report.unchanged or not report.failed:
            fetched.append(n)
        stamp = dt.datetime.now().strftime("%H:%M:%S")
        out.print(f"{stamp} poll {n}: {report.summary()} ({report.chunks} chunks)", markup=False)
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
        _fail(f"nothing could be fetched in {polls} poll(s); check the feed URLs and the network")


@app.command("ask")
def ask_cmd(
    ctx: typer.Context,
    question: str = typer.Argument(..., help="The question."),
    json_out: bool = typer.Option(False, "--json", help="Print the answer as JSON."),
    k: Optional[int] = typer.Option(None, "--top-k", "-k", help="Passages to retrieve (BOT_TOP_K)."),
    source: Optional[str] = typer.Option(None, "--source", help="Only articles whose source contains this."),
    since: Optional[str] = typer.Option(None, "--since", help="Only articles published on/after (YYYY-MM-DD)."),
    until: Optional[str] = typer.Option(None, "--until", help="Only articles published on/before (YYYY-MM-DD)."),
    timings: bool = typer.Option(False, "--timings", help="Show how long each step took."),
) -> None:
    """Ask a question; the answer cites exact spans of the articles."""
    from bot import render
    from bot.config import check
    from bot.retrieval import Filters

    question = terminal.text_arg(question)
    if not question.strip():
        _fail("the question is empty; ask something, e.g. bot ask \"What range was claimed?\"")
    if k is not None:
        check("top_k", k, "--top-k")
    bot, filters = _bot(ctx), Filters(source=source, since=since, until=until)
    warming = bot.preload()  # the model loads while Chroma is imported and opened
    try:
        if out.is_terminal and not json_out:
            # Print the model's words as they arrive, then the verified answer in their place.
            render.streamed_answer(out, bot.ask_stream(question, k=k, filters=filters),
                                   show_timings=timings)
            return
        answer = bot.ask(question, k=k, filters=filters)
    finally:
        if warming:
            warming.join()
    if json_out:
        out.print(render.to_json(answer.to_dict()), markup=False)
    else:
        render.answer(out, answer, show_timings=timings)


@app.command("show")
def show_cmd(ctx: typer.Context, article_id: str = typer.Argument(..., help="Article id (see bot sources)."),
             json_out: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Print an article's stored text and metadata."""
    from bot import render

    article = _bot(ctx).article(article_id)
    if article is None:
        _fail(f"{article_id}: no such article; list them with: bot sources")
    if json_out:
        out.print(render.to_json(article.to_dict()), markup=False)
    else:
        render.article(out, article)


@app.command("sources")
def sources_cmd(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List the articles in the store."""
    from bot import render

    arts = _bot(ctx).articles(with_text=False)
    if json_out:
        out.print(render.to_json([a.to_dict(with_text=False) for a in arts]), markup=False)
    else:
        render.article_list(out, arts)


@app.command("forget")
def forget_cmd(ctx: typer.Context, article_id: str = typer.Argument(..., help="Article id.")) -> None:
    """Remove an article and all its chunks."""
    if not _bot(ctx).forget(article_id):
        _fail(f"{article_id}: no such article; list them with: bot sources")
    out.print(f"forgot {article_id}", markup=False)


@app.command("stats")
def stats_cmd(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print as JSON."),
              repair: bool = typer.Option(False, "--repair",
                                          help="First remove what interrupted writes left.")) -> None:
    """Show articles, chunks, store size and the embedding model."""
    from bot import render

    bot = _bot(ctx)
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


@app.command("reindex")
def reindex_cmd(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Re-chunk and re-embed every stored article, after changing BOT_EMBEDDINGS for one."""
    from bot import render

    with _progress("Reindexing") as progress:
        report = _bot(ctx).reindex(progress=progress)
    if json_out:
        out.print(render.to_json(report.to_dict()), markup=False)
    else:
        out.print(report.summary(), markup=False)


@app.command("config")
def config_cmd(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Print the effective settings (secrets masked)."""
    from bot import render

    shown = _settings(ctx).masked()
    if json_out:
        out.print(render.to_json(shown), markup=False)
    else:
        width = max(map(len, shown))
        for key, value in shown.items():
            out.print(f"{key.ljust(width)}  {value}", markup=False)


@app.command("slack")
def slack_cmd(
    ctx: typer.Context,
    http: bool = typer.Option(False, "--http", help="Serve the HTTP Events API instead of Socket Mode."),
    port: int = typer.Option(3000, "--port", help="HTTP port (with --http)."),
    host: str = typer.Option("127.0.0.1", "--host", help="HTTP address (with --http); 0.0.0.0 = all."),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
) -> None:
    """Run the Slack app: Socket Mode when SLACK_APP_TOKEN is set, else --http."""
    from bot.slack.app import run

    run(_bot(ctx), http=http, host=host, port=port, log_level=log_level)


@app.command("feedback")
def feedback_cmd(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Export the 👍/👎 clicks on Slack answers, with their questions, answers and citations."""
    from bot import render
    from bot.slack.ledger import FILE_NAME, Ledger

    store_dir = _settings(ctx).store_dir
    rows = Ledger(store_dir).feedback() if (Path(store_dir) / FILE_NAME).is_file() else []
    if json_out:
        out.print(render.to_json(rows), markup=False)
    elif not rows:
        out.print("No feedback yet.", markup=False)
    for r in rows if not json_out else []:
        mark = "+1" if r["vote"] == "up" else "-1"
        out.print(f"{r['at']}  {mark}  {r['question']}  ->  {r['short_answer'] or r['answer']}", markup=False)


@app.command("chat")
def chat_cmd(
    ctx: typer.Context,
    resume: bool = typer.Option(False, "--continue", help="Resume the most recent session."),
    session: Optional[str] = typer.Option(None, "--session", "-s", help="Resume or start the session NAME."),
    list_sessions: bool = typer.Option(False, "--list", help="List the saved sessions and exit."),
) -> None:
    """Chat with the articles: follow-ups use the conversation; /help lists commands.

    With stdin piped, reads one question per line and prints plain answers."""
    from bot import chat

    if list_sessions:
        chat.list_sessions(_settings(ctx), out)
        return
    raise typer.Exit(chat.run(_settings(ctx), session=session, resume=resume))


@app.command("summarize")
def summarize_cmd(
    ctx: typer.Context,
    article_id: str = typer.Argument(..., help="Article id (see bot sources)."),
    sentences: int = typer.Option(3, "--sentences", "-n", help="At most this many sentences."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Summarise one article; every sentence cites its source span."""
    from bot import briefing_render, render

    summary = _bot(ctx).summarize(article_id, max_sentences=sentences)
    if json_out:
        out.print(render.to_json(summary.to_dict()), markup=False)
    else:
        briefing_render.summary(out, summary)


@app.command("brief")
def brief_cmd(
    ctx: typer.Context,
    since: Optional[str] = typer.Option(None, "--since", help="Only articles published on/after (YYYY-MM-DD)."),
    until: Optional[str] = typer.Option(None, "--until", help="Only articles published on/before (YYYY-MM-DD)."),
    topic: Optional[str] = typer.Option(None, "--topic", help="Only articles about this topic."),
    source: Optional[str] = typer.Option(None, "--source", help="Only articles whose source contains this."),
    max_points: int = typer.Option(12, "--max-points", help="Headline and key points together (timeline and claims add up to half as many each)."),
    fmt: str = typer.Option("md", "--format", help="md, html or json."),
    out_file: Optional[Path] = typer.Option(None, "--out", help="Write to this file instead of stdout."),
) -> None:
    """A briefing over many articles: headline, key points by topic, timeline, claims to watch."""
    from bot import briefing_render, render

    if fmt not in ("md", "html", "json"):
        _fail(f"--format {fmt!r}: use md, html or json")
    with _progress("Briefing") as progress:
        result = _bot(ctx).brief(since=since, until=until, topic=topic, source=source,
                                 max_points=max_points, progress=progress)
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
        _fail(f"--out {out_file}: cannot write ({e.strerror or e}); check the path")
    out.print(f"wrote {out_file} ({len(result.sections)} sections, {len(result.citations)} citations)",
              markup=False)


def _fail(message: str, code: int = 1) -> None:
    err.print(f"error: {safe_line(message)}", markup=False)
    raise typer.Exit(code)


class _progress:
    """A progress bar on stderr when it is a terminal; silent otherwise."""

    def __init__(self, label: str):
        self.label = label
        self.bar: Any = None

    def __enter__(self):
        if not err.is_terminal:
            return None
        from rich.progress import Progress

        self.bar = Progress(console=err, transient=True)
        self.bar.start()
        self.task = self.bar.add_task(self.label, total=None)
        return self

    def __call__(self, done: int, total: int) -> None:
        self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc: Any) -> None:
        if self.bar:
            self.bar.stop()


def main() -> None:
    """Console entry point: expected failures become one line on stderr, not a traceback."""
    from bot.errors import BotError

    try:
        app()
    except BotError as e:
        err.print(f"error: {safe_line(str(e))}", markup=False)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        sys.exit(130)

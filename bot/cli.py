"""`bot` on the command line: a thin typer adapter over the `Bot` facade.

Flags override the environment, which overrides `.env` (see bot/config.py). Expected failures
print one line to stderr and exit non-zero, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  pretty_exceptions_enable=False,
                  help="Ask questions of news articles and get answers that cite exact source spans.")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


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
    paths: list[str] = typer.Argument(..., help="Files or folders (.txt, .md, .html)."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Add articles: files and folders (recursive)."""
    from bot import render

    bot = _bot(ctx)
    with _progress("Ingesting") as progress:
        report = bot.ingest(paths, progress=progress)
    for failure in report.failed:
        err.print(f"error: {failure.line()}", markup=False)
    if json_out:
        out.print(render.to_json(report.to_dict()), markup=False)
    else:
        out.print(f"{report.summary()} ({report.chunks} chunks)", markup=False)
    raise typer.Exit(1 if report.failed else 0)


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
    from bot.retrieval import Filters

    if not question.strip():
        _fail("the question is empty; ask something, e.g. bot ask \"What range was claimed?\"")
    bot = _bot(ctx)
    warming = bot.preload()  # the model loads while Chroma is imported and opened
    try:
        answer = bot.ask(question, k=k, filters=Filters(source=source, since=since, until=until))
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
def stats_cmd(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Show articles, chunks, store size and the embedding model."""
    from bot import render

    stats = _bot(ctx).stats()
    if json_out:
        out.print(render.to_json(stats.to_dict()), markup=False)
        return
    size = "n/a (Chroma server)" if stats.size_bytes is None else f"{stats.size_bytes / 1e6:.1f} MB"
    rows = [("collection", stats.collection), ("articles", str(stats.articles)),
            ("chunks", str(stats.chunks)), ("embedding model", stats.embedding_model),
            ("store", stats.location), ("size", size)]
    for key, value in rows:
        out.print(f"{key.ljust(15)}  {value}", markup=False)
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


def _fail(message: str, code: int = 1) -> None:
    err.print(f"error: {message}", markup=False)
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
        err.print(f"error: {e}", markup=False)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        sys.exit(130)

"""`bot` on the command line: a thin typer adapter over the `Bot` facade.

Flags override the environment, which overrides `.env` (see bot/config.py). Expected failures
print one line to stderr and exit non-zero, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn, Optional

import typer

from bot.ui import terminal
from bot.ui.terminal import safe_line

# add_completion: typer's --install-completion / --show-completion write a script that calls
# back into `bot` itself; nothing is downloaded.
app = typer.Typer(add_completion=True, no_args_is_help=True, rich_markup_mode=None,
                  pretty_exceptions_enable=False,
                  help="Ask questions of news articles and get answers that cite exact source spans.")

DATES = "YYYY-MM-DD, today, yesterday, 7d, 2w, last week"


def examples(*lines: str) -> str:
    """A command's help epilog; \\b keeps click from re-wrapping the lines into one."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


# Options with a fixed set of values are plain strings checked by `_choice`, so that a wrong
# value is one line naming the flag (click's own check prints a usage block); the metavar
# shows the choices in --help.
EMBEDDINGS, ANSWER_FORMATS, BRIEF_FORMATS = ("local", "openai"), ("text", "md", "json"), ("md", "html", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")


def _choice(value: str | None, flag: str, choices: tuple[str, ...]) -> str | None:
    if value is not None and value not in choices:
        _fail(f"{flag} {value!r}: use {', '.join(choices[:-1])} or {choices[-1]}")
    return value


# Every line the CLI prints goes through consoles that neutralise control characters and redact
# secrets (bot/ui/terminal.py); error lines are also kept to one line (`safe_line`).
out = terminal.console(highlight=False, soft_wrap=True)
err = terminal.console(stderr=True, highlight=False, soft_wrap=True)


def _settings(ctx: typer.Context):
    from bot.config import Settings

    return Settings.load(ctx.obj or {})


def _bot(ctx: typer.Context):
    from bot.core import Bot

    return Bot(_settings(ctx))


def _version(show: bool) -> None:
    if show:
        from bot import __version__

        out.print(f"bot {__version__}", markup=False)
        raise typer.Exit()


@app.callback(epilog=examples("bot ingest seeds/", "bot ask \"What range was claimed?\" --since 7d"))
def main_options(
    ctx: typer.Context,
    store_dir: Optional[Path] = typer.Option(None, "--store-dir", help="Embedded store folder (BOT_STORE_DIR)."),
    chroma_url: Optional[str] = typer.Option(None, "--chroma-url", help="Chroma server URL (BOT_CHROMA_URL)."),
    collection: Optional[str] = typer.Option(None, "--collection", "-c", help="Collection (BOT_COLLECTION)."),
    embeddings: Optional[str] = typer.Option(None, "--embeddings", metavar="|".join(EMBEDDINGS),
                                             help="Embedding backend (BOT_EMBEDDINGS)."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    ctx.obj = {"store_dir": store_dir, "chroma_url": chroma_url, "collection": collection,
               "embeddings": _choice(embeddings, "--embeddings", EMBEDDINGS)}


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

    bot = _bot(ctx)
    with _progress("Ingesting", "chunks") as progress:
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


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


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
        _fail(f"--every {e}")
    bot = _bot(ctx)

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
        _fail(f"nothing could be fetched in {polls} poll(s); check the feed URLs and the network")


@app.command("ask", epilog=examples("bot ask \"What range was claimed?\" --since 7d --format md",
                                     "echo \"What range was claimed?\" | bot ask"))
def ask_cmd(
    ctx: typer.Context,
    question: Optional[str] = typer.Argument(None, help="The question; read from stdin when not given."),
    json_out: bool = typer.Option(False, "--json", help="Print the answer as JSON (= --format json)."),
    fmt: str = typer.Option("text", "--format", metavar="|".join(ANSWER_FORMATS),
                            help="text for the terminal, md for Markdown with footnotes, json."),
    k: Optional[int] = typer.Option(None, "--top-k", "-k", help="Passages to retrieve (BOT_TOP_K)."),
    source: Optional[str] = typer.Option(None, "--source", help="Only articles whose source contains this."),
    since: Optional[str] = typer.Option(None, "--since", metavar="DATE",
                                        help=f"Only articles published on/after this day ({DATES})."),
    until: Optional[str] = typer.Option(None, "--until", metavar="DATE",
                                        help="Only articles published on/before this day (inclusive)."),
    timings: bool = typer.Option(False, "--timings", help="Show how long each step took."),
) -> None:
    """Ask a question; the answer cites exact spans of the articles."""
    from bot.config import check
    from bot.util.datefilter import parse_range

    if question is None:
        if sys.stdin.isatty():
            _fail("no question; give one (bot ask \"What range was claimed?\") or pipe it in "
                  "(echo \"What range was claimed?\" | bot ask)")
        if hasattr(sys.stdin, "reconfigure"):  # bytes that are not UTF-8 are asked, not a traceback
            sys.stdin.reconfigure(errors="replace")
        question = sys.stdin.read()
    question = terminal.text_arg(question)
    if not question.strip():
        _fail("the question is empty; ask something, e.g. bot ask \"What range was claimed?\"")
    fmt = "json" if json_out else _choice(fmt, "--format", ANSWER_FORMATS)
    if k is not None:
        check("top_k", k, "--top-k")
    since, until = parse_range(since, until, ("--since", "--until"))
    settings = _settings(ctx)
    answer = _warm_answer(settings, {"question": question, "k": k, "source": source,
                                     "since": since, "until": until})
    if answer is None:  # no warm `bot serve`: do the work here, then start one for the next ask
        _ask_here(settings, question, k, fmt, timings, source, since, until)
        _start_warm(ctx, settings)
        return
    _show_answer(settings, answer, fmt, timings)


def _ask_here(settings: Any, question: str, k: int | None, fmt: str,
              timings: bool, source: str | None, since: Any, until: Any) -> None:
    """Answer in this process (no warm process to ask) and show the answer."""
    from bot.ui import render
    from bot.core import Bot, Filters

    bot, filters = Bot(settings), Filters(source=source, since=since, until=until)
    warming = bot.preload()  # the model loads while Chroma is imported and opened
    try:
        if out.is_terminal and fmt == "text":
            # Print the model's words as they arrive, then the verified answer in their place.
            _log_ask(settings, render.streamed_answer(
                out, bot.ask_stream(question, k=k, filters=filters), show_timings=timings))
            return
        answer = bot.ask(question, k=k, filters=filters)
    finally:
        if warming:
            warming.join()
    _show_answer(settings, answer, fmt, timings)


def _show_answer(settings: Any, answer: Any, fmt: str, timings: bool) -> None:
    from bot.ui import render

    _log_ask(settings, answer)
    if fmt == "json":
        out.print(render.to_json(answer.to_dict()), markup=False)
    elif fmt == "md":
        out.print(render.answer_markdown(answer), markup=False, end="")
    else:
        render.answer(out, answer, show_timings=timings)


def _start_warm(ctx: typer.Context, settings: Any) -> None:
    """Start this store's warm process in the background (bot/ui/warm.py says when it does not)
    with this command's settings: the same environment and folder, and the global flags given
    as their environment variables (a process's environment is its owner's to read, unlike its
    command line, and --chroma-url may hold a password)."""
    from bot.ui import warm
    from bot.config import env_name

    flags = {env_name(name): str(value) for name, value in (ctx.obj or {}).items() if value is not None}
    warm.start(settings, [sys.executable, "-m", "bot", "serve", "--idle", f"{settings.warm_idle:g}"],
               flags)


def _warm_answer(settings: Any, request: dict[str, Any]) -> Any:
    """The answer of this store's warm process (`bot serve`), or None when there is none."""
    from bot.ui import warm

    reply = warm.ask(settings, request)
    if reply is None:
        return None
    if "error" in reply:
        _fail(str(reply["error"]), int(reply.get("exit_code") or 1))
    from bot.ui.history import answer_from_dict

    try:
        return answer_from_dict(reply["answer"])
    except (KeyError, TypeError):  # not an answer after all: answer in-process
        return None


def _log_ask(settings: Any, answer: Any) -> None:
    """Keep the question and its answer for `bot log` (unless BOT_LOG is off); a log that
    cannot be written costs a note, not the answer."""
    from bot.ui.history import History, HistoryError

    if answer is None or not settings.log_questions:
        return
    try:
        history = History(settings.store_dir)
        try:
            history.add_ask(answer, settings.collection)
        finally:
            history.close()
    except HistoryError as e:
        err.print(f"note: not logged: {e}", markup=False)


@app.command("serve", epilog=examples("bot serve &", "bot serve --idle 3600", "bot serve --stop"))
def serve_cmd(
    ctx: typer.Context,
    idle: Optional[float] = typer.Option(None, "--idle", metavar="SECONDS",
                                         help="Exit after this long without a question (BOT_WARM_IDLE)."),
    stop: bool = typer.Option(False, "--stop", help="Stop the warm bot of this store, and exit."),
) -> None:
    """Keep a warm bot that `bot ask` answers through (much faster); it exits when idle.

    The store, the model and the offline answerer stay loaded in this process; `bot ask` of
    the same store and settings is answered here while it runs (offline answers only).
    `bot ask` starts one by itself unless BOT_WARM is off."""
    from bot.ui import warm
    from bot.config import check

    settings = _settings(ctx)
    if stop:
        stopped = warm.stop(settings)
        out.print(f"stopped the warm bot of {Path(settings.store_dir).absolute()}" if stopped
                  else "no warm bot serves this store", markup=False)
        return
    idle = settings.warm_idle if idle is None else check("warm_idle", idle, "--idle")

    def ready(path: Path) -> None:
        err.print(f"serving {path}; exits after {idle:g} s without a question", markup=False)

    answered = warm.serve(settings, idle, on_ready=ready)
    err.print(f"answered {answered} question(s); stopped", markup=False)


@app.command("log", epilog=examples("bot log -n 1", "bot log --json -n 0"))
def log_cmd(
    ctx: typer.Context,
    count: int = typer.Option(3, "--count", "-n", min=0, help="How many, newest first; 0 = all."),
    json_out: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """The questions asked (bot ask and chat) with their answers and citations, newest first."""
    from bot.ui import render
    from bot.ui.history import DB_NAME, History

    settings = _settings(ctx)
    entries = []
    if (Path(settings.store_dir) / DB_NAME).is_file():
        history = History(settings.store_dir)
        try:
            entries = history.log(count or None)
        finally:
            history.close()
    if json_out:
        out.print(render.to_json([e.to_dict() for e in entries]), markup=False)
    elif not entries:
        out.print('Nothing asked yet. Ask with: bot ask "What happened?"', markup=False)
    for entry in entries if not json_out else []:
        render.log_entry(out, entry)


@app.command("show", epilog=examples("bot show f7985a03bbf30fbd --span 0:271"))
def show_cmd(ctx: typer.Context, article_id: str = typer.Argument(
                 ..., help="Article id, or a unique prefix of it (see bot sources)."),
             json_out: bool = typer.Option(False, "--json", help="Print as JSON."),
             span: Optional[str] = typer.Option(None, "--span", metavar="START:END",
                                                help="Show only this span (character offsets, as cited) "
                                                     "in its paragraph, highlighted.")) -> None:
    """Print an article's stored text and metadata."""
    from bot.ui import render

    bot = _bot(ctx)
    article = bot.article(bot.resolve_id(article_id))
    if article is None:
        _fail(f"{article_id}: no such article; list them with: bot sources")
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
        _fail(f"--span {text!r}: give character offsets START:END, e.g. --span 0:120")
    first, last = int(start), int(end)
    if not first < last <= length:
        _fail(f"--span {text!r}: the article has {length} characters; "
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
    rows = _bot(ctx).catalog(filters)
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
        _fail("name what to forget: bot forget ID [ID...] or bot forget --source TEXT")
    bot, failed = _bot(ctx), 0
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


@app.command("reindex", epilog=examples("BOT_EMBEDDINGS=openai bot reindex"))
def reindex_cmd(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Re-chunk and re-embed every stored article, after changing BOT_EMBEDDINGS for one."""
    from bot.ui import render

    with _progress("Reindexing", "articles") as progress:
        report = _bot(ctx).reindex(progress=progress)
    if json_out:
        out.print(render.to_json(report.to_dict()), markup=False)
    else:
        out.print(report.summary(), markup=False)


@app.command("config", epilog=examples("bot config --json"))
def config_cmd(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Print the effective settings (secrets masked)."""
    from bot.ui import render

    settings = _settings(ctx)
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


@app.command("slack", epilog=examples("bot slack", "bot slack --http --port 3000"))
def slack_cmd(
    ctx: typer.Context,
    http: bool = typer.Option(False, "--http", help="Serve the HTTP Events API instead of Socket Mode."),
    port: int = typer.Option(3000, "--port", help="HTTP port (with --http)."),
    host: str = typer.Option("127.0.0.1", "--host", help="HTTP address (with --http); 0.0.0.0 = all."),
    log_level: str = typer.Option("info", "--log-level", metavar="|".join(LOG_LEVELS), help="How much to log."),
) -> None:
    """Run the Slack app: Socket Mode when SLACK_APP_TOKEN is set, else --http."""
    from bot.ui.slack.app import run

    run(_bot(ctx), http=http, host=host, port=port,
        log_level=_choice(log_level, "--log-level", LOG_LEVELS) or "info")


@app.command("mcp", epilog=examples("bot mcp", "bot mcp --http --port 8000"))
def mcp_cmd(
    ctx: typer.Context,
    http: bool = typer.Option(False, "--http", help="Serve streamable HTTP on 127.0.0.1 instead of stdio."),
    port: int = typer.Option(8000, "--port", help="HTTP port (with --http)."),
    allow_ingest: bool = typer.Option(False, "--allow-ingest", help="Offer the ingest tool (off: clients cannot write to the store)."),
) -> None:
    """Serve the articles to AI assistants over MCP (stdio by default): ask, search, brief, sources, show."""
    from bot.ui.mcp_server import run  # imports the mcp SDK (~0.7 s): only this command pays for it

    run(_bot(ctx), http=http, port=port, allow_ingest=allow_ingest)


@app.command("feedback", epilog=examples("bot feedback --json > feedback.json"))
def feedback_cmd(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Export the 👍/👎 clicks on Slack answers, with their questions, answers and citations."""
    from bot.ui import render
    from bot.ui.slack.ledger import FILE_NAME, Ledger

    store_dir = _settings(ctx).store_dir
    rows = Ledger(store_dir).feedback() if (Path(store_dir) / FILE_NAME).is_file() else []
    if json_out:
        out.print(render.to_json(rows), markup=False)
    elif not rows:
        out.print("No feedback yet.", markup=False)
    for r in rows if not json_out else []:
        mark = "+1" if r["vote"] == "up" else "-1"
        out.print(f"{r['at']}  {mark}  {r['question']}  ->  {r['short_answer'] or r['answer']}", markup=False)


@app.command("chat", epilog=examples("bot chat --continue", "printf 'What range was claimed?\\n' | bot chat"))
def chat_cmd(
    ctx: typer.Context,
    resume: bool = typer.Option(False, "--continue", help="Resume the most recent session."),
    session: Optional[str] = typer.Option(None, "--session", "-s", help="Resume or start the session NAME."),
    list_sessions: bool = typer.Option(False, "--list", help="List the saved sessions and exit."),
) -> None:
    """Chat with the articles: follow-ups use the conversation; /help lists commands.

    With stdin piped, reads one question per line and prints plain answers."""
    from bot.ui import chat

    if list_sessions:
        chat.list_sessions(_settings(ctx), out)
        return
    raise typer.Exit(chat.run(_settings(ctx), session=session, resume=resume))


@app.command("summarize", epilog=examples("bot summarize f7985a03bbf30fbd --sentences 2"))
def summarize_cmd(
    ctx: typer.Context,
    article_id: str = typer.Argument(..., help="Article id (see bot sources)."),
    sentences: int = typer.Option(3, "--sentences", "-n", help="At most this many sentences."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Summarise one article; every sentence cites its source span."""
    from bot.ui import briefing_render, render

    summary = _bot(ctx).summarize(article_id, max_sentences=sentences)
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

    _choice(fmt, "--format", BRIEF_FORMATS)
    with _progress("Briefing", "steps") as progress:
        result = _bot(ctx).brief(since=since, until=until, topic=topic, source=source,
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
        _fail(f"--out {out_file}: cannot write ({e.strerror or e}); check the path")
    out.print(f"wrote {out_file} ({len(result.sections)} sections, {len(result.citations)} citations)",
              markup=False)


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"error: {safe_line(message)}", markup=False)
    raise typer.Exit(code)


class _progress:
    """A progress bar on stderr when it is a terminal (count, rate and time left); silent
    otherwise, so piped output stays plain."""

    def __init__(self, label: str, unit: str = ""):
        self.label, self.unit = label, unit
        self.bar: Any = None

    def __enter__(self):
        if not err.is_terminal:
            return None
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn,
                                   TextColumn, TimeRemainingColumn)

        unit = self.unit

        class Rate(ProgressColumn):
            def render(self, task: Any) -> Any:
                from rich.text import Text

                return Text(f"{task.speed:.1f} {unit}/s" if task.speed else "", style="dim")

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn(unit), Rate(), TimeRemainingColumn(),
                            console=err, transient=True)
        self.bar.start()
        self.task = self.bar.add_task(self.label, total=None)
        return self

    def __call__(self, done: int, total: int) -> None:
        self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc: Any) -> None:
        if self.bar:
            self.bar.stop()


def _whole_short_help() -> None:
    """`bot --help` lists each command's whole first paragraph, not click's 45-character cut."""
    for info in app.registered_commands:
        doc = (info.callback.__doc__ or "") if info.callback else ""
        info.short_help = info.short_help or " ".join(doc.strip().split("\n\n")[0].split())


_whole_short_help()


def main() -> None:
    """Console entry point: expected failures become one line on stderr, not a traceback."""
    from bot.errors import BotError

    try:
        app(prog_name="bot")
    except BotError as e:
        err.print(f"error: {safe_line(str(e))}", markup=False)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        sys.exit(130)

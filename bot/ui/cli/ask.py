"""Asking: `ask` (answered by the warm process when one runs, else here, then starting one),
`serve` (that warm process) and `log` (the questions asked, with their answers)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from bot.ui import terminal
from bot.ui.cli.common import ANSWER_FORMATS, DATES, app, choice, err, examples, fail, out, settings_of

NO_WARM_BOT = "no warm bot serves this store"


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
            fail("no question; give one (bot ask \"What range was claimed?\") or pipe it in "
                  "(echo \"What range was claimed?\" | bot ask)")
        if hasattr(sys.stdin, "reconfigure"):  # bytes that are not UTF-8 are asked, not a traceback
            sys.stdin.reconfigure(errors="replace")
        question = sys.stdin.read()
    question = terminal.text_arg(question)
    if not question.strip():
        fail("the question is empty; ask something, e.g. bot ask \"What range was claimed?\"")
    fmt = "json" if json_out else choice(fmt, "--format", ANSWER_FORMATS)
    if k is not None:
        check("top_k", k, "--top-k")
    since, until = parse_range(since, until, ("--since", "--until"))
    settings = settings_of(ctx)
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
        fail(str(reply["error"]), int(reply.get("exit_code") or 1))
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
    status: bool = typer.Option(False, "--status",
                                help="Say whether a warm bot serves this store and what it did, and exit."),
) -> None:
    """Keep a warm bot that `bot ask` answers through (much faster); it exits when idle.

    The store, the model and the offline answerer stay loaded in this process; `bot ask` of
    the same store and settings is answered here while it runs (offline answers only).
    `bot ask` starts one by itself unless BOT_WARM is off."""
    from bot.ui import warm
    from bot.config import check

    settings = settings_of(ctx)
    if stop:
        stopped = warm.stop(settings)
        out.print(f"stopped the warm bot of {Path(settings.store_dir).absolute()}" if stopped
                  else NO_WARM_BOT, markup=False)
        return
    if status:
        out.print(_status_line(warm.status(settings)), markup=False)
        return
    idle = settings.warm_idle if idle is None else check("warm_idle", idle, "--idle")

    def ready(path: Path) -> None:
        err.print(f"serving {path}; exits after {idle:g} s without a question", markup=False)

    answered = warm.serve(settings, idle, on_ready=ready)
    err.print(f"answered {answered} question(s); stopped", markup=False)


def _status_line(status: dict[str, Any] | None) -> str:
    if status is None:
        return NO_WARM_BOT
    p = status.get("prepared", {})
    bound = " (stopped at its bound)" if p.get("full") else ""
    return (f"a warm bot serves this store: {status['answered']} question(s) answered; "
            f"{p.get('sentences', 0):,} sentence(s) of {p.get('articles', 0)} article(s) "
            f"prepared{bound}")


@app.command("log", epilog=examples("bot log -n 1", "bot log --json -n 0"))
def log_cmd(
    ctx: typer.Context,
    count: int = typer.Option(3, "--count", "-n", min=0, help="How many, newest first; 0 = all."),
    json_out: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """The questions asked (bot ask and chat) with their answers and citations, newest first."""
    from bot.ui import render
    from bot.ui.history import DB_NAME, History

    settings = settings_of(ctx)
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

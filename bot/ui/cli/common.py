"""The command line's shared parts: the typer app and its global options, the consoles every
line goes through, and the helpers each command uses (settings, the bot, failing, choices,
the progress bar)."""

from __future__ import annotations

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


# Options with a fixed set of values are plain strings checked by `choice`, so that a wrong
# value is one line naming the flag (click's own check prints a usage block); the metavar
# shows the choices in --help.
EMBEDDINGS, ANSWER_FORMATS, BRIEF_FORMATS = ("local", "openai"), ("text", "md", "json"), ("md", "html", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")


def choice(value: str | None, flag: str, choices: tuple[str, ...]) -> str | None:
    if value is not None and value not in choices:
        fail(f"{flag} {value!r}: use {', '.join(choices[:-1])} or {choices[-1]}")
    return value


# Every line the CLI prints goes through consoles that neutralise control characters and redact
# secrets (bot/ui/terminal.py); error lines are also kept to one line (`safe_line`).
out = terminal.console(highlight=False, soft_wrap=True)
err = terminal.console(stderr=True, highlight=False, soft_wrap=True)


def settings_of(ctx: typer.Context):
    from bot.config import Settings

    return Settings.load(ctx.obj or {})


def bot_of(ctx: typer.Context):
    from bot.core import Bot

    return Bot(settings_of(ctx))


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
               "embeddings": choice(embeddings, "--embeddings", EMBEDDINGS)}


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"error: {safe_line(message)}", markup=False)
    raise typer.Exit(code)


class ProgressBar:
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

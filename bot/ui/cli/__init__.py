"""`bot` on the command line: a thin typer adapter over the `Bot` facade.

Flags override the environment, which overrides `.env` (see bot/config.py). Expected failures
print one line to stderr and exit non-zero, never a traceback.

`common` holds the app, its global options and the helpers; the commands live by job in
`store`, `ask`, `brief` and `apps`. Each command imports what it needs when it runs, so that
`bot --help` stays quick.
"""

from __future__ import annotations

import sys

from bot.ui.cli import apps, ask, brief, store  # noqa: F401  (registers their commands on `app`)
from bot.ui.cli.common import app, err
from bot.ui.terminal import safe_line

# The order `bot --help` lists the commands in.
ORDER = ["ingest", "watch", "ask", "serve", "log", "show", "sources", "forget", "stats", "reindex",
         "config", "slack", "mcp", "feedback", "chat", "summarize", "brief"]


def _in_help_order() -> None:
    """List the commands in ORDER, each with its whole first paragraph in `bot --help` (not
    click's 45-character cut)."""
    app.registered_commands.sort(key=lambda info: ORDER.index(info.name) if info.name in ORDER
                                 else len(ORDER))
    for info in app.registered_commands:
        doc = (info.callback.__doc__ or "") if info.callback else ""
        info.short_help = info.short_help or " ".join(doc.strip().split("\n\n")[0].split())


_in_help_order()


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

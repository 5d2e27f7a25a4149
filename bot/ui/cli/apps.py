"""The other front ends, started from the command line: `chat`, `slack`, `mcp`, and `feedback`
(the Slack votes)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from bot.ui.cli.common import LOG_LEVELS, app, bot_of, choice, examples, out, settings_of


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

    run(bot_of(ctx), http=http, host=host, port=port,
        log_level=choice(log_level, "--log-level", LOG_LEVELS) or "info")


@app.command("mcp", epilog=examples("bot mcp", "bot mcp --http --port 8000"))
def mcp_cmd(
    ctx: typer.Context,
    http: bool = typer.Option(False, "--http", help="Serve streamable HTTP on 127.0.0.1 instead of stdio."),
    port: int = typer.Option(8000, "--port", help="HTTP port (with --http)."),
    allow_ingest: bool = typer.Option(False, "--allow-ingest", help="Offer the ingest tool (off: clients cannot write to the store)."),
) -> None:
    """Serve the articles to AI assistants over MCP (stdio by default): ask, search, brief, sources, show."""
    from bot.ui.mcp_server import run  # imports the mcp SDK (~0.7 s): only this command pays for it

    run(bot_of(ctx), http=http, port=port, allow_ingest=allow_ingest)


@app.command("feedback", epilog=examples("bot feedback --json > feedback.json"))
def feedback_cmd(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Export the 👍/👎 clicks on Slack answers, with their questions, answers and citations."""
    from bot.ui import render
    from bot.ui.slack.ledger import FILE_NAME, Ledger

    store_dir = settings_of(ctx).store_dir
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
        chat.list_sessions(settings_of(ctx), out)
        return
    raise typer.Exit(chat.run(settings_of(ctx), session=session, resume=resume))

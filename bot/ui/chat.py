"""`bot chat`: a conversation with the articles, in a terminal or through a pipe.

A thin adapter over the `Bot` facade: it reads lines, keeps the conversation (bot/ui/history.py),
asks `Bot.ask(..., history=...)` (or streams `Bot.ask_stream` in LLM mode) and renders the typed
answers with bot/ui/render.py. It never talks to Chroma or a model itself.

The answer runs in a worker thread so that Ctrl-C only stops waiting for it: the session, its
history and the prompt stay as they were, and a model's stream is abandoned at its next delta.
"""

from __future__ import annotations

import os
import queue
import shlex
import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from rich.console import Console
from rich.text import Text

from bot.ui import briefing_render, render, terminal
from bot.config import Settings
from bot.errors import BotError
from bot.ui.history import History
from bot.util.controls import clean
from bot.util.redact import redact, redact_partial
from bot.schema import Answer, Article, Citation

if TYPE_CHECKING:
    from bot.core import Bot

PROMPT = "bot> "
INPUT_HISTORY = "chat_input_history"  # prompt_toolkit's line history, in the store directory
HISTORY_TURNS = 6  # earlier turns passed to a follow-up (the offline method uses the last one)
QUOTE_LIMIT = 160  # footnote quotes are shortened in the terminal; /sources shows them whole
# Debug only: seconds to wait inside the answer path before answering, so that tests can press
# Ctrl-C while an answer is in progress. Not a setting; never needed in use.
DEBUG_DELAY_ENV = "BOT_DEBUG_ANSWER_DELAY"

_DONE = object()


@dataclass(frozen=True)
class Command:
    name: str
    args: str
    help: str


COMMANDS = [
    Command("/sources", "", "the full cited spans of the last answer"),
    Command("/open", "N", "the article around citation N, the span highlighted"),
    Command("/ingest", "PATH...", "add files or folders to the collection"),
    Command("/brief", "[TOPIC]", "a cited briefing of the collection (or of TOPIC)"),
    Command("/history", "", "the questions of this session"),
    Command("/reset", "", "start a new conversation (a new session)"),
    Command("/help", "", "this list"),
    Command("/quit", "", "leave (or Ctrl-D)"),
]


class Chat:
    def __init__(self, bot: Bot, history: History, session: str, console: Console,
                 interactive: bool):
        self.bot = bot
        self.history = history
        self.session = session
        self.console = console
        self.interactive = interactive
        self.turns: list[Answer] = history.turns(session)
        self.errors = 0  # piped mode exits 1 when any line failed

    # -- the loops ------------------------------------------------------------------------

    def run_terminal(self) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
        from prompt_toolkit.completion import WordCompleter

        store_dir = Path(self.bot.settings.store_dir)
        store_dir.mkdir(parents=True, exist_ok=True)
        prompt = PromptSession(history=redacted_file_history(store_dir / INPUT_HISTORY),
                               auto_suggest=AutoSuggestFromHistory(),
                               completer=WordCompleter([c.name for c in COMMANDS], sentence=True),
                               complete_while_typing=False)
        self._banner()
        while True:
            try:
                line = prompt.prompt(PROMPT)
            except KeyboardInterrupt:  # Ctrl-C at the prompt clears the line, like a shell
                continue
            except EOFError:  # Ctrl-D
                break
            try:
                if not self.handle(line):
                    break
            except KeyboardInterrupt:  # Ctrl-C anywhere else in a line's work (a render, /ingest)
                self.console.print(Text("cancelled", style="yellow"))
            self.console.print()

    def run_lines(self, lines: Iterable[str]) -> None:
        """Piped input: one question or command per line, plain output, done at end of input."""
        for line in lines:
            if not line.strip():
                continue
            self.console.print(f"> {terminal.safe_line(line.strip())}", markup=False)
            if not self.handle(line):
                break
            self.console.print()

    def _banner(self) -> None:
        s = self.bot.settings
        mode = f"LLM answers ({s.chat_model})" if s.llm_enabled else "extractive answers (offline)"
        resumed = f", {len(self.turns)} earlier turns" if self.turns else ""
        self.console.print(Text(f"bot chat · session {self.session}{resumed} · collection "
                                f"{s.collection} · {mode}", style="dim"))
        self.console.print(Text("Ask a question; /help lists commands; Ctrl-C cancels an answer; "
                                "Ctrl-D quits.", style="dim"))

    # -- one line -------------------------------------------------------------------------

    def handle(self, line: str) -> bool:
        """Run one line (a question or a /command); False when the session should end."""
        line = line.strip()
        if not line:
            return True
        if not line.startswith("/"):
            self.ask(line)
            return True
        name, _, args = line.partition(" ")
        handlers: dict[str, Callable[[str], bool | None]] = {
            "/sources": self.cmd_sources, "/open": self.cmd_open, "/ingest": self.cmd_ingest,
            "/brief": self.cmd_brief, "/history": self.cmd_history, "/reset": self.cmd_reset,
            "/help": self.cmd_help, "/quit": self.cmd_quit, "/exit": self.cmd_quit,
        }
        handler = handlers.get(name.lower())
        if handler is None:
            self._error(f"{name}: unknown command; /help lists them")
            return True
        try:
            return handler(args.strip()) is not False
        except BotError as e:
            self._error(str(e))
            return True

    def ask(self, question: str) -> None:
        try:
            answer = self._answer(question)
        except KeyboardInterrupt:
            if not self.interactive:
                raise
            self.console.print(Text("cancelled", style="yellow"))
            return
        except BotError as e:
            self._error(str(e))
            return
        render.answer(self.console, answer, quote_limit=QUOTE_LIMIT if self.interactive else None,
                      markdown=self.interactive)
        if not self.history.exists(self.session):  # saved from its first turn: no empty sessions
            self.history.create(self.session, self.bot.settings.collection)
        self.history.add(self.session, answer)
        self.turns.append(answer)

    # -- the answer, in a worker thread ---------------------------------------------------

    def _answer(self, question: str) -> Answer:
        # A cancelled answer's thread is not waited for: it stops at its model's next delta
        # (or its timeout) and its results go to a queue nobody reads, so it may briefly run
        # beside the next answer (the embedder, store and HTTP client take concurrent calls).
        cancel = threading.Event()
        items: queue.Queue = queue.Queue()
        context = self.turns[-HISTORY_TURNS:]
        threading.Thread(target=self._produce, daemon=True, name="answer",
                         args=(question, context, cancel, items)).start()
        try:
            return self._consume(items)
        except KeyboardInterrupt:
            cancel.set()
            raise

    def _produce(self, question: str, context: list[Answer], cancel: threading.Event,
                 items: queue.Queue) -> None:
        try:
            delay = float(os.environ.get(DEBUG_DELAY_ENV) or 0)
            if delay and cancel.wait(delay):
                return
            produced = self._answer_items(question, context)
            try:
                for item in produced:
                    if cancel.is_set():
                        return
                    items.put(item)
            finally:
                produced.close()  # abandons a model's stream
        except BaseException as e:  # handed to the main thread, which reports it
            items.put(e)
        finally:
            items.put(_DONE)

    def _answer_items(self, question: str, context: list[Answer]) -> Iterator[str | Answer]:
        """Text deltas (LLM streaming), then the verified Answer."""
        stream = getattr(self.bot, "ask_stream", None)  # the LLM path (issue 3), when merged
        if not (self.bot.settings.llm_enabled and stream is not None):
            yield self.bot.ask(question, history=context)
            return
        standalone = self.bot.standalone_question(question, context) if context else question
        events = stream(standalone)
        try:
            for event in events:
                # Deltas carry `.text`, the final event carries the verified `.answer`.
                answer = event if isinstance(event, Answer) else getattr(event, "answer", None)
                if isinstance(answer, Answer):
                    answer.question = question
                    answer.standalone_question = standalone if standalone != question else None
                    yield answer
                elif isinstance(getattr(event, "text", event), str):
                    yield getattr(event, "text", event)
        finally:
            getattr(events, "close", lambda: None)()

    def _consume(self, items: queue.Queue) -> Answer:
        """Wait for the worker's items (interruptibly), showing progress and streamed text."""
        live = None
        if self.interactive:
            from rich.live import Live
            from rich.spinner import Spinner

            live = Live(Spinner("dots", text="searching…", style="dim"), console=self.console,
                        transient=True, refresh_per_second=8)
            live.start()
        text, answer = "", None
        try:
            while True:
                try:
                    item = items.get(timeout=0.1)
                except queue.Empty:
                    continue
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, Answer):
                    answer = item
                elif isinstance(item, str):
                    text += item
                    if live is not None:
                        from rich.markdown import Markdown

                        # the whole draft redacted anew: a secret can arrive in pieces
                        live.update(Markdown(clean(redact_partial(text))))
        finally:
            if live is not None:
                live.stop()
        if answer is None:
            raise BotError("the answer stopped without a result; ask again")
        return answer

    # -- commands -------------------------------------------------------------------------

    def _last(self) -> Answer | None:
        if not self.turns:
            self._error("no answer yet; ask a question first")
            return None
        return self.turns[-1]

    def cmd_sources(self, args: str) -> None:
        last = self._last()
        if last is None:
            return
        if not last.citations:
            self.console.print(Text("The last answer cites no sources.", style="dim"))
            return
        stale = [c.n for c in last.citations if not self._verified_article(c)]
        render.sources(self.console, last.citations, last.short_answer)
        if stale:
            self._error("citation " + ", ".join(map(str, stale)) + " no longer matches the "
                        "stored article (it was changed or forgotten since)")

    def cmd_open(self, args: str) -> None:
        last = self._last()
        if last is None:
            return
        if not args.isdigit() or not 1 <= int(args) <= len(last.citations):
            count = len(last.citations)
            self._error(f"/open {args}: give a citation number"
                        + (f" from 1 to {count}" if count else " (the last answer has none)"))
            return
        citation = last.citations[int(args) - 1]
        article = self._verified_article(citation)
        if article is None:
            self._error(f"citation {citation.n}: the article {citation.article_id} no longer "
                        "holds this span (changed or forgotten since the answer)")
            return
        render.article_window(self.console, article, (citation.start, citation.end))

    def _verified_article(self, citation: Citation) -> Article | None:
        return self.bot.cited_article(citation)

    def cmd_ingest(self, args: str) -> None:
        try:
            paths = shlex.split(args)
        except ValueError as e:
            self._error(f"/ingest {args}: {e}; quote paths with spaces")
            return
        if not paths:
            self._error("/ingest needs a file or folder, e.g. /ingest articles/")
            return
        try:
            report = self.bot.ingest(paths)
        except KeyboardInterrupt:
            if not self.interactive:
                raise
            self.console.print(Text("ingest interrupted; what was stored is complete", style="yellow"))
            return
        for failure in report.failed:
            self._error(failure.line())
        self.console.print(f"{report.summary()} ({report.chunks} chunks)", markup=False)

    def cmd_brief(self, args: str) -> None:
        """A briefing of the collection, or of its articles about TOPIC (the `bot brief` code)."""
        briefing_render.terminal(self.console, self.bot.brief(topic=args.strip() or None))

    def cmd_history(self, args: str) -> None:
        if not self.turns:
            self.console.print(Text("No questions yet in this session.", style="dim"))
            return
        for i, turn in enumerate(self.turns, 1):
            self.console.print(Text(f"{i}. ", style="cyan") + Text(turn.question))
            if turn.standalone_question and turn.standalone_question != turn.question:
                self.console.print(Text(f"   (searched: {turn.standalone_question})", style="dim"))
            said = turn.short_answer or turn.answer
            self.console.print(Text(f"   → {render.shorten(said, 100)}", style="dim"))

    def cmd_reset(self, args: str) -> None:
        self.session = self.history.new_name()
        self.turns = []
        self.console.print(f"New conversation: session {self.session}", markup=False)

    def cmd_help(self, args: str) -> None:
        width = max(len(f"{c.name} {c.args}".strip()) for c in COMMANDS)
        self.console.print("Type a question to ask it; follow-ups use the conversation.",
                           markup=False)
        for c in COMMANDS:
            self.console.print(Text(f"  {f'{c.name} {c.args}'.strip().ljust(width)}  ",
                                    style="cyan") + Text(c.help))

    def cmd_quit(self, args: str) -> bool:
        return False

    def _error(self, message: str) -> None:
        self.errors += 1
        self.console.print(Text(f"error: {terminal.safe_line(message)}", style="red"))


# -- entry points (the CLI's `bot chat`) ----------------------------------------------------

def redacted_file_history(path: Path):
    """prompt_toolkit's on-disk line history (up-arrow, suggestions), with every line passed
    through the one redaction path before it is written: a pasted key stays out of the file."""
    from prompt_toolkit.history import FileHistory

    class RedactedFileHistory(FileHistory):
        def store_string(self, string: str) -> None:
            super().store_string(redact(string))

    return RedactedFileHistory(str(path))


def list_sessions(settings: Settings, console: Console) -> None:
    history = History(settings.store_dir)
    sessions = history.sessions()
    if not sessions:
        console.print("No chat sessions yet. Start one with: bot chat", markup=False)
        return
    width = max(len(s.name) for s in sessions)
    for s in sessions:
        first = render.shorten(s.first_question, 60) if s.first_question else "(empty)"
        console.print(Text(s.name.ljust(width), style="cyan")
                      + Text(f"  {s.turns:>3} {'turn' if s.turns == 1 else 'turns':<5}  "
                             f"{_local_time(s.updated_at)}  ",
                             style="dim") + Text(first))


def _local_time(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")


def pick_session(history: History, settings: Settings, name: str | None,
                 resume: bool) -> tuple[str, str | None]:
    """(session name, a note for the user) for --session NAME, --continue or a new session.
    A new session is written to the database with its first turn."""
    if name and resume:
        raise BotError("use --continue or --session NAME, not both")
    if name:
        if history.exists(name):
            return history.open(name, settings.collection), None
        return name, f"new session {name}"
    if resume:
        last = history.last()
        if last is not None:
            return history.open(last, settings.collection), None
        return history.new_name(), "no earlier session; starting a new one"
    return history.new_name(), None


def run(settings: Settings, session: str | None = None, resume: bool = False,
        stdin: Any = None) -> int:
    """Run a chat; the exit code is 1 when piped input had a failing line, else 0."""
    stdin = stdin or sys.stdin
    interactive = stdin.isatty() and sys.stdout.isatty()
    if interactive:
        console = terminal.console(highlight=False)  # rich turns colours off itself with NO_COLOR
    else:  # piped: plain text, no escape codes, whatever stdout is
        console = terminal.console(highlight=False, soft_wrap=True, color_system=None,
                                   force_terminal=False)
        if hasattr(stdin, "reconfigure"):  # a line that is not UTF-8 is asked, not a traceback
            stdin.reconfigure(errors="replace")
    history = History(settings.store_dir)
    try:
        name, note = pick_session(history, settings, session, resume)
        if note and interactive:
            console.print(Text(note, style="dim"))
        from bot.core import Bot  # imports the store; `bot chat --list` does without

        chat = Chat(Bot(settings), history, name, console, interactive)
        if interactive:  # a person types: the pauses embed the store's sentences (bot/core.py)
            _, stop_preparing = chat.bot.prepare_in_background()
            try:
                chat.run_terminal()
            finally:
                stop_preparing()
            return 0
        chat.run_lines(stdin)
        return 1 if chat.errors else 0
    finally:
        history.close()

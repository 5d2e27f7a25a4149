"""What the Slack app does with each event, command and click, once acknowledged: answer a
mention, a direct message or a thread reply (a follow-up), `/ask`, `/brief`, `/sources`,
`/ingest`, and 👍/👎. Where an answer lives is recorded in the ledger (SQLite in the store dir).

`Handlers` holds these methods of `SlackBot` (bot/ui/slack/app.py mixes it in and registers them).
"""

from __future__ import annotations

import html
import logging
import re
import time
import uuid
from typing import Any, Callable

from slack_bolt import BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.errors import BotError
from bot.ui.slack import blocks as render
from bot.ui.slack.ledger import Recorded

log = logging.getLogger("bot.slack")

SORRY = "Sorry, something went wrong on my side while answering. Please try again in a minute."
WORKING = "Looking through the articles…"
HELP = "Ask me a question about the articles, e.g. “What range was claimed?”"
NOT_IN_CHANNEL = "I'm not in this channel. Invite me with /invite, or ask me in a direct message."
THREAD_TURNS = 6  # earlier Q&A pairs a follow-up sees
DM_CONTEXT_S = 30 * 60  # outside threads, a DM question follows up on the last half hour only
MAX_QUESTION_CHARS = 2000  # a question, not a document (Slack allows 40,000-character messages)
_HUMAN_SUBTYPES = {None, "file_share", "thread_broadcast"}

Turn = tuple[str, str]  # (question, answer text)


class Handlers:
    """Mixed into `SlackBot`: its listeners. They run on the worker pool, after the ack."""

    # -- acknowledge-time ---------------------------------------------------------------------

    def _skip_retries(self, body: dict, request: Any, next: Callable) -> Any:
        """Slack resends an event it thinks we missed (X-Slack-Retry-Num); answer it once."""
        event_id = body.get("event_id")
        if event_id and not self.seen_events.first(event_id):
            log.info("skipped event %s: already handled (retry %s)", event_id,
                     request.headers.get("x-slack-retry-num", ["?"])[0])
            return BoltResponse(status=200, body="")
        return next()

    # -- events -------------------------------------------------------------------------------

    def on_mention(self, event: dict, client: WebClient, context: Any) -> None:
        if _from_a_bot(event) or not _well_formed(event) or not self._claim(event):
            return
        channel, thread = event["channel"], event.get("thread_ts")
        history = self._thread_turns(channel, thread) if thread else []
        self._answer(client, channel, event.get("user", ""), _question(event, context.bot_user_id),
                     thread_ts=thread or event["ts"], history=history,
                     tell=self._ephemeral(client, channel, event.get("user", ""), thread or event["ts"]))

    def on_message(self, event: dict, client: WebClient, context: Any) -> None:
        if _from_a_bot(event) or not _well_formed(event):
            return
        channel, thread, user = event.get("channel", ""), event.get("thread_ts"), event.get("user", "")
        if event.get("channel_type") == "im":
            history = (self._thread_turns(channel, thread) if thread
                       else self._turns(self.ledger.top_level(channel, time.time() - DM_CONTEXT_S)))
        elif thread and f"<@{context.bot_user_id}>" not in _text(event):
            history = self._thread_turns(channel, thread)
            if not history:
                return  # a thread the bot has not answered in is someone else's conversation
        else:
            return  # channel chatter; mentions come as app_mention
        if not self._claim(event):
            return
        self._answer(client, channel, user, _question(event, context.bot_user_id), thread_ts=thread,
                     history=history, tell=self._ephemeral(client, channel, user, thread))

    # -- slash commands -----------------------------------------------------------------------

    def on_ask(self, command: dict, client: WebClient, respond: Callable) -> None:
        if not _well_formed_command(command):
            return
        self._answer(client, command["channel_id"], command["user_id"], command.get("text", "").strip(),
                     thread_ts=None, history=[], tell=_ephemeral_respond(respond),
                     asker=command["user_id"])

    def on_sources(self, command: dict, respond: Callable) -> None:
        if not _well_formed_command(command):
            return
        last = self.ledger.last(command["channel_id"])
        if last is None:
            respond(response_type="ephemeral", text="No answers in this channel yet.")
            return
        text, blocks = render.sources(last.answer)
        respond(response_type="ephemeral", text=text, blocks=blocks)

    def on_brief(self, command: dict, client: WebClient, respond: Callable) -> None:
        tell = _ephemeral_respond(respond)
        if not _well_formed_command(command):
            return
        channel, user, topic = command["channel_id"], command["user_id"], command.get("text", "").strip()
        if not self.limiter.allow(user):
            if self.limiter.first_refusal(user):
                tell(_slow_down(self.settings.slack_rate_limit))
            return
        ts = self._post(client, channel, None, "Writing a briefing…", tell)
        if ts is None:
            return
        try:
            briefing = self._brief(topic or None, self.channels.collections(channel))
            text, blocks = render.briefing(briefing, topic, asker=user)
            client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except Exception:
            log.exception("briefing in %s failed", channel)
            self._sorry(client, channel, ts)

    def on_ingest(self, command: dict, respond: Callable) -> None:
        """Add web pages to this channel's collection. Only http(s) URLs: a Slack user must
        never make the bot read files on its host; the fetch guard (bot/sources/fetch.py) refuses
        private and internal addresses, exactly as for `bot ingest URL`."""
        tell = _ephemeral_respond(respond)
        if not _well_formed_command(command):
            return
        urls = _links(command.get("text", ""))
        if not urls:
            tell("Give one or more web page URLs: /ingest https://example.com/news/story")
            return
        refused = [u for u in urls if not u.lower().startswith(("http://", "https://"))]
        if refused:
            tell(f"Only http(s) URLs can be added from Slack, not: {', '.join(refused[:3])}")
            return
        if not self.limiter.allow(command["user_id"]):
            if self.limiter.first_refusal(command["user_id"]):
                tell(_slow_down(self.settings.slack_rate_limit))
            return
        collection = self.channels.collections(command["channel_id"])[0]
        try:
            report = self.bot.ingest_urls(urls, collection=collection)
        except BotError as e:
            tell(f"Could not add them: {e}")
            return
        except Exception:
            log.exception("/ingest in %s failed", command["channel_id"])
            tell(SORRY)
            return
        lines = [f"{report.summary()} (collection {collection})."]
        lines += [f"• {f.line()}" for f in report.failed[:10]]
        tell("\n".join(lines))

    # -- feedback -----------------------------------------------------------------------------

    def on_feedback(self, body: dict, action: dict, respond: Callable) -> None:
        vote = "up" if action.get("action_id") == render.FEEDBACK_UP else "down"
        answer_id, user = action.get("value"), (body.get("user") or {}).get("id")
        if not (isinstance(answer_id, str) and isinstance(user, str)):
            log.info("ignored a feedback click without an answer or a user")
            return
        if self.ledger.vote(answer_id, user, vote):
            text = "Thanks, noted." if vote == "up" else "Thanks, noted: I'll take that as a miss."
        else:
            text = "That answer is no longer on record, so the feedback was not stored."
        respond(response_type="ephemeral", replace_original=False, text=text)

    # -- the work -----------------------------------------------------------------------------

    def _answer(self, client: WebClient, channel: str, user: str, question: str, *,
                thread_ts: str | None, history: list[Turn], tell: Callable[[str], None],
                asker: str | None = None) -> None:
        """Post a placeholder, answer, then replace the placeholder with the cited answer."""
        if not question:
            tell(HELP)
            return
        if not self.limiter.allow(user):
            if self.limiter.first_refusal(user):
                tell(_slow_down(self.settings.slack_rate_limit))
            return
        if len(question) > MAX_QUESTION_CHARS:
            tell(f"That message is {len(question):,} characters long; please ask a question of "
                 f"at most {MAX_QUESTION_CHARS:,} characters.")
            return
        ts = self._post(client, channel, thread_ts, WORKING, tell)
        if ts is None:
            return
        answer_id = uuid.uuid4().hex
        try:
            answer = self._ask(question, self.channels.collections(channel), history)
            # Recorded before it is shown, so a quick 👍 always finds it.
            self.ledger.record(answer_id, channel, thread_ts or ts, ts, user, question, answer)
            text, blocks = render.answer(answer, answer_id, asker)
            client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
            log.info("answered in %s: %s, %d citation(s), %.0f ms", channel,
                     "refused" if answer.refused else answer.mode, len(answer.citations),
                     answer.timings_ms.get("total", 0))
        except Exception:
            log.exception("answering in %s failed", channel)
            self._forget(answer_id)
            self._sorry(client, channel, ts)

    def _ask(self, question: str, collections: list[str], history: list[Turn]) -> Any:
        return self.bot.ask(question, collections=collections, history=history or None)

    def _brief(self, topic: str | None, collections: list[str]) -> Any:
        return self.bot.brief(topic=topic, collections=collections)

    def _post(self, client: WebClient, channel: str, thread_ts: str | None, text: str,
              tell: Callable[[str], None]) -> str | None:
        try:
            return client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)["ts"]
        except SlackApiError as e:
            error = e.response.get("error")
            log.warning("cannot post in %s: %s", channel, error)
            tell(NOT_IN_CHANNEL if error in ("not_in_channel", "channel_not_found") else SORRY)
        except Exception:
            log.exception("cannot post in %s", channel)
        return None

    def _sorry(self, client: WebClient, channel: str, ts: str) -> None:
        text, blocks = render.notice(SORRY)
        try:
            client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except Exception:
            log.exception("cannot show the error message in %s", channel)

    def _forget(self, answer_id: str) -> None:
        try:
            self.ledger.forget(answer_id)
        except Exception:
            log.exception("cannot forget answer %s", answer_id)

    def _claim(self, event: dict) -> bool:
        """One answer per message, whichever of its events (app_mention, message) comes first."""
        return self.claimed_messages.first(f"{event.get('channel')}:{event.get('ts')}")

    def _thread_turns(self, channel: str, thread_ts: str) -> list[Turn]:
        return self._turns(self.ledger.in_thread(channel, thread_ts))

    @staticmethod
    def _turns(rows: list[Recorded]) -> list[Turn]:
        return [(r.question, r.answer.get("answer", "")) for r in rows][-THREAD_TURNS:]

    @staticmethod
    def _ephemeral(client: WebClient, channel: str, user: str,
                   thread_ts: str | None) -> Callable[[str], None]:
        def tell(text: str) -> None:
            try:
                client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread_ts, text=text)
            except Exception:
                log.exception("cannot tell %s in %s", user, channel)
        return tell


def _text(event: dict) -> str:
    text = event.get("text")
    return text if isinstance(text, str) else ""


def _well_formed(event: dict) -> bool:
    """An event the bot can answer: it names its channel and message (Slack's always do)."""
    ok = all(isinstance(event.get(k), str) and event.get(k) for k in ("channel", "ts"))
    if not ok:
        log.info("ignored a %s event without a channel or timestamp", event.get("type"))
    return ok


def _well_formed_command(command: dict) -> bool:
    ok = all(isinstance(command.get(k), str) and command.get(k) for k in ("channel_id", "user_id"))
    if not ok:
        log.info("ignored a %s command without a channel or user", command.get("command"))
    return ok


def _question(event: dict, bot_user_id: str | None) -> str:
    """The message text without the bot's mention, Slack's &-escapes undone."""
    text = _text(event)
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(\|[^>]*)?>", " ", text)
    return html.unescape(" ".join(text.split()))


def _from_a_bot(event: dict) -> bool:
    return bool(event.get("bot_id")) or event.get("subtype") not in _HUMAN_SUBTYPES


def _links(text: str) -> list[str]:
    """The links in a slash command's text: Slack sends them as <url> or <url|label>."""
    return [m.group(1) or m.group(2) for m in re.finditer(r"<([^>|]+)(?:\|[^>]*)?>|(\S+)", text)]


def _slow_down(per_minute: int) -> str:
    return f"You've asked {per_minute} questions in the last minute; please wait a little and ask again."


def _ephemeral_respond(respond: Callable) -> Callable[[str], None]:
    def tell(text: str) -> None:
        try:
            respond(response_type="ephemeral", text=text)
        except Exception:
            log.exception("cannot respond to a command")
    return tell

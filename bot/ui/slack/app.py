"""`bot slack`: a Slack Bolt app that answers from the articles, a thin adapter over `Bot`.

Every event, command and click is acknowledged at once (Slack wants a reply within 3 s) and the
work runs after, in Bolt lazy listeners on a bounded worker pool. `process_before_response` is
on, so the HTTP response waits only for the tiny ack function (never for an answer), and the same
code serves Socket Mode and the HTTP Events API.

Where an answer lives is recorded in the ledger (SQLite in the store dir): a reply in such a
thread is a follow-up, `/sources` shows the last answer's sources, and 👍/👎 clicks are stored.
"""

from __future__ import annotations

import html
import logging
import re
import signal
import threading
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import ConfigError, Settings
from bot.errors import BotError
from bot.util.redact import remember
from bot.ui.slack import blocks as render
from bot.ui.slack.channels import ChannelMap
from bot.ui.slack.ledger import Ledger, Recorded

log = logging.getLogger("bot.ui.slack")

EVENTS_PATH = "/slack/events"
SORRY = "Sorry, something went wrong on my side while answering. Please try again in a minute."
WORKING = "Looking through the articles…"
HELP = "Ask me a question about the articles, e.g. “What range was claimed?”"
NOT_IN_CHANNEL = "I'm not in this channel. Invite me with /invite, or ask me in a direct message."
THREAD_TURNS = 6  # earlier Q&A pairs a follow-up sees
DM_CONTEXT_S = 30 * 60  # outside threads, a DM question follows up on the last half hour only
SEEN_TTL_S = 60 * 60  # Slack retries within minutes; an hour is ample
MAX_QUESTION_CHARS = 2000  # a question, not a document (Slack allows 40,000-character messages)
MAX_BODY_BYTES = 1_000_000  # Slack's largest payloads (a 40,000-character message) are far smaller
_HUMAN_SUBTYPES = {None, "file_share", "thread_broadcast"}

Turn = tuple[str, str]  # (question, answer text)


class SlackError(BotError):
    """The Slack app cannot start: missing or rejected tokens, unreachable API."""


class SeenOnce:
    """Keys remembered for a while: `first(key)` is True only the first time (thread-safe)."""

    def __init__(self, ttl_s: float = SEEN_TTL_S):
        self.ttl_s = ttl_s
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def first(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if len(self._until) > 10_000:  # keep it small without a sweeper thread
                self._until = {k: t for k, t in self._until.items() if t > now}
            if self._until.get(key, 0) > now:
                return False
            self._until[key] = now + self.ttl_s
            return True


class RateLimiter:
    """At most `per_minute` questions per user in any 60 s window (0 = unlimited)."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._times: dict[str, deque[float]] = {}
        self._told: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_refusal(self, user: str) -> bool:
        """True once a minute per user: a flood is told to slow down once, not once per
        message (which would make the bot flood Slack in turn)."""
        now = time.monotonic()
        with self._lock:
            if self._told.get(user, -60.0) > now - 60:
                return False
            self._told[user] = now
            return True

    def allow(self, user: str) -> bool:
        if self.per_minute <= 0:
            return True
        now = time.monotonic()
        with self._lock:
            times = self._times.setdefault(user, deque())
            while times and times[0] <= now - 60:
                times.popleft()
            if len(times) >= self.per_minute:
                return False
            times.append(now)
            return True


class Workers(ThreadPoolExecutor):
    """The pool lazy listeners run on; counts work in flight so shutdown and tests can wait."""

    def __init__(self, max_workers: int):
        super().__init__(max_workers=max(1, max_workers), thread_name_prefix="slack-worker")
        self._pending = 0
        self._idle = threading.Condition()

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any):  # type: ignore[override]
        with self._idle:
            self._pending += 1

        def run() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

        return super().submit(run)

    def wait_idle(self, timeout: float | None = None) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)


def configure_logging(settings: Settings, level: str = "info") -> None:
    # Every record, ours or a library's, is redacted when it is made (bot/util/redact.py); the
    # settings registered their secrets there when they were loaded.
    remember(settings.secrets)
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def web_client(settings: Settings) -> WebClient:
    """A Web API client, checked now so a bad token or URL fails at start, in one line."""
    if not settings.slack_bot_token:
        raise ConfigError("SLACK_BOT_TOKEN is not set; put the app's Bot User OAuth Token "
                          "(xoxb-...) in .env (see the README's Slack section)")
    client = WebClient(token=settings.slack_bot_token, base_url=_with_slash(settings.slack_api_url))
    try:
        client.auth_test()
    except SlackApiError as e:
        # BotError redacts its message: an error that echoes the token does not show it
        raise SlackError(f"Slack rejected SLACK_BOT_TOKEN ({e.response.get('error', 'unknown error')}); "
                         "copy the Bot User OAuth Token from the app's OAuth & Permissions page") from None
    except OSError as e:  # URLError, refused, DNS: name the URL, never the token
        raise SlackError(f"cannot reach the Slack API at {settings.slack_api_url} "
                         f"({type(e).__name__}); check SLACK_API_URL and the network") from None
    return client


def _with_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _ack(ack: Any) -> None:
    ack()


class SlackBot:
    """The Bolt app and what it remembers. `bot` is the `Bot` facade; nothing else is called."""

    def __init__(self, bot: Any, client: WebClient | None = None):
        self.bot = bot
        self.settings: Settings = bot.settings
        self.channels = ChannelMap.parse(self.settings.slack_channels, self.settings.collection)
        self.ledger = Ledger(self.settings.store_dir)
        self.limiter = RateLimiter(self.settings.slack_rate_limit)
        self.seen_events = SeenOnce()
        self.claimed_messages = SeenOnce()
        self.workers = Workers(self.settings.slack_workers)
        self.app = App(client=client or web_client(self.settings),
                       signing_secret=self.settings.slack_signing_secret,
                       process_before_response=True, listener_executor=self.workers)
        self._register()

    def _register(self) -> None:
        app = self.app
        app.middleware(self._skip_retries)
        app.event("app_mention")(ack=_ack, lazy=[self.on_mention])
        app.event("message")(ack=_ack, lazy=[self.on_message])
        app.command("/ask")(ack=_ack, lazy=[self.on_ask])
        app.command("/brief")(ack=_ack, lazy=[self.on_brief])
        app.command("/sources")(ack=_ack, lazy=[self.on_sources])
        app.command("/ingest")(ack=_ack, lazy=[self.on_ingest])
        app.action(render.FEEDBACK_UP)(ack=_ack, lazy=[self.on_feedback])
        app.action(render.FEEDBACK_DOWN)(ack=_ack, lazy=[self.on_feedback])
        # Last, so it only sees what nothing above handles: any other event is acknowledged
        # and ignored (a 404 would make Slack send it again and again).
        app.event(re.compile(".*"))(_ack)

    def warm_up(self) -> None:
        """Load the model and open every mapped collection now: a bad name or an unreachable
        store fails at start, and the first question is not slow."""
        self.bot.embedder
        for name in {n for names in self.channels.channels.values() for n in names} | set(
                self.channels.default):
            self.bot.store(name)

    def close(self) -> None:
        self.workers.shutdown(wait=True)

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

    # -- running ------------------------------------------------------------------------------

    def http_server(self, host: str, port: int) -> Any:
        """A uvicorn server for the Events API at /slack/events: bodies size-limited and
        signatures checked before anything parses them (Guard), then Bolt (which checks again)."""
        import uvicorn
        from slack_bolt.adapter.asgi import SlackRequestHandler

        if not self.settings.slack_signing_secret:
            raise ConfigError("SLACK_SIGNING_SECRET is not set; HTTP mode needs the app's Signing "
                              "Secret (Basic Information page) in .env")
        app = Guard(SlackRequestHandler(self.app, path=EVENTS_PATH), self.settings.slack_signing_secret)
        config = uvicorn.Config(app, host=host, port=port,
                                log_config=None, access_log=False, lifespan="off")
        return uvicorn.Server(config)

    def socket_mode(self) -> Any:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        return SocketModeHandler(self.app, app_token=self.settings.slack_app_token)


class Guard:
    """ASGI middleware in front of Bolt. Every request to the events URL is read with a size
    limit (413 beyond it, never buffered whole), must carry a valid Slack signature (401) and
    must be a JSON object or a form whose `payload` is one (400). Bolt checks the signature
    too, but only after parsing the body: without this, an unsigned request with a broken or
    huge body reached its parser (a 500 and a logged traceback, or the whole body in memory)."""

    def __init__(self, app: Any, signing_secret: str):
        from slack_sdk.signature import SignatureVerifier

        self.app = app
        self.verifier = SignatureVerifier(signing_secret)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope.get("path") != EVENTS_PATH:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            await _reply(send, 413, "request body too large")
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > MAX_BODY_BYTES:
                await _reply(send, 413, "request body too large")
                return
            if not message.get("more_body"):
                break
        if not self.verifier.is_valid(body, headers.get("x-slack-request-timestamp"),
                                      headers.get("x-slack-signature")):
            await _reply(send, 401, "invalid request")
            return
        if not _parsable(body, headers.get("content-type", "")):
            log.info("refused a signed request whose body Slack would not send")
            await _reply(send, 400, "malformed request body")
            return
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _parsable(body: bytes, content_type: str) -> bool:
    """A JSON object (events), or a form (commands) whose `payload`, if any, is a JSON object
    (interactivity): what Slack sends."""
    import json
    from urllib.parse import parse_qs

    try:
        text = body.decode("utf-8")
        if content_type.startswith("application/json"):
            obj = json.loads(text)
            return isinstance(obj, dict) and isinstance(obj.get("event", {}), dict)
        if content_type.startswith("application/x-www-form-urlencoded"):
            payload = parse_qs(text).get("payload")
            return payload is None or isinstance(json.loads(payload[0]), dict)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return False
    return False


async def _reply(send: Callable, status: int, error: str) -> None:
    import json

    data = json.dumps({"error": error}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


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


def run(bot: Any, http: bool, host: str, port: int, log_level: str = "info") -> None:
    """`bot slack`: Socket Mode when SLACK_APP_TOKEN is set, else (or with --http) HTTP."""
    settings: Settings = bot.settings
    configure_logging(settings, log_level)
    if not http and not settings.slack_app_token:
        raise ConfigError("SLACK_APP_TOKEN is not set: put the app-level token (xapp-...) in .env "
                          "for Socket Mode, or run: bot slack --http --port N")
    if http and not settings.slack_signing_secret:
        raise ConfigError("SLACK_SIGNING_SECRET is not set; HTTP mode needs the app's Signing "
                          "Secret (Basic Information page) in .env")
    slack = SlackBot(bot)
    slack.warm_up()
    # uvicorn re-raises SIGTERM once it has stopped serving; exiting cleanly here lets the
    # `finally` below finish the questions already acknowledged.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        if http:
            server = slack.http_server(host, port)
            log.info("serving the Slack Events API on http://%s:%d%s", host, port, EVENTS_PATH)
            server.run()  # returns on Ctrl-C / SIGTERM
        else:
            handler = slack.socket_mode()
            handler.connect()
            log.info("connected to Slack in Socket Mode")
            _wait_for_stop()
            handler.close()
    finally:
        log.info("finishing questions in progress")
        slack.close()


def _exit_cleanly(*_: Any) -> None:
    raise SystemExit(0)


def _wait_for_stop() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()

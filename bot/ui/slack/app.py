"""`bot slack`: a Slack Bolt app that answers from the articles, a thin adapter over `Bot`.

Every event, command and click is acknowledged at once (Slack wants a reply within 3 s) and the
work runs after, in Bolt lazy listeners on a bounded worker pool. `process_before_response` is
on, so the HTTP response waits only for the tiny ack function (never for an answer), and the same
code serves Socket Mode and the HTTP Events API.

Where an answer lives is recorded in the ledger (SQLite in the store dir): a reply in such a
thread is a follow-up, `/sources` shows the last answer's sources, and 👍/👎 clicks are stored.

The parts: the listeners (bot/ui/slack/handlers.py), the worker pool, rate limit and retry
filter (bot/ui/slack/workers.py), and the guard in front of HTTP mode (bot/ui/slack/http_guard.py).
"""

from __future__ import annotations

import logging
import re
import signal
import threading
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import ConfigError, Settings
from bot.errors import BotError
from bot.ui.slack import blocks as render
from bot.ui.slack.channels import ChannelMap
from bot.ui.slack.handlers import Handlers
from bot.ui.slack.http_guard import EVENTS_PATH, Guard
from bot.ui.slack.ledger import Ledger
from bot.ui.slack.workers import RateLimiter, SeenOnce, Workers
from bot.util.redact import remember

log = logging.getLogger("bot.slack")


class SlackError(BotError):
    """The Slack app cannot start: missing or rejected tokens, unreachable API."""


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


class SlackBot(Handlers):
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
    _, stop_preparing = bot.prepare_in_background()  # between questions (bot/core.py)
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
        stop_preparing()
        slack.close()


def _exit_cleanly(*_: Any) -> None:
    raise SystemExit(0)


def _wait_for_stop() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()

"""The Slack app for real: a Bolt app served by uvicorn on 127.0.0.1, talking to a local
stand-in for Slack's Web API, sent Events API requests signed exactly as Slack signs them, and
answering from a real embedded store. Socket Mode runs against a local websocket server."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bot import Bot
from bot.ui.slack import blocks as render
from bot.ui.slack.app import SlackBot
from bot.ui.slack.handlers import HELP, NOT_IN_CHANNEL, SORRY, WORKING
from bot.index.chroma import StoreError
from tests import fakeslack as fs
from tests.conftest import SEED_FILE, SEEDS, run_cli

QUESTION = "What range was claimed?"
SEED_TEXT = SEED_FILE.read_text(encoding="utf-8")


class Harness:
    """Our SlackBot served over HTTP, and helpers to send it what Slack would send."""

    def __init__(self, bot: Bot, fake: fs.FakeSlack):
        self.fake = fake
        self.slack = SlackBot(bot)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.server = self.slack.http_server("127.0.0.1", port)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{port}/slack/events"
        self.http = httpx.Client(timeout=30)

    def post(self, body: str, content_type: str, **sign) -> httpx.Response:
        return self.http.post(self.url, content=body, headers=fs.signed(body, content_type, **sign))

    def event(self, event: dict, event_id: str | None = None, **sign) -> httpx.Response:
        return self.post(json.dumps(fs.event_callback(event, event_id)), "application/json", **sign)

    def command(self, name: str, text: str, **kw) -> httpx.Response:
        return self.post(fs.form(fs.command(name, text, self.fake.response_url, **kw)),
                         "application/x-www-form-urlencoded")

    def click(self, action_id: str, value: str, **kw) -> httpx.Response:
        return self.post(fs.interactive_form(fs.block_action(action_id, value, self.fake.response_url, **kw)),
                         "application/x-www-form-urlencoded")

    def settle(self) -> None:
        """Wait until every acknowledged piece of work has finished."""
        assert self.slack.workers.wait_idle(timeout=120)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.slack.close()
        self.http.close()


def slack_settings(bot: Bot, fake: fs.FakeSlack, **changes):
    values = dict(slack_bot_token=fs.BOT_TOKEN, slack_signing_secret=fs.SIGNING_SECRET,
                  slack_app_token=fs.APP_TOKEN, slack_api_url=fake.api_url)
    return bot.settings.with_(**(values | changes))


@pytest.fixture
def fake():
    f = fs.FakeSlack()
    yield f
    f.close()


@pytest.fixture
def make_harness(seeded, fake):
    made = []

    def make(**changes) -> Harness:
        h = Harness(Bot(slack_settings(seeded, fake, **changes)), fake)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


@pytest.fixture
def harness(make_harness):
    return make_harness()


def rich_texts(blocks: list[dict]) -> list[str]:
    """Every text run inside rich_text blocks (quotes, titles)."""
    out = []
    for b in blocks:
        for el in b.get("elements", []) if b["type"] == "rich_text" else []:
            out += [e.get("text", "") for e in el["elements"]]
    return out


def quotes(blocks: list[dict]) -> list[str]:
    return [e["elements"][0]["text"] for b in blocks if b["type"] == "rich_text"
            for e in b["elements"] if e["type"] == "rich_text_quote"]


def feedback_id(blocks: list[dict]) -> str:
    [actions] = [b for b in blocks if b["type"] == "actions"]
    return actions["elements"][0]["value"]


def final_updates(fake: fs.FakeSlack, channel: str) -> list[fs.Call]:
    return [c for c in fake.to("chat.update", channel=channel) if c.params.get("blocks")]


# -- the Events API endpoint ------------------------------------------------------------------

def test_url_verification_echoes_the_challenge(harness):
    body = json.dumps({"token": "legacy", "challenge": "c-3e8a", "type": "url_verification"})
    r = harness.post(body, "application/json")
    assert r.status_code == 200 and "c-3e8a" in r.text


def test_bad_signature_and_stale_timestamp_are_rejected(harness):
    assert harness.event(fs.mention(QUESTION), secret="not-the-secret").status_code == 401
    stale = int(time.time()) - 6 * 60
    assert harness.event(fs.mention(QUESTION), timestamp=stale).status_code == 401
    body = json.dumps(fs.event_callback(fs.mention(QUESTION)))
    unsigned = harness.http.post(harness.url, content=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401
    harness.settle()
    assert harness.fake.to("chat.postMessage") == []


def test_a_mention_is_answered_once_in_its_thread_with_quoted_sources(harness, seeded):
    r = harness.event(fs.mention(QUESTION, ts="1699999999.000100"))
    assert r.status_code == 200
    harness.settle()
    [placeholder] = harness.fake.to("chat.postMessage")
    assert placeholder.params["thread_ts"] == "1699999999.000100"
    assert placeholder.params["text"] == WORKING
    [update] = harness.fake.to("chat.update")
    assert update.params["ts"] == placeholder.result["ts"]
    blocks = update.params["blocks"]
    assert "1,800 kilometers" in update.params["text"]  # the notification fallback
    expected = seeded.ask(QUESTION)
    assert quotes(blocks) == [c.quote for c in expected.citations]
    for q in quotes(blocks):
        assert q in SEED_TEXT  # the exact span, character for character
    assert expected.citations[0].title in rich_texts(blocks)
    assert any(b["type"] == "actions" for b in blocks)


def test_events_are_acknowledged_before_the_work_is_done(harness):
    release = harness.fake.hold("chat.postMessage")  # the answer cannot even start posting
    try:
        assert harness.event(fs.mention(QUESTION, ts="1699999999.000150")).status_code == 200
        assert harness.command("/ask", QUESTION).status_code == 200
        assert harness.fake.to("chat.postMessage") == []
    finally:
        release.set()
    harness.settle()
    assert len(harness.fake.to("chat.update")) == 2


def test_a_retried_event_is_not_answered_twice(harness, caplog):
    caplog.set_level(logging.INFO, logger="bot.slack")
    event = fs.mention(QUESTION, ts="1699999999.000200")
    assert harness.event(event, event_id="EvRETRY1").status_code == 200
    assert harness.event(event, event_id="EvRETRY1", retry=1).status_code == 200
    harness.settle()
    assert harness.event(event, event_id="EvRETRY1", retry=2).status_code == 200
    harness.settle()
    assert len(harness.fake.to("chat.postMessage")) == 1
    assert len(harness.fake.to("chat.update")) == 1
    assert "skipped event EvRETRY1: already handled (retry 1)" in caplog.text
    assert "skipped event EvRETRY1: already handled (retry 2)" in caplog.text


def test_the_same_message_as_mention_and_message_event_is_answered_once(harness):
    ts = "1699999999.000300"
    harness.event(fs.mention(QUESTION, channel="C0001", ts=ts))
    harness.event(fs.message(f"<@{fs.BOT_USER}> {QUESTION}", "C0001", ts, thread_ts=None))
    harness.settle()
    assert len(harness.fake.to("chat.postMessage")) == 1


def test_a_direct_message_is_answered(harness):
    harness.event(fs.message(QUESTION, "D0001", "1699999999.000400", channel_type="im"))
    harness.settle()
    [post] = harness.fake.to("chat.postMessage", channel="D0001")
    assert post.params.get("thread_ts") is None  # a DM is answered in the conversation itself
    [update] = final_updates(harness.fake, "D0001")
    assert "1,800 kilometers" in update.params["text"]


def test_own_messages_and_other_bots_are_ignored(harness):
    harness.event(fs.message(QUESTION, "D0001", "1699999999.000500", channel_type="im",
                             user=fs.BOT_USER, bot_id=fs.BOT_ID))
    harness.event(fs.message(QUESTION, "D0001", "1699999999.000501", channel_type="im",
                             bot_id="BOTHER", subtype="bot_message"))
    harness.event(fs.message(QUESTION, "D0001", "1699999999.000502", channel_type="im",
                             subtype="message_changed"))
    harness.event(fs.message(QUESTION, "C0001", "1699999999.000503"))  # channel chatter
    harness.settle()
    assert harness.fake.to("chat.postMessage") == []


def test_an_empty_mention_gets_a_hint(harness):
    harness.event(fs.mention("", ts="1699999999.000600"))
    harness.settle()
    assert harness.fake.to("chat.postMessage") == []
    [hint] = harness.fake.to("chat.postEphemeral")
    assert hint.params["text"] == HELP and hint.params["thread_ts"] == "1699999999.000600"


def searched(update: fs.Call) -> str:
    """The "searched: ..." line a follow-up's answer shows (the question as it was searched)."""
    blocks = update.params["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    return " ".join(e.get("text", "") for b in blocks if b["type"] == "context"
                    for e in b["elements"] if "searched:" in e.get("text", ""))


def test_a_reply_in_the_bots_thread_is_a_follow_up_with_the_threads_history(harness):
    fake = harness.fake
    root = "1699999999.000700"
    harness.event(fs.mention(QUESTION, ts=root))
    harness.settle()
    harness.event(fs.message("How long did they fly?", "C0001", "1699999999.000701", thread_ts=root))
    harness.settle()
    # A reply in a thread the bot never answered in is someone else's conversation.
    harness.event(fs.message("How long did they fly?", "C0001", "1699999999.000702",
                             thread_ts="1699999999.000001"))
    harness.settle()
    posts = fake.to("chat.postMessage")
    assert [p.params["thread_ts"] for p in posts] == [root, root]
    first, follow = final_updates(fake, "C0001")[-2:]
    assert searched(first) == ""  # the first question stands alone
    assert "missiles" in searched(follow)  # the subject came from the thread's first answer
    assert "two and a half hours" in follow.params["text"]


def test_a_direct_message_follows_up_on_the_conversation(harness):
    harness.event(fs.message(QUESTION, "D0002", "1699999999.000750", channel_type="im"))
    harness.settle()
    harness.event(fs.message("How long did they fly?", "D0002", "1699999999.000751", channel_type="im"))
    harness.settle()
    first, follow = final_updates(harness.fake, "D0002")[-2:]
    assert searched(first) == "" and "missiles" in searched(follow)


def test_a_mention_inside_the_bots_thread_also_uses_the_history(harness):
    root = "1699999999.000800"
    harness.event(fs.mention(QUESTION, ts=root))
    harness.settle()
    harness.event(fs.mention("How long did they fly?", ts="1699999999.000801", thread_ts=root))
    harness.event(fs.message(f"<@{fs.BOT_USER}> How long did they fly?", "C0001", "1699999999.000801",
                             thread_ts=root))
    harness.settle()
    assert len(harness.fake.to("chat.postMessage")) == 2
    assert "missiles" in searched(final_updates(harness.fake, "C0001")[-1])


# -- slash commands ---------------------------------------------------------------------------

def test_ask_command_posts_the_answer_in_the_channel(harness):
    r = harness.command("/ask", QUESTION, channel="C0002", user="U0009")
    assert r.status_code == 200 and r.text == ""  # acknowledged at once, answered after
    harness.settle()
    [post] = harness.fake.to("chat.postMessage", channel="C0002")
    assert post.params.get("thread_ts") is None
    [update] = final_updates(harness.fake, "C0002")
    blocks = update.params["blocks"]
    assert "<@U0009> asked: What range was claimed?" in json.dumps(blocks)
    assert any("1,800 kilometers" in q for q in quotes(blocks))


def test_ask_command_where_the_bot_is_not_a_member_says_how_to_fix_it(harness):
    harness.fake.fail("chat.postMessage", "not_in_channel")
    harness.command("/ask", QUESTION, channel="C0003")
    harness.settle()
    [told] = harness.fake.to("respond")
    assert told.params["text"] == NOT_IN_CHANNEL and told.params["response_type"] == "ephemeral"


def test_sources_command_shows_the_last_answers_quotes(harness, seeded):
    harness.command("/sources", "", channel="C0004")
    harness.settle()
    assert harness.fake.to("respond")[-1].params["text"] == "No answers in this channel yet."
    harness.event(fs.mention(QUESTION, channel="C0004", ts="1699999999.000900"))
    harness.settle()
    harness.command("/sources", "", channel="C0004")
    harness.settle()
    shown = harness.fake.to("respond")[-1].params
    assert shown["response_type"] == "ephemeral"
    assert quotes(shown["blocks"]) == [c.quote for c in seeded.ask(QUESTION).citations]


def test_brief_command_posts_a_cited_briefing(harness):
    harness.command("/brief", "missiles", user="U0042")
    harness.settle()
    [update] = final_updates(harness.fake, "C0001")
    blocks = update.params["blocks"]
    text = " ".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert "[1]" in text and "asked for a briefing" in json.dumps(blocks)
    shown = quotes(blocks)
    assert shown
    article = harness.slack.bot.articles(with_text=True)[0]
    assert all(q in article.text for q in shown)


def test_ingest_command_takes_only_web_urls_and_keeps_the_fetch_guard(make_harness, tmp_path):
    from tests.newsserver import BRIDGE, NewsServer, Route, article_page

    secret = tmp_path / "secret.txt"
    secret.write_text("Internal memo\n\nThe password is hunter2 and must not leak.")
    with NewsServer() as site:
        site.routes["/news/bridge"] = Route(article_page(
            site.url("/news/bridge"), "Harbour bridge reopens after repairs", BRIDGE, "M. Olsen",
            "2024-03-12"))
        guarded = make_harness(slack_channels="C0007=newsroom")
        guarded.command("/ingest", str(secret), channel="C0007")
        guarded.command("/ingest", f"<{site.url('/news/bridge')}>", channel="C0007")
        guarded.settle()
        told = [c.params["text"] for c in guarded.fake.to("respond")]
        assert "Only http(s) URLs" in told[0] and str(secret) in told[0]
        assert "0 added" in told[1] and "private" in told[1].lower()
        assert site.requests == []  # refused before any connection was made
        assert guarded.slack.bot.articles("newsroom") == []

        allowed = make_harness(slack_channels="C0007=newsroom", allow_private_urls=True)
        allowed.command("/ingest", f"<{site.url('/news/bridge')}|bridge story>", channel="C0007")
        allowed.settle()
        assert "1 added" in allowed.fake.to("respond")[-1].params["text"]
    [article] = allowed.slack.bot.articles("newsroom")
    assert article.source == site.url("/news/bridge")
    assert article.source not in {a.source for a in allowed.slack.bot.articles()}  # not in the default


# -- scoping, feedback, load ------------------------------------------------------------------

SPORTS = ("Local side wins the cup\n\nThe Riverton Rovers won the regional cup final on Sunday, "
          "beating the Harbor Hawks 3-1 in front of 12,000 fans. Striker Maya Lind scored twice "
          "in the second half, and the coach said the team had trained all winter for the game.")


def test_a_channel_only_reads_its_own_collections(seeded, fake, tmp_path):
    sports = tmp_path / "sports.txt"
    sports.write_text(SPORTS, encoding="utf-8")
    assert seeded.ingest([SEEDS], collection="world").added
    assert seeded.ingest([sports], collection="sports").added
    h = Harness(Bot(slack_settings(seeded, fake, collection="empty",
                                   slack_channels="CWORLD=world;CSPORT=sports")), fake)
    try:
        for channel in ("CWORLD", "CSPORT", "COTHER"):
            h.event(fs.mention(QUESTION, channel=channel, ts=f"1699999999.{channel}"))
            h.event(fs.mention("Who scored twice in the cup final?", channel=channel,
                               ts=f"1699999998.{channel}"))
        h.settle()
    finally:
        h.close()

    def shown(channel: str) -> str:
        return json.dumps([c.params for c in final_updates(fake, channel)])

    assert "1,800 kilometers" in shown("CWORLD") and "Maya Lind" not in shown("CWORLD")
    assert "Maya Lind" in shown("CSPORT") and "1,800" not in shown("CSPORT")
    # Unmapped: the default collection only (empty here), never a mapped channel's articles.
    other = shown("COTHER")
    assert "1,800" not in other and "Maya Lind" not in other and "bot ingest" in other


def test_a_feedback_click_is_stored_and_exported(harness, seeded):
    harness.event(fs.mention(QUESTION, ts="1699999999.001000"))
    harness.settle()
    [update] = harness.fake.to("chat.update")
    answer_id = feedback_id(update.params["blocks"])
    assert harness.click(render.FEEDBACK_DOWN, answer_id, user="U0042").status_code == 200
    harness.settle()
    assert harness.fake.to("respond")[-1].params["response_type"] == "ephemeral"
    r = run_cli("feedback", "--json", env={"BOT_STORE_DIR": str(seeded.settings.store_dir)})
    assert r.returncode == 0, r.stderr
    [row] = json.loads(r.stdout)
    assert row["vote"] == "down" and row["user"] == "U0042" and row["question"] == QUESTION
    assert "1,800 kilometers" in row["citations"][0]["quote"] and row["answer_id"] == answer_id
    assert [c["quote"] for c in row["citations"]] == quotes(update.params["blocks"])


def test_twenty_mentions_at_once_are_each_answered_exactly_once(harness):
    events = [fs.mention(QUESTION, ts=f"1699999990.{i:06d}", user=f"U{i:04d}") for i in range(20)]
    bodies = [fs.event_callback(e) for e in events]
    with ThreadPoolExecutor(max_workers=20) as pool:
        # every event twice at once: as if Slack retried each of them
        statuses = list(pool.map(lambda b: harness.post(json.dumps(b), "application/json").status_code,
                                 bodies + bodies))
    assert statuses == [200] * 40
    harness.settle()
    posts = harness.fake.to("chat.postMessage")
    assert sorted(p.params["thread_ts"] for p in posts) == sorted(e["ts"] for e in events)
    updates = harness.fake.to("chat.update")
    assert len(updates) == 20 and all("1,800 kilometers" in u.params["text"] for u in updates)


def test_the_per_user_rate_limit_protects_the_model(make_harness):
    h = make_harness(slack_rate_limit=2)
    for i in range(3):
        h.event(fs.mention(QUESTION, ts=f"1699999999.0011{i:02d}", user="UFAST"))
        h.settle()
    h.event(fs.mention(QUESTION, ts="1699999999.001199", user="USLOW"))
    h.settle()
    assert len(h.fake.to("chat.postMessage")) == 3
    [told] = h.fake.to("chat.postEphemeral")
    assert told.params["user"] == "UFAST" and "please wait" in told.params["text"]


# -- errors and secrets -----------------------------------------------------------------------

def test_an_error_reaches_the_user_as_a_short_message_and_secrets_stay_out(harness, caplog):
    caplog.set_level(logging.DEBUG)
    harness.fake.fail("chat.update", "internal_error")  # Slack fails to show the answer once
    harness.event(fs.mention(QUESTION, ts="1699999999.001300"))
    harness.settle()
    [answer, sorry] = harness.fake.to("chat.update")
    assert "1,800 kilometers" in answer.params["text"]
    assert sorry.params["text"] == SORRY
    assert "answering in C0001 failed" in caplog.text and "internal_error" in caplog.text
    everything = caplog.text + json.dumps([c.params for c in harness.fake.calls])
    for secret in fs.SECRETS:
        assert secret not in everything


def test_a_broken_collection_is_a_friendly_reply_and_a_logged_error(make_harness, caplog):
    h = make_harness(slack_channels="CBAD=no/such collection")
    h.event(fs.mention(QUESTION, channel="CBAD", ts="1699999999.001400"))
    h.settle()
    [update] = h.fake.to("chat.update")
    assert update.params["text"] == SORRY
    assert "StoreError" in caplog.text
    with pytest.raises(StoreError):
        h.slack.warm_up()  # `bot slack` refuses to start with such a mapping


def test_the_cli_serves_http_end_to_end_without_leaking_secrets(seeded, fake, tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"PYTHONPATH": str(ROOT), "NO_COLOR": "1", "HF_HUB_OFFLINE": "1",
           "BOT_STORE_DIR": str(seeded.settings.store_dir), "SLACK_BOT_TOKEN": fs.BOT_TOKEN,
           "SLACK_SIGNING_SECRET": fs.SIGNING_SECRET, "SLACK_API_URL": fake.api_url,
           "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([sys.executable, "-m", "bot", "slack", "--http", "--port", str(port),
                             "--log-level", "debug"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}/slack/events"
        body = json.dumps(fs.event_callback(fs.mention(QUESTION, ts="1699999999.001500")))
        for _ in range(600):
            try:
                r = httpx.post(url, content=body, headers=fs.signed(body, "application/json"))
                break
            except httpx.ConnectError:
                assert proc.poll() is None, proc.stdout.read()
                time.sleep(0.1)
        assert r.status_code == 200
        for _ in range(600):
            if final_updates(fake, "C0001"):
                break
            time.sleep(0.1)
        assert "1,800 kilometers" in final_updates(fake, "C0001")[0].params["text"]
    finally:
        proc.terminate()
        output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, output
    assert "serving the Slack Events API" in output
    for secret in fs.SECRETS:
        assert secret not in output


def test_the_cli_explains_missing_or_rejected_tokens(fake, tmp_path):
    r = run_cli("slack", cwd=tmp_path)
    assert r.returncode == 1 and "SLACK_APP_TOKEN" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("slack", "--http", cwd=tmp_path, env={"SLACK_BOT_TOKEN": fs.BOT_TOKEN})
    assert r.returncode == 1 and "SLACK_SIGNING_SECRET is not set" in r.stderr
    r = run_cli("slack", "--http", cwd=tmp_path,
                env={"SLACK_BOT_TOKEN": "xoxb-wrong-token-value", "SLACK_API_URL": fake.api_url,
                     "SLACK_SIGNING_SECRET": fs.SIGNING_SECRET})
    assert r.returncode == 1 and "rejected SLACK_BOT_TOKEN (invalid_auth)" in r.stderr
    assert "xoxb-wrong-token-value" not in r.stderr + r.stdout
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/api/"
    r = run_cli("slack", cwd=tmp_path, env={"SLACK_BOT_TOKEN": fs.BOT_TOKEN, "SLACK_APP_TOKEN": fs.APP_TOKEN,
                                            "SLACK_API_URL": closed})
    assert r.returncode == 1 and f"cannot reach the Slack API at {closed}" in r.stderr
    assert "Traceback" not in r.stderr and fs.BOT_TOKEN not in r.stderr


# -- Socket Mode ------------------------------------------------------------------------------

def test_socket_mode_acknowledges_envelopes_and_answers(seeded, fake):
    ws = fs.FakeSocketMode()
    fake.ws_url = ws.url
    slack = SlackBot(Bot(slack_settings(seeded, fake, slack_signing_secret="")))
    handler = slack.socket_mode()
    try:
        handler.connect()
        assert ws.connected.wait(30)
        ws.send("env-1", "events_api", fs.event_callback(fs.mention(QUESTION, ts="1699999999.001600")))
        ws.send("env-2", "slash_commands", fs.command("/ask", QUESTION, fake.response_url, channel="C0005"))
        acks = {ws.acks.get(timeout=60)["envelope_id"] for _ in range(2)}
        assert acks == {"env-1", "env-2"}
        assert slack.workers.wait_idle(timeout=120)
        again = fs.event_callback(fs.mention(QUESTION, ts="1699999999.001601"), event_id="EvSAME")
        ws.send("env-3", "events_api", again)
        ws.send("env-4", "events_api", again, retry=1)  # Slack's retry: acknowledged, not answered
        assert {ws.acks.get(timeout=60)["envelope_id"] for _ in range(2)} == {"env-3", "env-4"}
        assert slack.workers.wait_idle(timeout=120)
    finally:
        handler.close()
        slack.close()
        ws.close()
    posts = fake.to("chat.postMessage", channel="C0001")
    assert [p.params["thread_ts"] for p in posts] == ["1699999999.001600", "1699999999.001601"]
    assert "1,800 kilometers" in final_updates(fake, "C0001")[0].params["text"]
    assert any("1,800 kilometers" in c.params["text"] for c in final_updates(fake, "C0005"))
    assert fake.to("apps.connections.open")[0].auth == f"Bearer {fs.APP_TOKEN}"


# -- the manifest -----------------------------------------------------------------------------

def test_the_manifest_asks_for_what_the_app_handles():
    import yaml

    manifest = yaml.safe_load((Path(__file__).parents[2] / "slack" / "manifest.yml").read_text())
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_mention", "message.im", "message.channels", "message.groups"} <= events
    assert {c["command"] for c in manifest["features"]["slash_commands"]} == {"/ask", "/brief", "/sources", "/ingest"}
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"app_mentions:read", "chat:write", "commands", "im:history", "channels:history",
            "groups:history"} <= scopes
    assert manifest["settings"]["interactivity"]["is_enabled"] is True


# -- the command line around it ---------------------------------------------------------------

def test_ingest_collection_option_puts_articles_in_one_collection(tmp_path):
    env = {"BOT_STORE_DIR": str(tmp_path / "store")}
    r = run_cli("ingest", str(SEEDS), "--collection", "world", env=env)
    assert r.returncode == 0, r.stderr
    world = run_cli("--collection", "world", "sources", "--json", env=env)
    default = run_cli("sources", "--json", env=env)
    assert len(json.loads(world.stdout)) == 1 and json.loads(default.stdout) == []


def test_config_masks_the_slack_secrets(tmp_path):
    env = {"SLACK_BOT_TOKEN": fs.BOT_TOKEN, "SLACK_APP_TOKEN": fs.APP_TOKEN,
           "SLACK_SIGNING_SECRET": fs.SIGNING_SECRET, "BOT_SLACK_CHANNELS": "C1=a"}
    r = run_cli("config", "--json", env=env, cwd=tmp_path)
    shown = json.loads(r.stdout)
    assert shown["SLACK_BOT_TOKEN"] == "(set, hidden)" and shown["BOT_SLACK_CHANNELS"] == "C1=a"
    for secret in fs.SECRETS:
        assert secret not in r.stdout

"""Slack abuse: floods, oversized and odd payloads, unsigned or forged requests, against the real
Bolt app served over HTTP (tests/ui/test_slack.py's harness and the local fake Slack)."""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot import Bot
from bot.config import ConfigError
from bot.ui.slack.app import SlackBot
from bot.ui.slack.handlers import HELP
from bot.ui.slack.http_guard import MAX_BODY_BYTES
from bot.ui.slack import blocks as render
from tests import fakeslack as fs
from tests.ui.test_slack import QUESTION, fake, harness, make_harness, slack_settings  # noqa: F401 (fixtures)

JSON, FORM = "application/json", "application/x-www-form-urlencoded"


@pytest.fixture
def errors(caplog):
    """Log records at ERROR or above (a traceback in the logs is a failure here)."""
    caplog.set_level(logging.INFO)
    return lambda: [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_flood_from_one_user_is_limited_and_told_once(make_harness, errors):
    h = make_harness(slack_rate_limit=3)
    flood = [fs.mention(QUESTION, ts=f"1699999000.{i:06d}", user="UFLOOD") for i in range(15)]
    with ThreadPoolExecutor(max_workers=15) as pool:
        statuses = list(pool.map(lambda e: h.event(e).status_code, flood))
    h.event(fs.mention(QUESTION, ts="1699999001.000001", user="UCALM"))
    h.settle()
    assert statuses == [200] * 15  # every event is acknowledged (else Slack resends it)
    posts = h.fake.to("chat.postMessage")
    assert len(posts) == 4 and len(h.fake.to("chat.update")) == 4  # 3 for the flood, 1 calm
    assert {p.params["thread_ts"] for p in posts} >= {"1699999001.000001"}
    [told] = h.fake.to("chat.postEphemeral")  # once, not once per refused message
    assert told.params["user"] == "UFLOOD" and "please wait" in told.params["text"]
    assert errors() == []


def test_odd_and_oversized_payloads_are_refused_or_ignored(harness, errors):
    h = harness
    raw = [("not json at all", JSON, 400), ("[1, 2, 3]", JSON, 400), ("", JSON, 400),
           ('{"type": "event_callback", "event": "x", "event_id": "Ev1"}', JSON, 400),
           ("payload=%7Bnot-json", FORM, 400), ("<xml/>", "text/xml", 400),
           ("\udcff".encode("utf-8", "surrogateescape").decode("latin-1"), JSON, 400)]
    for body, ctype, status in raw:
        assert h.post(body, ctype).status_code == status, body
    huge = json.dumps(fs.event_callback(fs.mention("x" * (MAX_BODY_BYTES + 10))))
    assert h.post(huge, JSON).status_code == 413
    odd_events = [{"type": "reaction_added", "user": "U1", "item": {}},  # not subscribed to
                  {"type": "app_mention"},  # no channel, no ts
                  {"type": "app_mention", "user": "U1", "text": f"<@{fs.BOT_USER}> hi", "ts": "1.2"},
                  {"type": "app_mention", "user": "U1", "text": 12345, "ts": "1.3", "channel": "C1"},
                  {"type": "message", "user": "U1", "text": ["x"], "ts": "1.4", "channel": "D1",
                   "channel_type": "im"},
                  {"type": "message", "channel_type": "im"}]
    for event in odd_events:
        assert h.event(event).status_code == 200, event
    assert h.post(fs.form({"command": "/ask", "text": "hi", "user_id": "U1"}), FORM).status_code == 200
    click = fs.block_action(render.FEEDBACK_UP, "x", h.fake.response_url)
    del click["actions"][0]["value"]
    assert h.post(fs.interactive_form(click), FORM).status_code == 200
    long_question = "What range was claimed? " + "and more " * 5000
    assert h.event(fs.mention(long_question, ts="1699999002.000001")).status_code == 200
    h.settle()
    assert h.fake.to("chat.postMessage") == []  # nothing was answered...
    told = [c.params["text"] for c in h.fake.to("chat.postEphemeral")]
    assert HELP in told  # ...the number-as-text mention is a mention without a question,
    assert any("please ask a question of at most 2,000 characters" in t for t in told)
    assert errors() == []  # and nothing crashed on the way
    h.event(fs.mention(QUESTION, ts="1699999003.000001"))  # still serving
    h.settle()
    assert "1,800 kilometers" in h.fake.to("chat.update")[-1].params["text"]


def tampered(signature: str) -> str:
    """The signature with its last hex digit changed (always a different signature: writing
    "00" over the end left it unchanged for 1 signature in 256, and the test then failed)."""
    return signature[:-1] + ("1" if signature[-1] == "0" else "0")


def test_every_kind_of_request_needs_a_valid_signature(harness, errors):
    h = harness
    event = json.dumps(fs.event_callback(fs.mention(QUESTION, ts="1699999004.000001")))
    command = fs.form(fs.command("/ask", QUESTION, h.fake.response_url))
    click = fs.interactive_form(fs.block_action(render.FEEDBACK_DOWN, "some-answer",
                                                h.fake.response_url))
    challenge = json.dumps({"token": "t", "challenge": "c-1", "type": "url_verification"})
    for body, ctype in [(event, JSON), (command, FORM), (click, FORM), (challenge, JSON)]:
        good = fs.signed(body, ctype)
        forged = [{"Content-Type": ctype},  # unsigned
                  fs.signed(body, ctype, secret="not-the-secret"),
                  fs.signed(body, ctype, timestamp=int(time.time()) - 6 * 60),  # replayed late
                  {**good, "X-Slack-Signature": tampered(good["X-Slack-Signature"])},
                  fs.signed(body + " ", ctype)]  # a signature made for another body
        for headers in forged:
            r = h.http.post(h.url, content=body, headers=headers)
            assert r.status_code == 401, (body[:40], headers)
    # An unsigned body over the limit is refused before it is read whole.
    r = h.http.post(h.url, content=b"x" * (MAX_BODY_BYTES + 1), headers={"Content-Type": JSON})
    assert r.status_code == 413
    h.settle()
    assert [c.method for c in h.fake.calls if c.method != "auth.test"] == []
    assert errors() == []


def test_http_mode_refuses_to_serve_without_a_signing_secret(seeded, fake):
    slack = SlackBot(Bot(slack_settings(seeded, fake, slack_signing_secret="")))
    try:
        with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
            slack.http_server("127.0.0.1", 0)
    finally:
        slack.close()

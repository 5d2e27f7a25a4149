"""Slack rendering and settings, without a store: Block Kit limits, text-fragment links, the
channel → collections mapping, and the ledger."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest

from bot.config import ConfigError
from bot.schema import Answer, Citation, Statement
from bot.ui.slack import blocks as render
from bot.ui.slack.channels import ChannelMap
from bot.ui.slack.ledger import Ledger

URL = "https://news.example.com/2021/09/missiles"


def cite(n: int, quote: str = "hit a target 1,800 kilometers away", source: str = URL,
         title: str = "Missile test") -> Citation:
    return Citation(n=n, article_id=f"a{n}", title=title, source=source, start=0,
                    end=len(quote), quote=quote)


def make_answer(cites: list[Citation], statement: str = "They flew far.", **kw) -> Answer:
    return Answer(question="What range?", answer=statement, short_answer=kw.pop("short", "1,800 km"),
                  refused=False, mode="extractive", citations=cites,
                  statements=[Statement(statement, [c.n for c in cites])], **kw)


def test_an_answer_is_text_then_one_quote_block_per_citation_then_feedback():
    text, blocks = render.answer(make_answer([cite(1), cite(2, "on Tuesday")]), "abc123")
    assert [b["type"] for b in blocks] == ["section", "rich_text", "rich_text", "actions"]
    assert blocks[0]["text"]["text"] == "*1,800 km*\n\nThey flew far. [1][2]"
    section, quote = blocks[1]["elements"]
    assert quote == {"type": "rich_text_quote",
                     "elements": [{"type": "text", "text": "hit a target 1,800 kilometers away"}]}
    link = section["elements"][1]
    assert link["type"] == "link" and link["text"] == "Missile test"
    assert link["url"].startswith(URL + "#:~:text=")
    assert [e["value"] for e in blocks[-1]["elements"]] == ["abc123", "abc123"]
    assert text == "1,800 km\nThey flew far."


def test_the_link_points_at_the_quoted_span():
    url = render.fragment_url(URL, "hit a target 1,800 kilometers away")
    assert url == URL + "#:~:text=hit%20a%20target%201%2C800%20kilometers%20away"
    long = ("North Korea test-fired two cruise missiles that hit a target 1,800 kilometers away "
            "on Tuesday, the agency said")
    start, end = render.fragment_url(URL, long).split("#:~:text=")[1].split(",")
    assert unquote(start) == "North Korea test-fired two cruise" and unquote(end) == "the agency said"
    assert "-" not in start  # '-' is syntax in a text directive: escaped
    assert render.fragment_url(URL + "#top", "on Tuesday") == URL + "#top:~:text=on%20Tuesday"
    assert render.fragment_url("seeds/000.txt", "on Tuesday") is None


def test_a_local_file_source_shows_the_title_without_a_link():
    _, blocks = render.answer(make_answer([cite(1, source="seeds/a.txt")]))
    title = blocks[1]["elements"][0]["elements"][1]
    assert title == {"type": "text", "text": "Missile test", "style": {"bold": True}}
    assert not any(b["type"] == "actions" for b in blocks)  # no answer id, no buttons


def test_a_refusal_says_plainly_that_the_articles_do_not_answer():
    refusal = Answer(question="Who won?", answer="The loaded articles do not answer this question.",
                     short_answer=None, refused=True, mode="extractive", citations=[],
                     notice="No articles in default yet; add some with: bot ingest PATH")
    text, blocks = render.answer(refusal, "id1")
    assert text == "The loaded articles do not answer this question."
    assert blocks[0]["text"]["text"] == text
    assert "bot ingest PATH" in blocks[1]["elements"][0]["text"]


def test_long_answers_stay_within_slacks_limits():
    huge = "A claim & <a tag> that goes on. " * 400  # 12,800 characters
    cites = [cite(n, quote="word " * 1000, title="T" * 500) for n in range(1, 80)]
    text, blocks = render.answer(make_answer(cites, statement=huge, short="x" * 5000), "id",
                                 asker="U1")
    assert len(blocks) <= 50 and blocks[-1]["type"] == "actions"
    assert len(text) <= 3000
    for b in blocks:
        if b["type"] == "section":
            assert len(b["text"]["text"]) <= 3000
        if b["type"] == "context":
            assert all(len(e["text"]) <= 3000 for e in b["elements"])
        if b["type"] == "rich_text":
            assert all(len(t["text"]) <= 3000 for el in b["elements"] for t in el["elements"])
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert sections[0].startswith("*x") and sections[0].endswith("…*")  # bold stays closed
    assert "&lt;a tag&gt;" in sections[1] and "<a tag>" not in json.dumps(sections)
    assert "more source(s) not shown" in blocks[-2]["elements"][0]["text"]


def test_sources_render_a_recorded_answer():
    recorded = make_answer([cite(1), cite(2, "on Tuesday")]).to_dict()
    text, blocks = render.sources(recorded)
    assert [b["type"] for b in blocks] == ["context", "rich_text", "rich_text"]
    assert "What range?" in text
    assert render.sources({"question": "q", "citations": []})[0] == "The last answer here cited no sources."


# -- channel scoping --------------------------------------------------------------------------

def test_channel_map_inline_and_unmapped_default():
    m = ChannelMap.parse("C123=policy, energy; C456=sports", "default")
    assert m.collections("C123") == ["policy", "energy"]
    assert m.collections("C456") == ["sports"]
    assert m.collections("C999") == ["default"]
    assert ChannelMap.parse("", "news").collections("C123") == ["news"]


def test_channel_map_from_json_and_toml_files(tmp_path):
    j = tmp_path / "channels.json"
    j.write_text(json.dumps({"C123": ["policy", "energy"], "C456": "sports"}))
    assert ChannelMap.parse(str(j), "d").channels == {"C123": ["policy", "energy"], "C456": ["sports"]}
    t = tmp_path / "channels.toml"
    t.write_text('[channels]\nC123 = ["policy", "energy"]\nC456 = "sports"\n')
    assert ChannelMap.parse(str(t), "d").channels == {"C123": ["policy", "energy"], "C456": ["sports"]}


@pytest.mark.parametrize("raw, says", [
    ("C123", "CHANNEL=collection"),
    ("general=news", "not a Slack channel id"),
    ("C123=", "needs one or more collection names"),
    ("missing.json", "cannot read"),
])
def test_channel_map_errors_are_one_line(raw, says, tmp_path):
    with pytest.raises(ConfigError) as e:
        ChannelMap.parse(raw, "d")
    assert says in str(e.value) and "\n" not in str(e.value)


def test_channel_map_bad_file(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text("C123 = [")
    with pytest.raises(ConfigError, match="not valid toml"):
        ChannelMap.parse(str(bad), "d")


# -- the ledger -------------------------------------------------------------------------------

def test_ledger_threads_votes_and_export(tmp_path):
    ledger = Ledger(tmp_path)
    ans = make_answer([cite(1)])
    ledger.record("a1", "C1", "100.1", "100.2", "U1", "What range?", ans)
    ledger.record("a2", "C1", "100.1", "100.3", "U1", "And the time?", ans)
    ledger.record("a3", "D1", "200.2", "200.2", "U1", "Top level in a DM", ans)
    assert [r.question for r in ledger.in_thread("C1", "100.1")] == ["What range?", "And the time?"]
    assert [r.answer_id for r in ledger.top_level("D1", since=0)] == ["a3"]
    assert ledger.top_level("C1", since=0) == []  # thread replies are not top-level
    assert ledger.last("C1").answer_id == "a2"
    assert ledger.vote("a1", "U7", "up") and ledger.vote("a1", "U7", "down")  # a change of mind
    assert not ledger.vote("nope", "U7", "up")
    [row] = ledger.feedback()
    assert row["vote"] == "down" and row["question"] == "What range?"
    assert row["citations"][0]["quote"] == "hit a target 1,800 kilometers away"
    ledger.forget("a3")
    assert ledger.last("D1") is None


def test_log_lines_never_carry_a_secret():
    import io
    import logging

    from bot.config import Settings

    # Loading the settings registers their secrets: any handler's records come redacted.
    Settings.load(env={"SLACK_BOT_TOKEN": "xoxb-9-9-secretvalue",
                       "SLACK_SIGNING_SECRET": "sig-secret-123"}, env_file=None)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("test.redact")
    logger.addHandler(handler)
    try:
        logger.error("calling with %s and %s", "xoxb-9-9-secretvalue", {"s": "sig-secret-123"})
        try:
            raise RuntimeError("bad token xoxb-9-9-secretvalue")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue()
    assert lines.startswith("calling with (hidden) and {'s': '(hidden)'}\nfailed\nTraceback")
    assert "secretvalue" not in lines
    assert "RuntimeError: bad token (hidden)" in lines
    assert "secretvalue" not in lines and "sig-secret-123" not in lines


def test_an_answer_the_sources_do_not_give_says_so_before_the_quote():
    ans = make_answer([cite(1)], short=None, not_stated="a speed")
    text, blocks = render.answer(ans)
    body = blocks[0]["text"]["text"]
    assert body.startswith("_The sources do not give a speed for this; the nearest they come is:_")
    assert text.startswith("The sources do not give a speed")
    assert "*" not in body.split("\n")[0].strip("_")  # no bold guessed phrase

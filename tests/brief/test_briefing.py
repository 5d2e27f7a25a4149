"""Summaries and briefings on a real embedded store: offline determinism, every statement cited
and verified, filters, the empty selection, the CLI, and the LLM map-reduce over real HTTP
against the local OpenAI-compatible server (a fabricated quote must not reach the briefing)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot import Bot
from bot.brief import briefing
from bot.brief.briefing import BriefingError
from bot.util.datefilter import DateError
from bot.answer.citations import check
from bot.config import Settings
from tests.conftest import ROOT, SEED_FILE, run_cli
from tests.openai_server import OpenAIServer, Reply

DATA = ROOT / "tests" / "data" / "briefing"
FIXED_TIME = "2022-02-01T08:00:00+00:00"


@pytest.fixture(scope="module")
def news(tmp_path_factory) -> Bot:
    """Five short articles from five sources: two on a missile launch (Kyodo, Yonhap), two on a
    bridge closure (council vs engineers), one on a cup final; dated 2022-01-10 to 01-28."""
    store = tmp_path_factory.mktemp("news") / "store"
    bot = Bot(Settings.load(env={}, env_file=None).with_(store_dir=store))
    report = bot.ingest([DATA])
    assert len(report.added) == 5 and not report.failed
    return bot


def by_title(bot: Bot) -> dict[str, str]:
    return {a.title: a.article_id for a in bot.articles(with_text=False)}


def points(b) -> list:
    return [p for s in b.sections for p in s.statements]


def assert_all_verified(bot: Bot, statements, exact: bool) -> None:
    assert statements
    for p in statements:
        assert p.citations, p.text
        for c in p.citations:
            article = bot.article(c.article_id)
            assert article.text[c.start:c.end] == c.quote
            assert check(c, article)
        if exact:  # offline: every point is an exact source sentence
            assert p.text == p.citations[0].quote


# -- summaries -------------------------------------------------------------------------------


def test_summary_is_cited_lead_weighted_and_shaped(seeded):
    article_id = seeded.articles()[0].article_id
    summary = seeded.summarize(article_id, max_sentences=3)
    assert 1 <= len(summary.statements) <= 3
    assert_all_verified(seeded, summary.statements, exact=True)
    starts = [p.citations[0].start for p in summary.statements]
    assert starts == sorted(starts)  # in article order
    d = summary.to_dict()
    assert set(d) == {"article_id", "statements"} and d["article_id"] == article_id
    assert set(d["statements"][0]) == {"text", "citations"}
    assert set(d["statements"][0]["citations"][0]) == {"n", "article_id", "title", "source",
                                                       "start", "end", "quote"}
    assert len(seeded.summarize(article_id, max_sentences=1).statements) == 1


def test_summary_of_unknown_article_is_a_clear_error(seeded):
    with pytest.raises(BriefingError) as e:
        seeded.summarize("0000000000000000")
    assert "0000000000000000" in str(e.value) and "bot sources" in str(e.value)
    assert "\n" not in str(e.value)


def test_summary_prefers_informative_sentences_to_debris(bot):
    from bot.sources.common import make_article

    text = ("Scroll down for video.\n\nThe city council voted on Monday to close the harbour bridge "
            "for six months of repairs.\n\nCracks were found in two steel girders of the harbour "
            "bridge in December.\n\nThe repairs to the bridge will cost 14 million pounds, the "
            "council said.\n\nPhoto: a view.\n\nThe weather was mild on Monday and many people "
            "went to the beach in the afternoon with their families and dogs.")
    article = make_article(text, title="Bridge", source="test")
    bot.ingest_articles([article])
    chosen = [p.text for p in bot.summarize(article.article_id, 2).statements]
    assert "Scroll down for video." not in chosen and "Photo: a view." not in chosen
    assert any("harbour bridge" in t for t in chosen)


def test_summary_leaves_out_photo_captions(seeded):
    """The sample article carries a photo caption of another day's launch ("North Korea
    test-fires two tactical guided missiles on Jan. 27, 2022. (KNS/Kyodo)"): a reader of the
    summary would take it for the news."""
    article = seeded.articles()[0]
    caption = article.text.index("(KNS/Kyodo)")
    for n in (3, 5):
        for p in seeded.summarize(article.article_id, max_sentences=n).statements:
            c = p.citations[0]
            assert not c.start < caption < c.end + 20, p.text


@pytest.mark.parametrize("paragraph, caption", [
    ("Rescuers search the rubble in Antakya on Monday. (AP Photo/Hussein Malla)", True),
    ("A protester waves a flag outside parliament. Photograph: Jane Doe/Reuters", True),
    ("Kim Jong Un inspects the launch in this undated photo released by KCNA. (Reuters)", True),
    ("Sales rose by 5 percent in the third quarter (Q3)", False),  # no credit after a sentence
    ("The company (NASDAQ) rose 5 percent on Monday after results.", False),
    ("The president said the talks would resume in March, according to a statement released "
     "by the White House on Friday, which also noted that officials from both sides had met "
     "twice before and that a third meeting was likely before the summer. (Reuters)", False),
])
def test_caption_paragraphs_are_short_and_end_with_a_credit(bot, paragraph, caption):
    from bot.brief.sentences import article_sentences
    from bot.sources.common import make_article

    lead = "The port reopened on Tuesday after a week of repairs to its two cranes."
    article = make_article(f"{lead}\n\n{paragraph}\n\nShips queued outside the harbour all week.",
                           title="Port", source="test")
    kept = " ".join(s.text for s in article_sentences(article))
    assert (paragraph.split(".")[0] not in kept) == caption


# -- briefings -------------------------------------------------------------------------------


def test_offline_briefing_is_deterministic(news):
    a = news.brief(generated_at=FIXED_TIME)
    b = news.brief(generated_at=FIXED_TIME)
    assert a.to_dict() == b.to_dict()
    from bot.ui import briefing_render

    assert briefing_render.markdown(a) == briefing_render.markdown(b)
    assert briefing_render.html(a) == briefing_render.html(b)


def test_briefing_sections_every_statement_cited_and_verified(news):
    b = news.brief(max_points=8, generated_at=FIXED_TIME)
    assert b.mode == "extractive"
    kinds = [s.kind for s in b.sections]
    assert kinds[0] == "headline" and "topic" in kinds and "timeline" in kinds and "claims" in kinds
    assert_all_verified(news, points(b), exact=True)
    # Citations are numbered 1..n across the briefing, the same span always the same number.
    numbers = {}
    for p in points(b):
        for c in p.citations:
            assert numbers.setdefault((c.article_id, c.start, c.end), c.n) == c.n
    assert sorted(set(numbers.values())) == list(range(1, len(numbers) + 1))
    # Key points: at most max_points with the headline, grouped by topic, each topic titled.
    key = [p for s in b.sections if s.kind in ("headline", "topic") for p in s.statements]
    assert len(key) <= 8
    topics = [s for s in b.sections if s.kind == "topic"]
    assert len(topics) >= 2 and all(s.heading for s in topics)
    for s in topics:  # one topic's points come from articles on that topic only
        titles = {c.title for p in s.statements for c in p.citations}
        assert len({("harbour" in t.lower() or "bridge" in t.lower(), "missile" in t.lower())
                    for t in titles}) == 1


def test_briefing_json_shape(news):
    d = news.brief(generated_at=FIXED_TIME).to_dict()
    assert set(d) == {"title", "generated_at", "articles", "sections"}
    assert d["generated_at"] == FIXED_TIME
    assert {a["article_id"] for a in d["articles"]} == set(by_title(news).values())
    assert all("text" not in a for a in d["articles"])
    for section in d["sections"]:
        assert set(section) == {"heading", "statements"}
        for st in section["statements"]:
            assert {"text", "citations"} <= set(st)
            assert all(set(c) == {"n", "article_id", "title", "source", "start", "end", "quote"}
                       for c in st["citations"])
    json.dumps(d)


def test_timeline_dates_are_resolved_and_ordered(news):
    b = news.brief(generated_at=FIXED_TIME)
    timeline = next(s for s in b.sections if s.kind == "timeline").statements
    dates = [p.date for p in timeline]
    assert all(dates) and dates == sorted(dates)
    by_text = {p.text: p.date for p in timeline}
    # "Sunday" in an article published Monday 2022-01-10 is 2022-01-09.
    cup = next((d for t, d in by_text.items() if "won the county cup final" in t), None)
    assert cup in (None, "2022-01-09")
    assert any(d.startswith("2022-01") for d in dates)


def test_claims_put_different_claimants_side_by_side(news):
    b = news.brief(topic="missile launches", generated_at=FIXED_TIME)
    claims = next(s for s in b.sections if s.kind == "claims").statements
    assert all(p.claimant for p in claims)
    groups: dict[int, list] = {}
    for p in claims:
        if p.group is not None:
            groups.setdefault(p.group, []).append(p)
    assert groups and all(len(g) >= 2 for g in groups.values())
    pair = next(iter(groups.values()))
    assert len({p.claimant.lower() for p in pair}) == len(pair)
    everything = " ".join(p.claimant for p in claims).lower()
    assert "korean" in everything  # KCNA / the South Korean military


def test_date_filters_select_articles(news):
    b = news.brief(since="2022-01-20", until="2022-01-21", generated_at=FIXED_TIME)
    assert {a.title for a in b.articles} == {"Harbour bridge to close for six months of repairs",
                                              "Engineers question need to shut harbour bridge"}
    assert {c.article_id for c in b.citations} <= {a.article_id for a in b.articles}
    assert "2022-01-20 to 2022-01-21" in b.title
    only_since = news.brief(since="2022-01-27", generated_at=FIXED_TIME)
    assert {a.published for a in only_since.articles} == {"2022-01-27", "2022-01-28"}


def test_source_filter(news):
    b = news.brief(source="yonhap", generated_at=FIXED_TIME)
    assert [a.source for a in b.articles] == ["Yonhap"]
    assert {c.source for c in b.citations} == {"Yonhap"}


def test_topic_filter_keeps_relevant_articles_only(news):
    missiles = news.brief(topic="missile launches", generated_at=FIXED_TIME)
    assert {a.source for a in missiles.articles} == {"Kyodo News", "Yonhap"}
    assert missiles.title.startswith("Briefing on missile launches")
    bridge = news.brief(topic="harbour bridge repairs", generated_at=FIXED_TIME)
    assert {a.source for a in bridge.articles} == {"Coast Herald", "Portmere Post"}


@pytest.mark.parametrize("kwargs, says", [
    ({"since": "2030-01-01"}, "since='2030-01-01'"),
    ({"topic": "volcanic eruption in Iceland"}, "topic="),
    ({"source": "nowhere"}, "source='nowhere'"),
])
def test_empty_selection_is_a_clear_one_line_message(news, kwargs, says):
    with pytest.raises(BriefingError) as e:
        news.brief(**kwargs)
    message = str(e.value)
    assert says in message and "widen" in message and "\n" not in message


def test_bad_dates_and_limits_are_clear_errors(news):
    with pytest.raises(DateError, match=r"^since='2022-13-01' is not a date; use YYYY-MM-DD"):
        news.brief(since="2022-13-01")
    with pytest.raises(DateError, match="swap"):
        news.brief(since="2022-02-01", until="2022-01-01")
    with pytest.raises(BriefingError, match="--max-points 0"):
        news.brief(max_points=0)


def test_empty_store_says_how_to_add_articles(bot):
    with pytest.raises(BriefingError, match="bot ingest"):
        bot.brief()


def test_progress_is_reported(news):
    calls = []
    news.brief(progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1][0] == calls[-1][1] == 5


def test_brief_over_several_collections(news):
    Bot(news.settings.with_(collection="sport")).ingest([DATA / "cup-final.md"])
    Bot(news.settings.with_(collection="world")).ingest([DATA / "kyodo-missiles.md"])
    both = news.brief(collections=["world", "sport"], generated_at=FIXED_TIME)
    assert {a.source for a in both.articles} == {"Kyodo News", "Sports Daily"}
    assert {c.source for c in both.citations} == {"Kyodo News", "Sports Daily"}
    assert_all_verified(news, points(both), exact=True)
    with pytest.raises(BriefingError, match="no articles in collection 'empty', 'nothing'"):
        news.brief(collections=["empty", "nothing"])


def test_briefing_renders_in_the_terminal(news):
    import io

    from rich.console import Console

    from bot.ui import briefing_render

    buf = io.StringIO()
    briefing_render.terminal(Console(file=buf, width=100, color_system=None), news.brief(generated_at=FIXED_TIME))
    shown = buf.getvalue()
    assert "Headline" in shown and "Claims to watch" in shown and "[1]" in shown


# -- parts -----------------------------------------------------------------------------------


def test_cluster_groups_by_average_similarity():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=16), rng.normal(size=16)
    vecs = np.stack([a + 0.1 * rng.normal(size=16) for _ in range(3)] +
                    [b + 0.1 * rng.normal(size=16) for _ in range(2)] + [rng.normal(size=16)])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    assert briefing.cluster(vecs, 0.8) == [[0, 1, 2], [3, 4], [5]]
    assert briefing.cluster(vecs[:1]) == [[0]]


def test_event_dates():
    from bot.brief.dates import event_date

    pub = "2022-01-28"  # a Friday
    assert event_date("The missiles hit a target on Tuesday, KCNA reported Friday.", pub) == "2022-01-25"
    assert event_date("Tests on Jan. 27, 2022 and later.", None) == "2022-01-27"
    assert event_date("It opened on 3 March.", pub) == "2022-03-03"
    assert event_date("The vote is next Monday.", pub) == "2022-01-31"
    assert event_date("Profits fell yesterday.", pub) == "2022-01-27"
    assert event_date("It happened in May 2021.", pub) == "2021-05"
    assert event_date("You may 2 times.", pub) is None
    assert event_date("It happened on Tuesday.", None) is None  # no anchor, no guess


def test_claimants():
    from bot.brief.claims import claimant, same

    assert claimant("Three died, according to police.") == "police"
    assert claimant("KCNA, meanwhile, reported Kim inspected a factory.") == "KCNA"
    assert claimant('"We will win," said John Smith, the coach.') == "John Smith"
    assert claimant("The South Korean military said the projectiles were ballistic.") == \
        "The South Korean military"
    assert claimant("Two were fired, South Korea's Joint Chiefs of Staff said.") == \
        "South Korea's Joint Chiefs of Staff"
    assert claimant('"We will win," he said.') is None
    assert claimant("It was reported that the vote failed.") is None
    assert same("KCNA", "the Korean Central News Agency")
    assert same("the news agency", "the official Korean Central News Agency")
    assert not same("KCNA", "the South Korean military")


# -- LLM map-reduce over HTTP ------------------------------------------------------------------

TRUE_QUOTE = "The South Korean military said the two projectiles were presumed to be short-range ballistic missiles"
FABRICATED = "The South Korean military said the missiles flew 5,000 kilometers over Japan"
TRUE_POINT = "The South Korean military said the projectiles were short-range ballistic missiles."


def _llm_reply(body: dict) -> Reply:
    system = body["messages"][0]["content"]
    user = body["messages"][-1]["content"]
    if "notes on ONE news article" in system:  # map
        if "Seoul says North fired" in user:
            true_id = _sentence_id(user, TRUE_QUOTE)
            notes = [{"point": TRUE_POINT, "sentences": [true_id],
                      "date": "2022-01-27", "claimant": "the South Korean military"},
                     # a figure its sentence does not hold, then a quote the article does not hold
                     {"point": "Seoul said they flew 5,000 km.", "sentences": [true_id],
                      "date": None, "claimant": "the South Korean military"},
                     {"point": "Seoul said so.", "quote": FABRICATED}]
        else:  # an exact quote instead of an id is read too
            notes = [{"point": "KCNA said the cruise missiles hit a target 1,800 km away.",
                      "quote": "hit a target 1,800 kilometers away on Tuesday", "date": "2022-01-25",
                      "claimant": "KCNA"}]
        return Reply.text(json.dumps({"notes": notes}))
    ids = [json.loads(line)["id"] for line in user.splitlines() if line.startswith("{")]
    assert not any("5,000" in line for line in user.splitlines()), "a fabricated note reached reduce"
    return Reply.text(json.dumps({
        "headline": [{"text": "North Korea fired missiles this week.", "notes": ids[:1]}],
        "topics": [{"heading": "Missile tests", "points": [
            {"text": "Seoul called them short-range ballistic missiles.", "notes": [i for i in ids if "n1" in i]},
            {"text": "Seoul said they flew 5,000 km.", "notes": ["a1n2"]},  # the dropped note
            {"text": "An invented point.", "notes": ["a9n9"]}]}],
        "timeline": [{"date": "2022-01-25", "text": "Cruise missile test.", "notes": ids[-1:]}],
        "claims": [{"claimant": "KCNA", "text": "1,800 km range.", "notes": ids[-1:], "group": 1},
                   # a figure the note it cites does not hold
                   {"claimant": "KCNA", "text": "A 2,500 km range.", "notes": ids[-1:], "group": None},
                   # the South Korean military's claim, moved to KCNA by the model
                   {"claimant": "KCNA", "text": "Short-range ballistic missiles.",
                    "notes": ids[:1], "group": 1}],
    }))


def _sentence_id(user: str, text: str) -> str:
    """The id of the numbered sentence of a map call's input that holds `text`."""
    for line in user.splitlines():
        sid, _, sentence = line.partition(" ")
        if sid.startswith("[") and "." in sid and text in json.loads(sentence):
            return sid.strip("[]")
    raise AssertionError(f"no sentence with {text!r} was sent")


def test_llm_briefing_drops_fabricated_quotes(news):
    with OpenAIServer() as server:
        server.chat_handler = _llm_reply
        bot = Bot(news.settings.with_(openai_base_url=server.base_url, openai_api_key="sk-test"))
        b = bot.brief(topic="missile launches", generated_at=FIXED_TIME)
        assert len(server.chat_requests) == 3  # two maps, one reduce
        assert all(r["response_format"] == {"type": "json_object"} for r in server.chat_requests)
    assert b.mode == "llm"
    texts = [p.text for p in points(b)]
    assert "Seoul said they flew 5,000 km." not in texts and "An invented point." not in texts
    assert "A 2,500 km range." not in texts
    assert "Seoul called them short-range ballistic missiles." in texts
    assert all(FABRICATED not in c.quote for c in b.citations)
    assert_all_verified(bot, points(b), exact=False)
    claims = next(s for s in b.sections if s.kind == "claims").statements
    assert {p.group for p in claims} == {1} and len(claims) == 2
    assert [p.claimant for p in claims] == ["KCNA", "the South Korean military"]
    assert "dropped" in (b.notice or "")


def test_llm_summary_drops_fabricated_quote(news):
    yonhap = by_title(news)["Seoul says North fired two short-range ballistic missiles"]
    with OpenAIServer() as server:
        server.chat_handler = _llm_reply
        bot = Bot(news.settings.with_(openai_base_url=server.base_url))
        summary = bot.summarize(yonhap, max_sentences=3)
    assert summary.mode == "llm"
    assert [p.text for p in summary.statements] == [TRUE_POINT]
    assert TRUE_QUOTE in summary.statements[0].citations[0].quote  # its whole sentence
    assert_all_verified(bot, summary.statements, exact=False)


def test_a_map_reply_cut_off_at_max_tokens_keeps_its_whole_notes(news):
    # JSON mode through the openai client's parser raised on a cut reply: the 1.5B model's
    # eight notes ran past max_tokens and the whole briefing fell back.
    def cut(body: dict) -> Reply:
        user = body["messages"][-1]["content"]
        if "notes on ONE news article" not in body["messages"][0]["content"]:
            return _llm_reply(body)
        whole = {"point": TRUE_POINT,
                 "sentences": [_sentence_id(user, TRUE_QUOTE)]}
        text = json.dumps({"notes": [whole, {**whole, "point": "The South Korean military said"}]})
        return Reply.text(text[:text.rindex("military said") + 13], finish_reason="length")

    yonhap = by_title(news)["Seoul says North fired two short-range ballistic missiles"]
    with OpenAIServer() as server:
        server.chat_handler = cut
        bot = Bot(news.settings.with_(openai_base_url=server.base_url))
        summary = bot.summarize(yonhap, max_sentences=3)
        assert server.chat_requests[0]["response_format"] == {"type": "json_object"}
    assert summary.mode == "llm"
    assert [p.text for p in summary.statements] == [TRUE_POINT]


def test_a_note_citing_a_wrong_sentence_id_is_mended_like_an_answer(news):
    # The 1.5B model's summary cited "1.6" for the lead sentence's 1,800 km: read as an answer's
    # statement is, the one sentence that backs the point is cited instead.
    def wrong_id(body: dict) -> Reply:
        user = body["messages"][-1]["content"]
        right = _sentence_id(user, TRUE_QUOTE)
        wrong = next(f"1.{m}" for m in range(1, 9) if f"1.{m}" != right and f"[1.{m}]" in user)
        return Reply.text(json.dumps({"notes": [{"point": TRUE_POINT, "sentences": [wrong]}]}))

    yonhap = by_title(news)["Seoul says North fired two short-range ballistic missiles"]
    with OpenAIServer() as server:
        server.chat_handler = wrong_id
        bot = Bot(news.settings.with_(openai_base_url=server.base_url))
        summary = bot.summarize(yonhap, max_sentences=3)
    assert summary.mode == "llm" and [p.text for p in summary.statements] == [TRUE_POINT]
    assert TRUE_QUOTE in summary.statements[0].citations[0].quote


def test_nothing_verifiable_from_the_model_falls_back_to_extractive(news):
    # A small model that cites no sentence and garbles its quotes: the reader gets the
    # extractive summary and briefing, saying why, not an empty one marked "llm".
    def garbled(body: dict) -> Reply:
        if "notes on ONE news article" in body["messages"][0]["content"]:
            return Reply.text(json.dumps({"notes": [{"point": "Missiles were fired.",
                                                     "quote": "words copied exactly from the article"}]}))
        return Reply.text(json.dumps({"headline": [{"text": "Missiles were fired.", "notes": ["a1n1"]}]}))

    kyodo = by_title(news)["North Korea says cruise missiles flew 1,800 km"]
    with OpenAIServer() as server:
        server.chat_handler = garbled
        bot = Bot(news.settings.with_(openai_base_url=server.base_url))
        summary = bot.summarize(kyodo)
        b = bot.brief(source="kyodo", generated_at=FIXED_TIME)
    assert summary.mode == b.mode == "extractive" and summary.statements and points(b)
    assert "could be verified" in summary.notice and "could be verified" in b.notice
    assert_all_verified(bot, summary.statements, exact=True)


def test_llm_briefing_through_a_server_without_json_mode(news):
    """Small local servers: JSON mode refused (HTTP 400), JSON written in a code fence with
    prose around it; every call bounded by max_tokens, the reduce's 3x."""
    def server_reply(body: dict) -> Reply:
        if "response_format" in body:
            return Reply.error(400, "response_format is not supported")
        reply = _llm_reply(body)
        return Reply.text(f"Here you go:\n```json\n{reply.content}\n```\nDone.")

    with OpenAIServer() as server:
        server.chat_handler = server_reply
        bot = Bot(news.settings.with_(openai_base_url=server.base_url, llm_max_tokens=300))
        b = bot.brief(topic="missile launches", generated_at=FIXED_TIME)
        sent = [r for r in server.chat_requests if "response_format" not in r]
    assert b.mode == "llm" and "Seoul called them short-range ballistic missiles." in \
        [p.text for p in points(b)]
    assert [r["max_tokens"] for r in sent] == [600, 600, 900]  # two maps (2x), the reduce (3x)
    assert_all_verified(bot, points(b), exact=False)


def test_llm_down_falls_back_to_extractive(news):
    with OpenAIServer() as server:
        server.chat_handler = lambda body: Reply.error(401, "bad key")
        bot = Bot(news.settings.with_(openai_base_url=server.base_url, openai_api_key="sk-secret-1"))
        b = bot.brief(source="kyodo", generated_at=FIXED_TIME)
    assert b.mode == "extractive" and "language model could not be used" in b.notice
    assert "sk-secret-1" not in json.dumps(b.to_dict()) + (b.notice or "")
    assert_all_verified(bot, points(b), exact=True)


def test_llm_without_json_falls_back_to_extractive(news):
    kyodo = by_title(news)["North Korea says cruise missiles flew 1,800 km"]
    with OpenAIServer() as server:
        server.chat_handler = lambda body: Reply.text("Sorry, I can only chat.")
        bot = Bot(news.settings.with_(openai_base_url=server.base_url))
        b = bot.brief(source="kyodo", generated_at=FIXED_TIME)
        summary = bot.summarize(kyodo)
    assert b.mode == summary.mode == "extractive"
    assert "could not be used" in b.notice and "could not be used" in summary.notice
    assert_all_verified(bot, summary.statements, exact=True)


# -- CLI and rendering ---------------------------------------------------------------------------


def test_cli_summarize_and_brief(tmp_path):
    env = {"BOT_STORE_DIR": str(tmp_path / "store")}
    assert run_cli("ingest", str(DATA), env=env).returncode == 0
    sources = json.loads(run_cli("sources", "--json", env=env).stdout)
    kyodo = next(s["article_id"] for s in sources if s["source"] == "Kyodo News")
    got = run_cli("summarize", kyodo, "--sentences", "2", "--json", env=env)
    assert got.returncode == 0, got.stderr
    assert len(json.loads(got.stdout)["statements"]) <= 2
    text = run_cli("summarize", kyodo, env=env)
    assert text.returncode == 0 and "[1]" in text.stdout and "Sources" in text.stdout
    out = tmp_path / "brief.json"
    got = run_cli("brief", "--format", "json", "--out", str(out), "--since", "2022-01-20", env=env)
    assert got.returncode == 0, got.stderr
    assert "wrote" in got.stdout
    assert len(json.loads(out.read_text())["articles"]) == 4
    md = run_cli("brief", "--topic", "harbour bridge", "--max-points", "4", env=env)
    assert md.returncode == 0 and md.stdout.startswith("# Briefing on harbour bridge")
    assert "## Key points" in md.stdout and "## Sources" in md.stdout
    empty = run_cli("brief", "--since", "2030-01-01", env=env)
    assert empty.returncode == 1 and "Traceback" not in empty.stderr
    assert empty.stderr.strip().splitlines() == [empty.stderr.strip()]
    assert empty.stderr.startswith("error: no articles match --since '2030-01-01'")
    bad = run_cli("brief", "--format", "pdf", env=env)
    assert bad.returncode == 1 and "--format 'pdf'" in bad.stderr
    missing = run_cli("summarize", "nope", env=env)
    assert missing.returncode == 1 and "nope: no such article" in missing.stderr


def test_html_is_self_contained_with_quoted_footnotes(news):
    from bot.ui import briefing_render

    b = news.brief(generated_at=FIXED_TIME)
    page = briefing_render.html(b)
    assert page.startswith("<!doctype html>") and "<style>" in page
    for external in ("<script", "<link", "src=", "http://", "https://", "@import", "url("):
        assert external not in page
    for c in b.citations:
        assert f'id="note-{c.n}"' in page and f'href="#note-{c.n}"' in page
    import html as htmllib

    first = b.citations[0]
    assert f"<mark>{htmllib.escape(first.quote)}</mark>" in page


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed "
                    "(apt-get install -y chromium) so the HTML cannot be rendered headless")
def test_html_renders_in_headless_chromium(news, tmp_path):
    import subprocess

    from bot.ui import briefing_render

    page = tmp_path / "brief.html"
    page.write_text(briefing_render.html(news.brief(generated_at=FIXED_TIME)), encoding="utf-8")
    shot = tmp_path / "brief.png"
    proc = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1200, 1600)
    assert len(data) > 30_000  # a blank page compresses to a few KB; text makes it larger

"""Follow-up questions offline: the conversation's subject is carried into retrieval.

The store holds the seed article and a second article about birds that also "flew for" some
hours, so "How long did they fly?" alone is ambiguous: only the conversation says which.
"""

import pytest

from bot.answer.citations import check
from bot.answer.followup import depends_on_history

from conftest import SEEDS

GEESE = """Geese cross the Himalayas in one push

A flock of bar-headed geese crossed the Himalayas in a single push this spring, researchers at a
field station in Nepal reported on Monday.

The birds flew for nine hours without landing, according to data from small trackers fitted to
twelve of them.

Scientists said the geese save energy by following the rise and fall of the terrain rather than
holding a constant altitude.
"""


@pytest.fixture(scope="module")
def two_articles(tmp_path_factory):
    from bot import Bot
    from bot.config import Settings

    folder = tmp_path_factory.mktemp("followup")
    geese = folder / "geese.txt"
    geese.write_text(GEESE)
    bot = Bot(Settings.load(env={}, env_file=None).with_(store_dir=folder / "store"))
    report = bot.ingest([SEEDS, geese])
    assert len(report.added) == 2 and not report.failed
    return bot


def test_follow_up_is_about_the_missiles(two_articles):
    first = two_articles.ask("What range was claimed?")
    assert first.short_answer_candidate == "1,800 kilometers"
    follow = two_articles.ask("How long did they fly?", history=[first])
    assert follow.question == "How long did they fly?"
    assert follow.standalone_question.startswith("How long did they fly?")
    assert "missiles" in follow.standalone_question
    assert follow.short_answer_candidate == "more than two and a half hours"
    for c in follow.citations:
        assert check(c, two_articles.article(c.article_id))


def test_the_same_words_after_another_subject_are_about_that_subject(two_articles):
    first = two_articles.ask("Where did the geese cross?")
    assert "geese" in first.answer.lower()
    follow = two_articles.ask("How long did they fly?", history=[first])
    assert "geese" in follow.standalone_question
    assert follow.short_answer_candidate == "nine hours"


def test_history_as_plain_question_answer_pairs(two_articles):
    pairs = [("What range was claimed?",
              "North Korea test-fired two cruise missiles that hit a target 1,800 kilometers away.")]
    follow = two_articles.ask("How long did they fly?", history=pairs)
    assert "missiles" in follow.standalone_question
    assert follow.short_answer_candidate == "more than two and a half hours"


def test_a_question_that_stands_alone_is_left_alone(two_articles):
    first = two_articles.ask("What range was claimed?")
    q = "How long did the geese fly?"
    assert two_articles.standalone_question(q, [first]) == q
    answer = two_articles.ask(q, history=[first])
    assert answer.standalone_question is None and answer.question == q


def test_no_history_no_change(seeded):
    assert seeded.standalone_question("How long did they fly?", []) == "How long did they fly?"
    assert seeded.ask("How long did they fly?").standalone_question is None


def test_elliptical_follow_up_keeps_its_own_kind_of_answer(two_articles):
    first = two_articles.ask("How long did the cruise missiles fly?")
    follow = two_articles.ask("And the range?", history=[first])
    assert "missiles" in follow.standalone_question
    assert follow.short_answer_candidate == "1,800 kilometers"


@pytest.mark.parametrize("question, depends", [
    ("How long did they fly?", True),
    ("When was it launched?", True),
    ("Who fired these?", True),
    ("And the range?", True),
    ("How far did the geese travel?", False),
    ("Who is Kim Jong Un?", False),
])
def test_which_questions_lean_on_the_conversation(question, depends):
    assert depends_on_history(question) is depends


def test_llm_mode_with_the_model_down_falls_back_to_the_offline_method(two_articles):
    """condense() returns the question unchanged when the model fails; the offline carry-over
    then still finds the subject."""
    from bot import Bot

    llm_bot = Bot(two_articles.settings.with_(openai_base_url="http://127.0.0.1:9/v1"))
    first = llm_bot.ask("What range was claimed?")
    assert "missiles" in llm_bot.standalone_question("How long did they fly?", [first])


def test_a_rewrite_that_drops_the_follow_ups_words_is_not_used(two_articles, openai_server):
    """The 0.5B model rewrote "How long did they fly?" as "How long did North Korea test-fire?":
    the offline method decides instead; a rewrite that keeps the words is used."""
    from bot import Bot
    from tests.openai_server import Reply

    llm_bot = Bot(two_articles.settings.with_(openai_base_url=openai_server.base_url, llm_retries=0))
    pairs = [("What did North Korea test-fire?", "North Korea test-fired two cruise missiles.")]
    openai_server.chat_handler = lambda body: Reply.text("How long did North Korea test-fire?")
    standalone = llm_bot.standalone_question("How long did they fly?", pairs)
    assert "fly" in standalone and "missiles" in standalone  # the offline carry-over
    openai_server.chat_handler = lambda body: Reply.text("How long did the cruise missiles fly?")
    assert llm_bot.standalone_question("How long did they fly?", pairs) == \
        "How long did the cruise missiles fly?"

"""The offline answer path, end to end on a real embedded Chroma store."""

import json

import pytest
from conftest import ROOT

from bot.answer.citations import check


def test_seed_question_is_answered_with_a_verified_citation(seeded):
    answer = seeded.ask("What range was claimed?")
    assert not answer.refused
    assert answer.mode == "extractive"
    # Its short phrase is found but not sure enough to state on its own (issue 12): the
    # sentence holding it leads.
    assert answer.short_answer_candidate == "1,800 kilometers"
    assert "1,800 kilometers" in answer.citations[0].quote
    for c in answer.citations:
        assert check(c, seeded.article(c.article_id))


def test_unrelated_question_is_refused(seeded):
    answer = seeded.ask("Who won the football world cup final?")
    assert answer.refused
    assert answer.citations == []


def test_empty_store_says_so(bot):
    answer = bot.ask("What range was claimed?")
    assert answer.refused
    assert "bot ingest" in answer.notice


def test_answer_json_shape(seeded):
    d = seeded.ask("How long did the cruise missiles fly?").to_dict()
    assert {"question", "answer", "short_answer", "refused", "mode", "citations",
            "timings_ms"} <= set(d)
    assert d["citations"] and set(d["citations"][0]) == {"n", "article_id", "title", "source",
                                                         "start", "end", "quote"}
    assert [c["n"] for c in d["citations"]] == list(range(1, len(d["citations"]) + 1))


# -- what is shown first, and how sure the answerer is (issue 12) ---------------------------------

def _headline(answer) -> str:
    """What a reader sees first: the short answer when shown, else the first cited sentence."""
    return answer.short_answer or answer.citations[0].quote


def _ask_with_threshold(bot, question: str, show_short_above: float):
    """The real answerer on the real store, with the shipped model at another threshold."""
    import dataclasses

    from bot.answer import citations
    from bot.answer.extractive import ExtractiveAnswerer, load_model

    model = load_model()
    model = dataclasses.replace(model, confidence=dataclasses.replace(
        model.confidence, show_short_above=show_short_above))
    answerer = ExtractiveAnswerer(bot.embedder, bot.retriever().idf, model=model)
    return citations.verify(question, answerer.answer(question, bot.retrieve(question, 6)), bot.article)


def test_a_short_answer_is_shown_only_above_the_threshold(seeded):
    from bot.answer.extractive import load_model

    question = "How long did the cruise missiles fly?"
    shipped = seeded.ask(question)
    p = shipped.short_answer_confidence
    assert shipped.short_answer_candidate == "more than two and a half hours" and 0.0 < p < 1.0
    assert (shipped.short_answer is not None) == (p >= load_model().confidence.show_short_above)
    shown = _ask_with_threshold(seeded, question, p - 0.01)
    assert shown.short_answer == "more than two and a half hours"
    assert shown.confidence == shown.short_answer_confidence == p  # the headline is the phrase
    assert any(shown.short_answer in c.quote for c in shown.citations)


def test_low_confidence_short_answer_is_hidden_and_the_sentence_leads(seeded):
    """Under the threshold the phrase is kept as a candidate in the JSON, but not shown, and
    the headline is the best cited sentence."""
    answer = _ask_with_threshold(seeded, "What range was claimed?", 1.0)
    assert answer.short_answer is None and answer.short_answer_candidate == "1,800 kilometers"
    assert 0.0 < answer.confidence < 1.0 and answer.confidence != answer.short_answer_confidence
    assert "1,800 kilometers" in answer.citations[0].quote
    d = answer.to_dict()
    assert d["short_answer"] is None and d["short_answer_candidate"] == "1,800 kilometers"


def test_off_topic_and_missing_kind_questions_are_not_answered_as_if_answered(seeded):
    assert seeded.ask("What is the capital of Australia?").refused
    # The article never says when the factory inspection took place ("without saying when").
    answer = seeded.ask("When did Kim inspect the munitions factory?")
    assert answer.refused or (answer.not_stated == "a date or time" and answer.short_answer is None
                              and answer.answer.startswith("The sources do not give a date"))


def test_a_name_from_a_negated_sentence_is_not_shown_as_the_answer(seeded):
    """The first sentence cited for "Who reported the test-firings?" says Kim Jong Un "was
    not reported to have witnessed the test-firings": its name must not be stated as the answer."""
    answer = seeded.ask("Who reported the test-firings?")
    assert answer.short_answer is None or "Kim" not in answer.short_answer


def test_a_sentence_that_denies_the_questions_verb_is_not_ranked_first(seeded):
    """"Kim Jong Un ... was not reported to have witnessed the test-firings" shares every word
    of "Who reported the test-firings?" and answers nothing: the agency's sentence leads."""
    from bot.answer.extractive import ExtractiveAnswerer

    question = "Who reported the test-firings?"
    answerer = ExtractiveAnswerer(seeded.embedder, seeded.retriever().idf)
    ranked = answerer.analyse(question, seeded.retrieve(question, 6)).ranked
    assert "Korean Central News Agency reported" in ranked[0].text
    assert all("not reported" not in c.text for c in ranked[:3])


def test_the_sentence_holding_the_kind_asked_for_leads(seeded):
    """"How far ...?" asks for a distance: the sentence with "two and a half hours" holds a
    number but no distance, so the one with "1,800 kilometers" leads it (BENCHMARKS.md: this
    ordering changes none of 2,400 SQuAD answers)."""
    answer = seeded.ask("How far did the cruise missiles fly?")
    assert "1,800 kilometers" in _headline(answer)
    how_long = seeded.ask("How long did the cruise missiles fly?")
    assert "two and a half hours" in _headline(how_long)


SEEDS_QA = ROOT.parent / "shared" / "eval" / "seed_qa.jsonl"


@pytest.mark.parametrize("n", [0, 1, 2])
def test_seed_questions_are_right(seeded, n):
    if not SEEDS_QA.exists():
        pytest.skip("../shared/eval is not beside the checkout")
    item = json.loads(SEEDS_QA.read_text().splitlines()[n])
    answer = seeded.ask(item["question"])
    assert not answer.refused, item["question"]
    assert any(g in _headline(answer) for g in item["answers"]), (item["question"], _headline(answer))


def test_the_cards_question_is_answered_with_margin(seeded):
    """The quick start's question must not sit on the refusal threshold (it once passed by
    0.815 against 0.818): a retrain that brings it back within a quarter of a logit fails."""
    import math

    from bot.answer.extractive import ExtractiveAnswerer, load_model

    question = "What range was claimed?"
    model = load_model()
    answerer = ExtractiveAnswerer(seeded.embedder, seeded.retriever().idf)
    p = answerer.analyse(question, seeded.retrieve(question, seeded.settings.top_k)).refuse_prob
    logit = lambda x: math.log(x / (1 - x))  # noqa: E731
    assert logit(model.refuse_above) - logit(p) >= 0.25, (p, model.refuse_above)

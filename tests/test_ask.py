"""The offline answer path, end to end on a real embedded Chroma store."""

from bot.citations import check


def test_seed_question_is_answered_with_a_verified_citation(seeded):
    answer = seeded.ask("What range was claimed?")
    assert not answer.refused
    assert answer.mode == "extractive"
    assert answer.short_answer == "1,800 kilometers"
    assert any("1,800 kilometers" in c.quote for c in answer.citations)
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

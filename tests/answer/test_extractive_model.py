"""The offline answerer's learned models: they load offline and score deterministically."""

import json

from bot.answer import extractive as ex

SENTENCE = ("North Korea test-fired two cruise missiles that hit a target 1,800 kilometers away "
            "on Tuesday, the official Korean Central News Agency reported Friday.")


def test_shipped_model_loads_offline_and_is_small():
    model = ex.load_model()
    assert model.sentence.weights and model.span.weights and model.refusal.weights
    assert 0.0 < model.refuse_above < 1.0
    assert "trained_on" in model.meta
    assert ex.MODEL_PATH.stat().st_size < 512 * 1024


def test_model_round_trips_through_json():
    model = ex.load_model()
    again = ex.QAModel.from_dict(json.loads(json.dumps(model.to_dict())))
    feats = {"dense": 0.5, "lex": 0.8, "wh=what": 1.0, "unknown feature": 3.0}
    assert again.sentence.score(feats) == model.sentence.score(feats)


def test_question_analysis():
    q = ex.analyse("How long did the cruise missiles fly?")
    assert q.wh == "how_long" and q.types[0] == "duration"
    assert {"cruis", "missil"} <= q.terms
    assert ex.analyse("What team won Super Bowl 50?").head == "team"
    assert ex.analyse("Who reported the test-firings?").wh == "who"


def test_span_candidates_are_exact_and_scored_the_same_every_time():
    q = ex.analyse("What range was claimed?")
    model = ex.load_model()
    first = ex.span_candidates(q, SENTENCE)
    again = ex.span_candidates(q, SENTENCE)
    assert first and all(SENTENCE[s.start:s.end] == s.text for s in first)
    assert [model.span.score(s.features) for s in first] == \
        [model.span.score(s.features) for s in again]
    # Phrases made only of the question's words are never offered as its answer.
    assert all(s.text.lower() != "claimed" for s in first)
    assert "1,800 kilometers" in [s.text for s in first]


def test_word_states_line_up_with_the_tokens():
    from bot.index.embeddings import LocalEmbedder

    [(offsets, states)] = LocalEmbedder().token_states([SENTENCE])
    assert len(offsets) == len(states) and states.shape[1] == ex.READER_DIM
    assert all(0 <= s < e <= len(SENTENCE) for s, e in offsets)
    toks = ex.tokens(SENTENCE)
    words = ex.word_states(offsets, states, toks)
    assert words.shape == (len(toks), ex.READER_DIM)
    assert abs(float((words[0] ** 2).sum()) - 1.0) < 1e-4  # every token found its wordpieces


def test_a_quantity_keeps_its_qualifier():
    sentence = "The two cruise missiles flew for more than two and a half hours before landing."
    start = sentence.index("two and a half")
    bare = ex.Span(start, start + len("two and a half hours"), "two and a half hours", {})
    kept = ex.with_qualifier(sentence, bare)
    assert kept.text == "more than two and a half hours"
    assert sentence[kept.start:kept.end] == kept.text  # still an exact span of the sentence
    # Only quantities take one: a name after "about" is not widened.
    s2 = "They talked about Kim Jong Un."
    name = ex.Span(s2.index("Kim"), len(s2) - 1, "Kim Jong Un", {})
    assert ex.with_qualifier(s2, name).text == "Kim Jong Un"
    # "some" is not a qualifier (the determiner is too often something else).
    s3 = "Some 5 million people left."
    n = ex.Span(5, 14, "5 million", {})
    assert ex.with_qualifier(s3, n).text == "5 million"


def test_the_short_answer_sits_in_a_cited_sentence(seeded):
    for question in ("What range was claimed?", "How long did the cruise missiles fly?"):
        answer = seeded.ask(question)
        assert not answer.refused and answer.short_answer_candidate
        assert any(answer.short_answer_candidate in c.quote for c in answer.citations)


def test_shipped_model_carries_its_calibration():
    conf = ex.load_model().confidence
    assert conf is not None and 0.0 < conf.show_short_above < 1.0 and 0.0 <= conf.refuse_below < 1.0
    assert "fold A" in conf.meta["trained_on"]
    assert conf.headline.weights and conf.short.weights
    # A phrase that cuts a name ("Workers" of "Workers' Party") counts against showing it.
    assert conf.short.weights["span_fragment"] < 0


def test_dates_include_years_ago_and_spelled_centuries_but_not_clock_times():
    found = lambda text: [m.group() for m in ex.PATTERNS["date"].finditer(text)]  # noqa: E731
    # A clock time is no date: "opening hours to 10 p.m." must not answer "when will it open?"
    # as well as "will now open in July" does (tests/sources/test_feeds.py).
    assert found("At 1 a.m. he awoke with more chest pain.") == []
    assert found("Bacteria evolved about 3.5 billion years ago.") == ["3.5 billion years ago"]
    assert found("It lasted into the nineteenth century.") == ["nineteenth century"]
    assert found("The duchy was founded in 911 by Rollo.") == ["911"]
    assert found("Rome was founded in 753 BC.") == ["753 BC"]
    assert found("They paid 911 dollars.") == []  # a bare three-digit number is not a year


def test_a_sentence_that_denies_the_questions_verb_is_noticed():
    q = ex.analyse("Who reported the test-firings?")
    assert q.predicate == "<say>"
    denial = "Kim Jong Un was not reported to have witnessed the test-firings on Tuesday."
    assert ex.denies_predicate(q, denial)
    assert not ex.denies_predicate(q, SENTENCE)  # "... News Agency reported Friday"
    # Only the question's own verb counts, and a negative question is left alone.
    assert not ex.denies_predicate(ex.analyse("Who fired the missiles?"), denial)
    assert ex.analyse("Who did not report the test-firings?").predicate is None
    assert ex.analyse("What did the military presume?").predicate is None


def test_a_phrase_cut_out_of_a_measure_is_made_whole():
    sentence = "The two cruise missiles flew for more than two and a half hours before landing."
    start = sentence.index("half hours")
    cut = ex.Span(start, start + len("half hours"), "half hours", {})
    whole = ex.with_qualifier(sentence, ex.whole_measure(sentence, cut))
    assert whole.text == "more than two and a half hours"
    assert sentence[whole.start:whole.end] == whole.text
    name = ex.Span(4, 14, "two cruise", {})  # not inside a measure: left as it is
    assert ex.whole_measure(sentence, name) is name


def _candidate(text: str, dense: float, rank: int = 0) -> ex.Candidate:
    return ex.Candidate("a", 0, len(text), text, rank, {"dense": dense, "lex_ctx": 1.0, "log_len": 4.0},
                        context=text, passage=text)


def test_mismatch_features_see_what_the_question_adds_to_its_best_sentence():
    """The refusal model reads where a question parts from its best evidence: a negation, a
    number or a name only the question has, a word the sentence's paragraph lacks."""
    best = _candidate(SENTENCE, 0.6)
    other = _candidate("Japan is a close security ally of the United States.", 0.2, rank=1)

    def feats(question: str) -> dict[str, float]:
        return ex.mismatch_features(ex.analyse(question), [best, other])

    plain = feats("Who reported the test-firings?")
    assert plain["ctx_missing_count"] == 0 and plain["ctx_covered"] == 1.0
    assert plain["neg_question_only"] == 0 and plain["number_missing_top"] == 0
    assert abs(plain["dense_rel"] - 0.2) < 1e-9 and plain["dense_best_gap"] == 0.0
    assert feats("Who did not report the test-firings?")["neg_question_only"] == 1.0
    assert feats("Who reported the three test-firings?")["number_missing_top"] == 1.0
    assert feats("Who reported the two test-firings?")["number_missing_top"] == 0.0
    assert feats("Who reported a range of 1,800 kilometers?")["number_missing_top"] == 0.0
    assert feats("Who in Seoul reported the test-firings?")["caps_missing_top"] == 1.0
    swapped = feats("Who reported the test-firings in Seoul?")
    assert swapped["ctx_missing_count"] == 1 and swapped["ctx_covered"] == 0.75
    assert swapped["near_copy_missing"] == 0.75 and swapped["one_missing"] == 1.0
    # The noun that names the kind of answer ("which newspaper") need not be in the sentence.
    assert feats("Which newspaper reported the test-firings?")["ctx_missing_count"] == 0

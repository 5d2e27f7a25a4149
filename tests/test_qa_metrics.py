"""The SQuAD scoring used by bench/eval_qa.py (official normalisation)."""

from bench.qa_metrics import contains_answer, exact_match, f1_score, normalize_answer


def test_normalisation_drops_case_punctuation_and_articles():
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert normalize_answer("an apple, a pear") == "apple pear"
    assert normalize_answer("1,800 kilometers") == "1800 kilometers"


def test_exact_match_and_f1_take_the_best_gold():
    golds = ["Denver Broncos", "the Broncos"]
    assert exact_match("broncos", golds) == 1.0
    assert exact_match("Denver", golds) == 0.0
    assert f1_score("Denver", golds) == 2 * (1 * 0.5) / 1.5
    assert f1_score(None, golds) == 0.0 and exact_match(None, golds) == 0.0


def test_contains_answer_needs_whole_tokens():
    assert contains_answer("It hit a target 1,800 kilometers away.", ["1,800 kilometers"])
    assert not contains_answer("It flew 11,800 kilometers.", ["1,800 kilometers"])
    assert not contains_answer("Broncos", ["Denver Broncos"])


def test_a_short_answer_is_right_when_it_is_mostly_the_gold_answer():
    from bench.qa_metrics import short_answer_right

    golds = ["the Rodong Sinmun"]
    assert short_answer_right("Rodong Sinmun", golds)
    assert not short_answer_right("Workers", golds)  # a fragment of something else
    assert not short_answer_right("Rodong", golds)  # a fragment of the answer
    # A whole clause holds the answer but is not a short answer.
    assert not short_answer_right("the Rodong Sinmun, the mouthpiece of North Korea's party", golds)
    assert not short_answer_right(None, golds)


def test_reliability_bins_and_brier():
    from bench.qa_metrics import brier, reliability

    probs, right = [0.1, 0.15, 0.95, 0.92, 0.5], [False, False, True, False, True]
    rows = {b: (n, mc, acc) for b, n, mc, acc in reliability(probs, right)}
    assert rows["0.0-0.2"] == (2, 0.125, 0.0) and rows["0.9-1.0"][0] == 2
    assert rows["0.9-1.0"][2] == 0.5 and rows["0.4-0.6"] == (1, 0.5, 1.0)
    assert brier([1.0, 0.0], [True, False]) == 0.0 and brier([1.0], [False]) == 1.0

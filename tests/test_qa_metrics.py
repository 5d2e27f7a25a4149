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

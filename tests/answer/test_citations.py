"""The verifier: quotes are found in the stored text, or dropped."""

from hypothesis import given, settings as hsettings, strategies as st

from bot.answer.citations import REFUSAL, check, locate, verify
from bot.schema import Article, Draft, DraftStatement, Quote

TEXT = ("North Korea test-fired two cruise missiles that hit a target 1,800 kilometers away.\n\n"
        "“The practical combat performance,” KCNA said.  The missiles flew\nfor two hours.")
ART = Article(article_id="a1", title="T", source="s.txt", text=TEXT)


def lookup(article_id):
    return ART if article_id == "a1" else None


def test_exact_quote_is_located():
    assert locate("1,800 kilometers", TEXT) == (TEXT.index("1,800"), TEXT.index("1,800") + 16)


def test_whitespace_and_quote_marks_are_forgiven_nothing_else():
    s, e = locate('"The practical combat performance," KCNA said. The missiles flew for two hours.', TEXT)
    assert TEXT[s:e].startswith("“The practical") and TEXT[s:e].endswith("two hours.")
    assert locate("The missiles flew for three hours.", TEXT) is None
    assert locate("1800 kilometers", TEXT) is None


def test_nearest_occurrence_is_chosen():
    text = "alpha beta. gamma. alpha beta."
    assert locate("alpha beta", text, near=20) == (19, 29)
    assert locate("alpha beta", text, near=0) == (0, 10)


@hsettings(max_examples=300, deadline=None)
@given(text=st.text(min_size=5, max_size=400), data=st.data())
def test_any_substring_verifies_to_itself(text, data):
    s = data.draw(st.integers(0, len(text) - 3))
    e = data.draw(st.integers(s + 3, len(text)))
    quote = text[s:e]
    if len(quote.strip()) < 3:
        return
    span = locate(quote, text, near=s)
    assert span is not None
    assert text[span[0]:span[1]].strip() == quote.strip()


def test_verify_drops_fabricated_and_unknown_article_quotes():
    draft = Draft(statements=[
        DraftStatement("It flew 1,800 km.", [Quote("a1", "1,800 kilometers"), Quote("zz", "1,800")]),
        DraftStatement("It carried a nuclear warhead.", [Quote("a1", "carried a nuclear warhead")]),
    ], mode="llm")
    answer = verify("q", draft, lookup)
    assert [s.text for s in answer.statements] == ["It flew 1,800 km."]
    assert len(answer.citations) == 1 and answer.citations[0].n == 1
    assert check(answer.citations[0], ART)
    assert "dropped" in answer.notice


def test_nothing_verified_is_a_refusal():
    draft = Draft(statements=[DraftStatement("Made up.", [Quote("a1", "not in the text at all")])])
    answer = verify("q", draft, lookup)
    assert answer.refused and answer.answer == REFUSAL and answer.citations == []


def test_short_answer_must_be_inside_a_citation():
    draft = Draft(statements=[DraftStatement("x", [Quote("a1", "two cruise missiles")])],
                  short_answer="three rockets")
    assert verify("q", draft, lookup).short_answer is None

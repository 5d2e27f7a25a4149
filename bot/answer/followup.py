"""Offline follow-up questions: carry the conversation's subject into a question that leans on it.

"How long did they fly?" after "What range was claimed?" means the missiles, but says so nowhere.
With no model to rewrite it (LLM mode uses prompts/condense.txt instead), the offline method is:

1. A follow-up DEPENDS on the conversation when it refers back (they, it, this, those ...) or has
   no content words of its own ("And the range?").
2. The conversation's subject is read from the previous turn: the content words of its
   (standalone) question and of its answer, each scored by how central it is to the articles the
   answer cited (how often the article repeats it) times a mild corpus IDF, the user's own words
   counting double. Words that only say what KIND of answer was wanted ("range", "when") or that
   the article attributes ("claimed", "said") carry no subject and are skipped.
3. The top few words are appended, in the order they were written: the retriever and the
   extractive answerer then see "How long did they fly? — North Korea cruise missiles".

It is a heuristic, and shown to the user (dimmed) so they can see what was searched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

from justext import get_stoplist  # jusText's 450-word English list (a trafilatura dependency)

from bot.answer.extractive.question import SAY_WORDS, TYPE_CUES
from bot.answer.extractive.shapes import LEN_UNIT, NUMWORD, TIME_UNIT, question_types
from bot.util.text import terms
from bot.schema import Answer, Article

SUBJECT_WORDS = 4  # enough for "North Korea cruise missiles", few enough not to swamp the question
FROM_QUESTION_WEIGHT = 2.0  # the user's own words name the subject more surely than the answer's
RELATIVE = 0.5  # keep only words at least half as central as the most central one
ACTION_WEIGHT = 0.5  # see `subject`
SEPARATOR = " — "

# Words that point back to something said before. "that" is included: in a short follow-up it is
# nearly always "that one", and a wrong guess only adds the previous subject to the search.
_ANAPHORA = {"they", "them", "their", "theirs", "themselves", "it", "its", "itself", "he", "him",
             "his", "himself", "she", "her", "hers", "herself", "this", "that", "these", "those",
             "such", "former", "latter"}
_WORD = re.compile(r"[^\W\d_][\w'’]*|\d[\d,.]*")
_NUMBER_WORD = re.compile(rf"^(?:{NUMWORD})$", re.I)
_UNIT = re.compile(rf"^(?:{TIME_UNIT}|{LEN_UNIT})$", re.I)
_STOP = frozenset(get_stoplist("English"))
_VERB_FORM = re.compile(r"(?<![\w-])[a-z]{2,}(?:ed|ing)\b")  # lower case: not a name


@dataclass(frozen=True)
class PriorTurn:
    """What the method needs of a previous turn: its words and the articles it cited."""

    question: str
    answer: str
    article_ids: tuple[str, ...] = ()


def as_prior(turn: Answer | tuple[str, str]) -> PriorTurn:
    """History turns are `Answer`s (chat, Python) or plain (question, answer text) pairs."""
    if isinstance(turn, Answer):
        question = turn.standalone_question or turn.question
        text = " ".join(s.text for s in turn.statements) if turn.statements else ""
        return PriorTurn(question, text, tuple(dict.fromkeys(c.article_id for c in turn.citations)))
    question, answer = turn
    return PriorTurn(question, answer)


def depends_on_history(question: str) -> bool:
    words = {w.lower() for w in re.findall(r"[\w']+", question)}
    return bool(words & _ANAPHORA) or not _content_stems(question)


def _content_stems(text: str) -> set[str]:
    return {t for t in terms(text) if t not in TYPE_CUES and t not in SAY_WORDS}


def _subject_word(word: str, in_name: bool) -> str | None:
    """The stem of a word that can name a subject, or None for numbers, pronouns, type cues...
    Common words are kept inside multi-word names: the "North" of "North Korea"."""
    lower = word.lower()
    if (len(word) < 2 or word[0].isdigit() or lower in _ANAPHORA or (lower in _STOP and not in_name)
            or _NUMBER_WORD.match(word) or _UNIT.match(word)):
        return None
    stems = terms(word)
    if len(stems) != 1 or stems[0] in TYPE_CUES or stems[0] in SAY_WORDS or question_types(word):
        return None
    return stems[0]


def _words(text: str) -> list[tuple[str, bool]]:
    """(word, is part of a multi-word capitalised name) for each word of `text`."""
    found = [(re.sub(r"['’]s$", "", m.group()).strip("'’"), m.start(), m.end())
             for m in _WORD.finditer(text)]
    out = []
    for i, (word, start, end) in enumerate(found):
        def joined(j: int) -> bool:
            if not 0 <= j < len(found) or not found[j][0][:1].isupper():
                return False
            gap = text[end:found[j][1]] if j > i else text[found[j][2]:start]
            return gap == " "
        out.append((word, word[:1].isupper() and (joined(i - 1) or joined(i + 1))))
    return out


def subject(prior: PriorTurn, articles: Sequence[Article], idf: Callable[[str], float],
            exclude: set[str] = frozenset(), limit: int = SUBJECT_WORDS) -> list[str]:
    """The previous turn's key words, in the order they were written.

    A word's score is (1 + how often the cited articles use it) x (1 + its corpus IDF), doubled
    for the user's own words. When the articles are known, a word they use only once is a detail,
    not a topic, and words far weaker than the best are left out.
    """
    background: dict[str, int] = {}
    for article in articles:
        for t in terms(article.text):
            background[t] = background.get(t, 0) + 1
    # A word the texts also inflect as a verb ("crossed", "inspecting") more likely names what
    # was done than who or what it was done to: it counts half.
    actions = set(terms(" ".join(_VERB_FORM.findall(" ".join(
        [prior.question, prior.answer] + [a.text for a in articles])))))
    scores: dict[str, float] = {}
    first: dict[str, tuple[int, str]] = {}  # stem -> (position, surface form)
    position = 0
    for text, weight in ((prior.question, FROM_QUESTION_WEIGHT), (prior.answer, 1.0)):
        for word, in_name in _words(text):
            position += 1
            stem = _subject_word(word, in_name) if word else None
            if stem is None or stem in exclude or (background and background.get(stem, 0) < 2):
                continue
            score = weight * (1 + background.get(stem, 0)) * (1 + idf(stem))
            if stem in actions and not in_name:
                score *= ACTION_WEIGHT
            scores[stem] = max(scores.get(stem, 0.0), score)
            first.setdefault(stem, (position, word))
    if not scores:
        return []
    best = max(scores.values())
    chosen = sorted((s for s in scores if scores[s] >= RELATIVE * best),
                    key=lambda s: (-scores[s], first[s][0]))[:limit]
    return [first[s][1] for s in sorted(chosen, key=lambda s: first[s][0])]


def standalone(question: str, history: Sequence[Answer | tuple[str, str]],
               article: Callable[[str], Article | None], idf: Callable[[str], float],
               search: Callable[[str], list[Article]]) -> str:
    """The question with the conversation's subject appended when it depends on it.

    `article` looks up the articles the previous answer cited; `search` finds the articles a
    text is about, for history given as plain (question, answer) pairs with no citations.
    """
    question = question.strip()
    if not history or not depends_on_history(question):
        return question
    prior = as_prior(history[-1])
    if prior.article_ids:
        articles = [a for a in (article(i) for i in prior.article_ids) if a is not None]
    else:
        articles = search(f"{prior.question} {prior.answer}")
    words = subject(prior, articles, idf, exclude=set(terms(question)))
    return f"{question}{SEPARATOR}{' '.join(words)}" if words else question

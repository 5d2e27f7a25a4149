"""The spine's original offline answerer, kept unchanged as the baseline for bench/eval_qa.py.

No generative model runs offline (none on PyPI is trustworthy), so the answer is extractive:
every sentence shown is a quote. Sentences of the retrieved passages are scored on
  dense     cosine(question, sentence) with the same local embedder
  lexical   IDF-weighted share of the question's terms the sentence contains
  type      whether the sentence holds a phrase of the kind the question wants
  rank      how high its passage came out of retrieval
and the question is refused when the best sentence is too weak.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from bot.index.chunking import sentences
from bot.index.embeddings import Embedder
from bot.util.text import terms
from bot.schema import Draft, DraftStatement, Passage, Quote

# Weights and threshold were fitted on ../shared/eval/squad11 and squad20 (see bench/eval_qa.py
# and BENCHMARKS.md); they are method constants, not tuned per question.
WEIGHTS = {"dense": 1.0, "lexical": 1.0, "type": 0.6, "near": 0.4, "rank": 0.15}
REFUSE_BELOW = 0.95
SECOND_SENTENCE_WITHIN = 0.08  # also show the runner-up when it is nearly as good

_MONTH = (r"(?:January|February|March|April|May|June|July|August|September|October|November|"
          r"December|Jan\.|Feb\.|Mar\.|Apr\.|Aug\.|Sept?\.|Oct\.|Nov\.|Dec\.)")
_NUMWORD = (r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|"
            r"thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million|billion|"
            r"dozen|several|a few|half)")
_QUALIFIER = r"(?:(?:more than|less than|fewer than|about|around|nearly|almost|over|under|some|up to|approximately|at least|roughly)\s+)?"
_NUMBER = rf"(?:\$|£|€)?\d[\d,]*(?:\.\d+)?|{_NUMWORD}(?:(?:\s+and\s+a|\s+and|-|\s)+{_NUMWORD})*"
_TIME_UNIT = r"(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|centuries|century)"
_LEN_UNIT = r"(?:kilometers?|kilometres?|km|miles?|meters?|metres?|feet|foot|ft|inches|yards?|nautical miles)"
_SCALE = r"(?:\s*(?:%|percent|per cent|million|billion|trillion|thousand|hundred))?"

PATTERNS = {
    "distance": re.compile(rf"\b{_QUALIFIER}(?:{_NUMBER}){_SCALE}\s*{_LEN_UNIT}\b", re.I),
    "duration": re.compile(rf"\b{_QUALIFIER}(?:{_NUMBER}){_SCALE}\s*{_TIME_UNIT}\b", re.I),
    "date": re.compile(rf"\b(?:{_MONTH}\s+\d{{1,2}}(?:,\s*\d{{4}})?|\d{{1,2}}\s+{_MONTH}(?:\s+\d{{4}})?|"
                       rf"{_MONTH}\s+\d{{4}}|(?:early|mid|late)[- ]\d{{4}}s?|\d{{4}}s?|"
                       rf"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)|"
                       rf"\d{{1,2}}(?:st|nd|rd|th) century)\b"),
    "number": re.compile(rf"(?<![\w-]){_QUALIFIER}(?:{_NUMBER}){_SCALE}(?:\s+[a-z]+)?\b", re.I),
    "name": re.compile(r"\b(?:[A-Z][\w'’.-]*|of|the|de|von|van|and)(?:\s+(?:[A-Z][\w'’.-]*|of|the|de|von|van|and))*"
                       r"(?<!\bof)(?<!\bthe)(?<!\band)\b"),
}

_QTYPES = [  # (question pattern, wanted answer types in order of preference)
    (r"\bhow (?:far|wide|deep|tall|high)\b|\b(?:range|distance)\b", ["distance", "number"]),
    (r"\bhow long\b|\bduration\b", ["duration", "distance", "number"]),
    (r"\bhow old\b", ["number"]),
    (r"\bhow (?:many|much)\b|\bwhat (?:number|percentage|percent|amount|proportion)\b", ["number"]),
    (r"\bwhen\b|\bwhat (?:year|date|day|month|century|decade|time)\b|\bwhich (?:year|date|day|month|century)\b|\bin what year\b", ["date"]),
    (r"\bwho(?:m|se)?\b|\bwhich (?:person|company|organi[sz]ation|group|team|agency)\b", ["name"]),
    (r"\bwhere\b|\bwhat (?:city|country|state|place|region|island|town)\b|\bwhich (?:city|country|state|place|region)\b", ["name"]),
]


# Words that say what KIND of answer is wanted, not what it is about ("what range": a distance).
_TYPE_CUES = {"rang", "distanc", "far", "long", "mani", "much", "old", "year", "date", "day",
              "month", "centuri", "time", "number", "percentag", "amount", "citi", "countri",
              "place", "person", "durat"}
# News attributes claims: a question's "claimed" is an article's "said" or "reported".
_SAY = {"claim", "say", "said", "report", "announc", "state", "stat", "tell", "told", "assert",
        "accord", "declar", "insist", "confirm"}


def lexical_terms(text: str) -> set[str]:
    return {"<say>" if t in _SAY else t for t in terms(text)}


def question_types(question: str) -> list[str]:
    q = question.lower()
    for pattern, types in _QTYPES:
        if re.search(pattern, q):
            return types
    return []


@dataclass
class Candidate:
    article_id: str
    start: int
    end: int
    text: str
    rank: int
    features: dict[str, float]
    score: float = 0.0


def candidate_sentences(passages: list[Passage], sentence_spans: Callable[[str, str], list]) -> list[Candidate]:
    seen: set[tuple[str, int]] = set()
    out: list[Candidate] = []
    for p in passages:
        for s, e in sentence_spans(p.article.article_id, p.article.text):
            if s < p.chunk.start or e > p.chunk.end or (p.article.article_id, s) in seen:
                continue
            seen.add((p.article.article_id, s))
            out.append(Candidate(p.article.article_id, s, e, p.article.text[s:e], p.rank, {}))
    return out


_NOT_NAMES = re.compile(rf"^(?:{_MONTH}|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|"
                        r"The|A|An|In|On|At|It|He|She|They|We|I|But|And|If|As|This|That)\b")


def phrases(sentence: str, types: list[str]) -> list[tuple[int, int, str]]:
    """Phrases in a sentence of the first wanted type that has any, as (start, end, type)."""
    for t in types:
        found = [(m.start(), m.end(), t) for m in PATTERNS[t].finditer(sentence)
                 if m.group().strip() and not (t == "name" and _NOT_NAMES.match(m.group()))]
        if found:
            return found
    return []


def type_match(sentence: str, types: list[str], qwords: set[str]) -> float:
    """1 if the sentence holds the preferred kind of answer, 0.25 for a fallback kind, else 0."""
    for rank, t in enumerate(types):
        if any(not _all_in(sentence[s:e], qwords) for s, e, _ in phrases(sentence, [t])):
            return 1.0 if rank == 0 else 0.25
    return 0.0


class ExtractiveAnswerer:
    def __init__(self, embedder: Embedder, idf: Callable[[str], float]):
        self.embedder = embedder
        self.idf = idf
        self._sentences: dict[tuple[str, int], list[tuple[int, int]]] = {}

    def _idf(self, term: str) -> float:
        return 2.0 if term == "<say>" else self.idf(term)

    def _spans(self, article_id: str, text: str) -> list[tuple[int, int]]:
        key = (article_id, hash(text))
        if key not in self._sentences:
            if len(self._sentences) > 2000:
                self._sentences.clear()
            self._sentences[key] = sentences(text)
        return self._sentences[key]

    def score(self, question: str, passages: list[Passage],
              query_vector: np.ndarray | None = None) -> list[Candidate]:
        """Candidate sentences, best first, with their features and scores."""
        cands = candidate_sentences(passages, self._spans)
        if not cands:
            return []
        qv = query_vector if query_vector is not None else self.embedder.embed_query(question)
        dense = self.embedder.embed([c.text for c in cands]) @ qv
        types = question_types(question)
        qterms = lexical_terms(question) - (_TYPE_CUES if types else set())
        total = sum(self._idf(t) for t in qterms) or 1.0
        qwords = {w.lower() for w in re.findall(r"\w+", question)}
        for c, d in zip(cands, dense):
            sterms = lexical_terms(c.text)
            c.features = {
                "dense": float(d),
                "lexical": sum(self._idf(t) for t in qterms & sterms) / total,
                "type": type_match(c.text, types, qwords),
                "near": nearness(question, c.text),
                "rank": 1.0 / (1 + c.rank),
            }
            c.score = sum(WEIGHTS[k] * v for k, v in c.features.items())
        return sorted(cands, key=lambda c: c.score, reverse=True)

    def answer(self, question: str, passages: list[Passage],
               query_vector: np.ndarray | None = None) -> Draft:
        ranked = self.score(question, passages, query_vector)
        if not ranked or ranked[0].score < REFUSE_BELOW:
            return Draft(statements=[], refused=True, mode="extractive")
        best = [ranked[0]]
        if len(ranked) > 1 and ranked[1].score >= ranked[0].score - SECOND_SENTENCE_WITHIN:
            best.append(ranked[1])
        statements = [DraftStatement(c.text, [Quote(c.article_id, c.text, c.start)]) for c in best]
        return Draft(statements=statements, short_answer=short_answer(question, best[0].text),
                     mode="extractive")


def _typed_candidates(question: str, sentence: str) -> list[tuple[str, int]]:
    """(phrase, distance in words to the nearest question word) for each typed phrase."""
    types = question_types(question)
    if not types:
        return []
    qterms = lexical_terms(question) - _TYPE_CUES
    qwords = {w.lower() for w in re.findall(r"\w+", question)}
    words = list(re.finditer(r"[\w'-]+", sentence))
    anchors = [i for i, m in enumerate(words) if lexical_terms(m.group()) & qterms]
    out = []
    for s, e, _ in phrases(sentence, types):
        text = sentence[s:e].strip(" ,.;:")
        if not text or _all_in(text, qwords):
            continue
        inside = [i for i, m in enumerate(words) if m.start() >= s and m.end() <= e]
        if not inside:
            continue
        d = min((min(abs(a - inside[0]), abs(a - inside[-1])) for a in anchors), default=99)
        out.append((text, d))
    return out


def nearness(question: str, sentence: str) -> float:
    """How close the best typed phrase sits to the question's words (1 = adjacent)."""
    found = _typed_candidates(question, sentence)
    return max((1.0 / d if d else 0.0 for _, d in found), default=0.0)


def short_answer(question: str, sentence: str) -> str | None:
    """The phrase in `sentence` of the kind the question asks for, nearest the question's words."""
    found = _typed_candidates(question, sentence)
    # Nearest the question's words; on a tie the fuller name ("Korean Central News Agency").
    return min(found, key=lambda f: (f[1], -len(f[0])))[0] if found else None


def _all_in(phrase: str, words: set[str]) -> bool:
    toks = [w.lower() for w in re.findall(r"\w+", phrase)]
    return bool(toks) and all(t in words or t in {"the", "of", "and"} for t in toks)

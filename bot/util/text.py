"""Words and stems: the one tokenizer every stage shares (BM25, the extractive answerer, the
guard, follow-ups and briefings), so a term means the same thing wherever it is compared."""

from __future__ import annotations

import re
from functools import lru_cache

WORD = re.compile(r"\w+")
DIGIT_COMMA = re.compile(r"(?<=\d),(?=\d{3})")


@lru_cache(maxsize=1)
def stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    # Question words carry no topic, and "who" in a sentence is not evidence for a who-question.
    return frozenset(STOPWORDS_EN) | {"who", "whom", "whose", "what", "when", "where", "which",
                                      "why", "how"}


_stems: dict[str, str] = {}  # word -> stem; a dict lookup is ~3x faster than the stemmer call


def terms(text: str) -> list[str]:
    """Lower-cased, stemmed content words; '1,800' and '1800' are the same term."""
    words = WORD.findall(DIGIT_COMMA.sub("", text.lower()))
    stop = stopwords()
    if len(_stems) > 500_000:
        _stems.clear()
    out = []
    for w in words:
        if w not in stop:
            stem = _stems.get(w)
            if stem is None:
                stem = _stems[w] = stemmer().stemWord(w)
            out.append(stem)
    return out


def tokens(text: str) -> list[str]:
    """Every word, lower-cased and stemmed as `terms` does, function words kept."""
    return stemmer().stemWords(WORD.findall(DIGIT_COMMA.sub("", text.lower())))

"""What to show, and how sure: from the answerer's analysis to the cited sentences, the short
answer when its calibrated confidence is high enough, a refusal, or "the sources do not give"."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from bot.answer.extractive.features import Candidate
from bot.answer.extractive.models import Confidence, sigmoid
from bot.answer.extractive.question import QuestionInfo
from bot.answer.extractive.shapes import PATTERNS, tokens, type_match
from bot.answer.extractive.spans import Span, whole_measure, with_qualifier

SECOND_SENTENCE_PROB = 0.35  # also show the runner-up when the ranker gives it this much


@dataclass
class Analysis:
    """Everything the answerer decided, for the Draft and for training/benchmarks."""

    ranked: list[Candidate]  # best first, after the reader's second look at the top few
    probs: np.ndarray  # the ranker's probabilities for ranked[:len(probs)]
    rerank: list[dict[str, float]]  # second-look features of ranked[:len(rerank)]
    spans: list[tuple[Span, Candidate]]  # best first
    span_probs: np.ndarray | None
    refusal: dict[str, float]
    refuse_prob: float


# What a question asks for, as said to the reader when the sources hold nothing of that kind.
KIND_WORDS = {"distance": "a distance", "duration": "how long", "date": "a date or time",
              "number": "a number or amount", "name": "a name", "speed": "a speed"}


@dataclass
class Decision:
    cited: list[Candidate]  # the sentences shown, first is the headline when no short answer
    candidate: str | None  # the best short answer phrase, shown or not
    short: str | None  # the short answer shown (None when under the threshold)
    confidence: float | None  # P(the headline shown first is right)
    short_confidence: float | None  # P(the candidate short answer is right)
    not_stated: str | None = None  # the kind asked for that the cited sentences do not hold
    refused: bool = False
    features: dict[str, float] = field(default_factory=dict)


def kind_missing(q: QuestionInfo, cited: list[Candidate]) -> bool:
    """The question asks for a kind of thing (a distance, a date, a number...) and no cited
    sentence holds one outside the question's own words."""
    return bool(q.types) and not any(type_match(c.text, list(q.types), set(q.words)) for c in cited)


def kind_first(q: QuestionInfo, cited: list[Candidate]) -> list[Candidate]:
    """The first cited sentence that holds the kind asked for leads one that holds only a
    fallback kind: for "How far did they fly?" the sentence with "1,800 kilometers" leads the
    one with "two and a half hours" (a number, but not a distance). Only for "how far / how
    long" questions: a topic noun read as a kind ("the mountain range") must not reorder."""
    if len(cited) < 2 or len(q.types) < 2 or q.wh not in ("how_num", "how_long"):
        return cited
    held = [type_match(c.text, list(q.types), set(q.words)) for c in cited]
    if held[0] == 1.0 or 1.0 not in held:
        return cited
    i = held.index(1.0)
    return [cited[i]] + cited[:i] + cited[i + 1:]


def confidence_features(q: QuestionInfo, a: Analysis, span: Span | None,
                        sentence: Candidate | None, missing: bool) -> dict[str, float]:
    """Plain numbers the calibration reads: the models' own scores and margins, plus the few
    things they do not see (is the wanted kind in the cited sentence, does the phrase have
    the wanted shape)."""
    p = a.probs
    rp = min(max(a.refuse_prob, 1e-6), 1 - 1e-6)
    f = {"refuse_logit": math.log(rp / (1 - rp)), "sent_prob": float(p[0]),
         "sent_margin": float(p[0] - p[1]) if len(p) > 1 else 1.0,
         "kind_missing": float(missing), "has_types": float(bool(q.types)), f"wh={q.wh}": 1.0}
    f.update({f"r_{k}" if not k.startswith("r_") else k: v for k, v in a.refusal.items()})
    if span is not None and a.span_probs is not None:
        sp = a.span_probs
        f.update({
            "span_prob": float(sp[0]), f"wh={q.wh}|span_prob": float(sp[0]),
            "span_margin": float(sp[0] - sp[1]) if len(sp) > 1 else 1.0,
            "span_in_top": float(sentence is a.ranked[0]),
            "span_tokens": float(len(tokens(span.text))),
            "span_shaped": float(bool(q.types) and bool(PATTERNS[q.types[0]].fullmatch(span.text))),
            "span_fragment": max(span.features.get(k, 0.0) for k in
                                 ("cuts_cap_left", "cuts_cap_right", "before_possessive")),
            "span_count": math.log(len(sp)),
        })
        # How far a phrase of the wanted shape can be trusted depends on the kind wanted: a
        # distance in a sentence about the question is rarely the wrong one, a name often is.
        want = q.types[0] if q.types else "none"
        for k in ("span_shaped", "span_prob", "span_margin", "span_count"):
            f[f"want={want}|{k}"] = f[k]
        f.update({f"sp_{k}": v for k, v in span.features.items()
                  if k in ("rd_start", "rd_end", "qfrac", "near_left", "near_right", "segment")})
    return f


def decide(q: QuestionInfo, a: Analysis, conf: Confidence | None, refuse_above: float) -> Decision:
    """What to show. In order: a short answer confident enough is shown (the calibration
    reads the refusal model's score too, so a sure, well-shaped phrase is not refused); the
    refusal model refuses; an answer whose sentences lack the kind asked for says so; a
    sentence the calibration doubts is refused; else the best sentence(s) lead."""
    best = [a.ranked[0]]
    if len(a.probs) > 1 and a.probs[1] >= SECOND_SENTENCE_PROB:
        best.append(a.ranked[1])
    span, sentence = a.spans[0] if a.spans else (None, None)
    candidate = with_qualifier(sentence.text, whole_measure(sentence.text, span)).text \
        if span and sentence else None
    if conf is None:  # an uncalibrated model: the short answer is always shown (as before)
        if a.refuse_prob > refuse_above:
            return Decision([], candidate, None, None, None, refused=True)
        if sentence is not None and sentence not in best:
            best.append(sentence)
        return Decision(best, candidate, candidate, None, None)
    missing = kind_missing(q, best)
    if missing and sentence is not None and not kind_missing(q, [sentence]):
        # The best sentences lack the kind asked for and the short answer's sentence holds
        # it: that sentence leads. (Citing it first in general lost evidence@1 on held-out
        # articles; here the alternative is saying the sources do not give it.)
        best, missing = [sentence] + [c for c in best if c is not sentence], False
    elif sentence is not None and sentence not in best:
        best.append(sentence)  # cited as support even when its phrase is not shown
    best = kind_first(q, best)
    f = confidence_features(q, a, span, sentence, missing)
    p_sent = sigmoid(conf.headline.score(f))
    p_short = sigmoid(conf.short.score(f)) if candidate else None
    if p_short is not None and p_short >= conf.show_short_above and not missing:
        return Decision(best, candidate, candidate, p_short, p_short, features=f)
    if a.refuse_prob > refuse_above:
        return Decision([], candidate, None, p_sent, p_short, refused=True, features=f)
    if missing:
        return Decision(best, candidate, None, p_sent, p_short,
                        not_stated=KIND_WORDS[q.types[0]], features=f)
    if p_sent < conf.refuse_below:
        return Decision([], candidate, None, p_sent, p_short, refused=True, features=f)
    return Decision(best, candidate, None, p_sent, p_short, features=f)

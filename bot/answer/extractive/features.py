"""Sentence features: the candidate sentences of the passages, what the sentence ranker, the
reader's second look and the refusal model read about each."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from bot.answer.extractive.question import AUX_WORDS, NEGATION, QuestionInfo, lexical, lexical_seq
from bot.answer.extractive.shapes import (FUNCTION_WORDS, NUMWORD, ORDINAL, all_in,
                                          phrases, tokens, type_match)
from bot.answer.extractive.spans import MAX_SPAN_TOKENS
from bot.schema import Passage


@dataclass
class Candidate:
    article_id: str
    start: int
    end: int
    text: str
    rank: int
    features: dict[str, float]
    score: float = 0.0
    context: str = ""  # the sentence with its neighbours in the same paragraph
    passage: str = ""
    title: str = ""
    passage_score: float = 0.0


def candidate_sentences(passages: list[Passage],
                        sentence_spans: Callable[[str, str], list]) -> list[Candidate]:
    seen: set[tuple[str, int]] = set()
    out: list[Candidate] = []
    for p in passages:
        text = p.article.text
        spans = sentence_spans(p.article.article_id, text)
        for i, (s, e) in enumerate(spans):
            if s < p.chunk.start or e > p.chunk.end or (p.article.article_id, s) in seen:
                continue
            seen.add((p.article.article_id, s))
            lo = spans[i - 1][0] if i > 0 and "\n" not in text[spans[i - 1][1]:s] else s
            hi = spans[i + 1][1] if i + 1 < len(spans) and "\n" not in text[e:spans[i + 1][0]] else e
            out.append(Candidate(p.article.article_id, s, e, text[s:e], p.rank, {},
                                 context=text[lo:hi], passage=p.chunk.text,
                                 title=p.article.title, passage_score=p.score))
    return out


def _coverage(qterms: frozenset[str], found: frozenset[str], idf: Callable[[str], float]) -> float:
    total = sum(idf(t) for t in qterms) or 1.0
    return sum(idf(t) for t in qterms & found) / total


def _bigrams(seq: list[str] | tuple[str, ...]) -> set[tuple[str, str]]:
    return set(zip(seq, seq[1:]))


def _window(q: QuestionInfo, sterms: tuple[str, ...]) -> float:
    """How tightly the question's terms cluster in the sentence: matched / window length."""
    pos = [i for i, t in enumerate(sterms) if t in q.terms]
    if len(pos) < 2:
        return 0.0
    return len(set(sterms[i] for i in pos)) / (pos[-1] - pos[0] + 1)


def sentence_features(q: QuestionInfo, c: Candidate, dense: float,
                      idf: Callable[[str], float]) -> dict[str, float]:
    sterm_list = lexical_seq(c.text)
    sterms = set(sterm_list)
    matched = q.terms & sterms
    missing = q.terms - sterms
    max_idf = max((idf(t) for t in q.terms), default=1.0) or 1.0
    qb = _bigrams(q.term_list)
    novel = [t for t in sterm_list if t not in q.terms]
    f = {
        "dense": dense,
        "lex": _coverage(q.terms, sterms, idf),
        "lex_ctx": _coverage(q.terms, lexical(c.context), idf),
        "lex_passage": _coverage(q.terms, lexical(c.passage), idf),
        "lex_title": _coverage(q.terms, lexical(c.title), idf),
        "matched": float(len(matched)),
        "missing_max_idf": max((idf(t) for t in missing), default=0.0) / max_idf,
        "bigram": len(qb & _bigrams(sterm_list)) / len(qb) if qb else 0.0,
        "window": _window(q, sterm_list),
        "novel_frac": len(novel) / len(sterm_list) if sterm_list else 0.0,
        "no_novel": float(not novel),
        "log_len": math.log(1 + len(c.text)),
        "rank_inv": 1.0 / (1 + c.rank),
        "rank0": float(c.rank == 0),
        "passage_score": 30.0 * c.passage_score,  # RRF scores are ~1/60: bring to ~1
        "head": float(q.head is not None and q.head in sterms),
    }
    kinds = _kinds(c.text, q)
    for kind, v in kinds.items():
        f[f"has_{kind}"] = v
        f[f"wh={q.wh}|has_{kind}"] = v
    if q.types:
        f["type_match"] = type_match(c.text, list(q.types), set(q.words))
        f[f"want={q.types[0]}|type_match"] = f["type_match"]
    # "X was not reported to..." matches "Who reported X?" word for word and answers nothing.
    f["negation_mismatch"] = float(bool(NEGATION.search(c.text)) and not NEGATION.search(q.text))
    f[f"wh={q.wh}"] = 1.0
    f[f"wh={q.wh}|lex"] = f["lex"]
    f[f"wh={q.wh}|dense"] = dense
    return f


def _kinds(text: str, q: QuestionInfo) -> dict[str, float]:
    """Which kinds of phrase the sentence holds outside the question's own words."""
    out = {}
    for kind in ("date", "number", "name"):
        if any(not all_in(text[s:e], set(q.words)) for s, e, _ in phrases(text, [kind])):
            out[kind] = 1.0
    return out


def add_relative(cands: list[Candidate]) -> None:
    """Each candidate against the best of its question: the ranker compares within a question."""
    for name in ("dense", "lex", "lex_ctx", "bigram"):
        top = max(c.features[name] for c in cands)
        for c in cands:
            c.features[f"{name}_gap"] = c.features[name] - top


def refusal_features(q: QuestionInfo, ranked: list[Candidate], probs: np.ndarray,
                     span_probs: np.ndarray | None, idf: Callable[[str], float]) -> dict[str, float]:
    top = ranked[0]
    everywhere = frozenset().union(*(lexical(c.passage) for c in ranked))
    missing = q.terms - everywhere
    max_idf = max((idf(t) for t in q.terms), default=1.0) or 1.0
    caps = {w.lower() for w in re.findall(r"\b[A-Z]\w+", q.text[1:])}
    seen_words = {w.lower() for c in ranked for w in re.findall(r"\w+", c.passage)}
    f = {
        "top_score": top.score,
        "top_prob": float(probs[0]),
        "margin": top.score - ranked[1].score if len(ranked) > 1 else 5.0,
        "lex": top.features["lex"],
        "lex_ctx": top.features["lex_ctx"],
        "dense": top.features["dense"],
        "bigram": top.features["bigram"],
        "missing_max_idf": top.features["missing_max_idf"],
        "absent_max_idf": max((idf(t) for t in missing), default=0.0) / max_idf,
        "absent_count": float(len(missing)),
        "absent_caps": float(len(caps - seen_words)),
        "n_terms": float(len(q.terms)),
    }
    if span_probs is not None and len(span_probs):
        f["span_prob"] = float(span_probs.max())
    f.update(mismatch_features(q, ranked))
    return f


_GRAMMAR = frozenset(lexical(" ".join(AUX_WORDS)))
_NUMBER_WORD = re.compile(rf"\b(?:\d[\d,.]*\w*|{NUMWORD}|{ORDINAL})\b", re.I)


def mismatch_features(q: QuestionInfo, ranked: list[Candidate]) -> dict[str, float]:
    """Where the question and its best evidence part ways (the refusal model reads them):
    question words the best sentence's paragraph lacks, alone or with the rest copied word
    for word (a swapped name, number or opposite), a name or number of the question that
    paragraph does not hold, a negation only the question has. Counts, not IDF: in a store of
    one news article (a few chunks) a word of its topic is in every chunk (IDF ~0) and any
    word it lacks counts as rare, so IDF-weighted overlap says little there. How similar a
    question and a sentence look overall depends on the writing (a short news question
    against a long sentence scores low), so the dense score is also given against the other
    candidates of the same question, with the question's and the sentence's lengths."""
    top = ranked[0]
    # The noun of "which newspaper" names the kind of answer, not something the sentence
    # must repeat; "did"/"does" are question grammar.
    asked = q.terms - _GRAMMAR - {q.head}
    missing = asked - lexical(top.context)
    covered = 1.0 - len(missing) / max(len(asked), 1)
    ctx_words = {w.lower().replace(",", "") for w in re.findall(r"[\w,]+", top.context)}
    caps = {w.lower() for w in re.findall(r"\b[A-Z]\w+", q.text[1:])}
    numbers = {m.group(0).lower().rstrip(".,").replace(",", "")
               for m in _NUMBER_WORD.finditer(q.text)}
    dense = np.array([c.features["dense"] for c in ranked])
    negated = bool(NEGATION.search(q.text))
    return {
        "ctx_missing_count": float(len(missing)),
        "ctx_covered": covered,
        "near_copy_missing": covered * float(bool(missing)),
        "one_missing": float(len(missing) == 1),
        "caps_missing_top": float(len(caps - ctx_words)),
        "number_missing_top": float(len(numbers - ctx_words)),
        "neg_question_only": float(negated and not NEGATION.search(top.context)),
        "neg_question": float(negated),
        "dense_rel": float(dense[0] - dense.mean()),
        "dense_best_gap": float(dense[0] - dense.max()),
        "log_q_words": math.log(1 + len(q.words)),
        "top_log_len": top.features["log_len"],
    }


def alignment_features(question: str, q_states: np.ndarray, s_states: np.ndarray) -> dict[str, float]:
    """How well each content word of the question finds a counterpart in the best sentence
    (cosine of contextual word states). A question that swaps in another name, number or
    an opposite word leaves one word poorly matched even when the wording overlaps."""
    toks = tokens(question)
    content = [i for i, (_, _, t) in enumerate(toks) if t[0].isalnum() and t.lower() not in FUNCTION_WORDS]
    if not content or not len(s_states):
        return {}
    best = (q_states[content] @ s_states.T).max(axis=1)
    order = np.argsort(best)
    weakest = toks[content[order[0]]][2]
    return {
        "align_min": float(best[order[0]]),
        "align_min2": float(best[order[1]]) if len(order) > 1 else float(best[order[0]]),
        "align_mean": float(best.mean()),
        "align_min_cap": float(weakest[0].isupper()),
        "align_min_num": float(weakest[0].isdigit()),
    }


def rerank_features(q: QuestionInfo, c: Candidate, rank: int, prob: float,
                    logits: tuple[np.ndarray, np.ndarray] | None,
                    align: dict[str, float]) -> dict[str, float]:
    """Second look at the few best sentences, with the reader: does a phrase in this sentence
    look like the answer, and does every question word find its counterpart here?"""
    f = {"s1": c.score, "s1_prob": prob, f"s1_rank={rank}": 1.0, f"wh={q.wh}": 1.0,
         "negation_mismatch": c.features.get("negation_mismatch", 0.0)}
    if q.types:
        f[f"want={q.types[0]}|type_match"] = c.features.get("type_match", 0.0)
    if logits is not None and len(logits[0]):
        start, end = logits
        best = max(float(start[i] + end[i:i + MAX_SPAN_TOKENS].max()) for i in range(len(start)))
        f.update({"rd_best": best, f"wh={q.wh}|rd_best": best,
                  "rd_start_max": float(start.max()), "rd_end_max": float(end.max())})
    f.update(align)
    return f

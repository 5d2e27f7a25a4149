"""The answerer that ties the stages: candidate sentences and their features, the sentence
ranker, the reader's second look, short-answer spans, refusal, then `decide` -> Draft."""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from typing import Callable

import numpy as np

from bot.answer.extractive.decision import Analysis, decide
from bot.answer.extractive.features import (Candidate, add_relative, alignment_features,
                                            candidate_sentences, refusal_features,
                                            rerank_features, sentence_features)
from bot.answer.extractive.models import READER_DIM, QAModel, load_model, sigmoid, softmax, word_states
from bot.answer.extractive.question import DENIAL_PENALTY, QuestionInfo, analyse, denies_predicate
from bot.answer.extractive.shapes import tokens
from bot.answer.extractive.spans import Span, span_candidates, typed
from bot.index.chunking import sentences
from bot.index.embeddings import Embedder
from bot.schema import Draft, DraftStatement, Passage, Quote

SPAN_SENTENCES = 2  # short-answer candidates come from this many top sentences
RERANK_SENTENCES = 4  # the reader takes a second look at this many top sentences
# Sentence vectors kept (least recently used out first): ~1.8 KB each with its key, ~35 MB
# at most; also the bound of the idle-time work that fills them ahead of questions (prepare.py).
VECTORS_KEPT = 20_000


class ExtractiveAnswerer:
    def __init__(self, embedder: Embedder, idf: Callable[[str], float],
                 model: QAModel | None = None):
        self.embedder = embedder
        self.idf = idf
        self.model = model or load_model()
        self._sentences: dict[tuple[str, int], list[tuple[int, int]]] = {}
        # Sentence vectors are the answerer's main cost (~ms each): keep recent ones.
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._vectors_lock = threading.Lock()  # one answerer serves many threads (Slack)

    def _idf(self, term: str) -> float:
        return 2.0 if term == "<say>" else self.idf(term)

    def _question_idf(self, q: QuestionInfo) -> Callable[[str], float]:
        """IDF of the question's terms, looked up once per question (the store's IDF call
        checks the store for writes each time)."""
        table = {t: self._idf(t) for t in q.terms}
        return lambda t: table[t] if t in table else self._idf(t)

    def _spans(self, article_id: str, text: str) -> list[tuple[int, int]]:
        key = (article_id, hash(text))
        if key not in self._sentences:
            if len(self._sentences) > 2000:
                self._sentences.clear()
            self._sentences[key] = sentences(text)
        return self._sentences[key]

    def _embed(self, texts: list[str]) -> np.ndarray:
        with self._vectors_lock:
            found = {t: self._vectors.get(t) for t in texts}
        missing = [t for t, v in found.items() if v is None]
        if missing:
            found.update(zip(missing, self.embedder.embed(missing)))
        with self._vectors_lock:
            for t, v in found.items():
                self._vectors[t] = v
                self._vectors.move_to_end(t)
            while len(self._vectors) > VECTORS_KEPT:
                self._vectors.popitem(last=False)
        return np.stack([found[t] for t in texts])

    def sentence_texts(self, article_id: str, text: str) -> list[str]:
        """The sentences `candidates` takes from this article's passages, as it reads the
        article (`text` with its instruction sentences blanked: bot/answer/guard.py)."""
        return [text[s:e] for s, e in self._spans(article_id, text)]

    def without_vectors(self, texts: list[str]) -> list[str]:
        """Those of `texts` with no vector kept, once each."""
        with self._vectors_lock:
            return [t for t in dict.fromkeys(texts) if t not in self._vectors]

    def keep_vectors(self, texts: list[str], vectors: np.ndarray) -> bool:
        """Keep vectors computed ahead of questions (exactly what `embed` gives), as the least
        recently used: what questions used stays longer. Only up to the bound, evicting
        nothing; False once it is reached."""
        with self._vectors_lock:
            for t, v in zip(texts, vectors):
                if len(self._vectors) >= VECTORS_KEPT:
                    return False
                if t not in self._vectors:
                    self._vectors[t] = v
                    self._vectors.move_to_end(t, last=False)
            return len(self._vectors) < VECTORS_KEPT

    def kept_vectors(self) -> tuple[int, int]:
        """How many sentence vectors are kept, and their bytes (vectors and keys)."""
        with self._vectors_lock:
            return len(self._vectors), sum(sys.getsizeof(t) + v.nbytes
                                           for t, v in self._vectors.items())

    def candidates(self, question: str, passages: list[Passage],
                   query_vector: np.ndarray | None = None) -> list[Candidate]:
        """The sentences of the passages with their (model-independent) features."""
        cands = candidate_sentences(passages, self._spans)
        if not cands:
            return []
        qv = query_vector if query_vector is not None else self.embedder.embed_query(question)
        dense = self._embed([c.text for c in cands]) @ qv
        q = analyse(question)
        idf = self._question_idf(q)
        for c, d in zip(cands, dense):
            c.features = sentence_features(q, c, float(d), idf)
        add_relative(cands)
        return cands

    def score(self, question: str, passages: list[Passage],
              query_vector: np.ndarray | None = None) -> list[Candidate]:
        """Candidate sentences, best first, with their features and scores."""
        a = self.analyse(question, passages, query_vector)
        return a.ranked if a else []

    def word_states(self, texts: list[str], qv: np.ndarray) -> list[np.ndarray] | None:
        """Per-token states of each text from the local model (None with other embedders)."""
        if self.model.reader is None or not hasattr(self.embedder, "token_states") \
                or len(qv) != READER_DIM:
            return None
        return [word_states(o, h, tokens(t)) for t, (o, h) in
                zip(texts, self.embedder.token_states(texts))]

    def analyse(self, question: str, passages: list[Passage],
                query_vector: np.ndarray | None = None,
                candidates: list[Candidate] | None = None) -> Analysis | None:
        qv = query_vector if query_vector is not None else self.embedder.embed_query(question)
        cands = candidates if candidates is not None else self.candidates(question, passages, qv)
        if not cands:
            return None
        m = self.model
        q = analyse(question)
        for c in cands:
            c.score = m.sentence.score(c.features)
        ranked = sorted(cands, key=lambda c: c.score, reverse=True)
        # Second look: the reader reads the few best sentences (the local model's word states).
        top = ranked[:RERANK_SENTENCES]
        probs = softmax(np.array([c.score for c in top]))
        states = self.word_states([question] + [c.text for c in top], qv)
        logits: list = [m.reader.logits(w, qv) for w in states[1:]] if states and m.reader \
            else [None] * len(top)
        aligns = [alignment_features(question, states[0], w) for w in states[1:]] if states \
            else [{} for _ in top]
        rerank = [rerank_features(q, c, i, float(p), lg, al)
                  for i, (c, p, lg, al) in enumerate(zip(top, probs, logits, aligns))]
        second = np.array([m.rerank.score(f) for f in rerank])
        second -= DENIAL_PENALTY * np.array([denies_predicate(q, c.text) for c in top])
        order = sorted(range(len(top)), key=lambda i: -second[i])  # stable: ties keep order
        ranked = [top[i] for i in order] + ranked[len(top):]
        probs = softmax(second[order])
        rerank = [rerank[i] for i in order]
        logits = [logits[i] for i in order]
        spans: list[tuple[Span, Candidate]] = []
        for rank, (c, lg) in enumerate(zip(ranked[:SPAN_SENTENCES], logits)):
            for s in span_candidates(q, c.text, lg):
                s.features["sent_prob"] = float(probs[rank])
                s.features["sent_rank0"] = float(rank == 0)
                s.score = m.span.score(s.features)
                spans.append((s, c))
        spans = typed(q, spans)
        spans.sort(key=lambda sc: sc[0].score, reverse=True)
        span_probs = softmax(np.array([s.score for s, _ in spans])) if spans else None
        feats = refusal_features(q, ranked, probs, span_probs, self._question_idf(q))
        # Only plain numbers: crossed indicator features (question word, wanted type) let the
        # refusal model memorise which kinds of question its few training articles left
        # unanswered.
        feats.update({f"r_{k}": v for k, v in rerank[0].items()
                      if not k.startswith(("wh=", "want=", "s1_rank="))})
        return Analysis(ranked, probs, rerank, spans, span_probs, feats,
                        sigmoid(m.refusal.score(feats)))

    def answer(self, question: str, passages: list[Passage],
               query_vector: np.ndarray | None = None) -> Draft:
        return self.draft(question, self.analyse(question, passages, query_vector))

    def draft(self, question: str, a: Analysis | None) -> Draft:
        """The answer the analysis supports: the best sentence(s), and the short answer when
        the calibrated confidence says it is likely right."""
        if a is None:
            return Draft(statements=[], refused=True, mode="extractive")
        d = decide(analyse(question), a, self.model.confidence, self.model.refuse_above)
        if d.refused:
            return Draft(statements=[], refused=True, mode="extractive",
                         confidence=d.confidence)
        statements = [DraftStatement(c.text, [Quote(c.article_id, c.text, c.start)]) for c in d.cited]
        return Draft(statements=statements, short_answer=d.short, mode="extractive",
                     confidence=d.confidence, short_answer_confidence=d.short_confidence,
                     short_answer_candidate=d.candidate, not_stated=d.not_stated)
